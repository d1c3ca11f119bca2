#!/usr/bin/env bash
# The whole test suite, from a fresh machine with Python >= 3.10 and a Rust toolchain: it installs
# everything it needs itself, then
#   1. builds the release wheel once (maturin build --release: abi3, manylinux) and the sdist,
#   2. installs that wheel with the test, bench, docs and lint extras,
#   3. lints: ruff check, ruff format --check, cargo fmt --check, cargo clippy -D warnings, mypy,
#   4. builds the documentation with warnings as errors (mkdocs build --strict; cargo doc of the
#      core with its private items),
#   5. cargo test for the pure-Rust core (unit + property tests), in the optimised `fastdev`
#      profile (the debug profile compiles faster but runs the numerical tests far slower),
#   6. pytest against the installed wheel (oracle tests; benches/ run once each as smoke tests),
#   7. mypy.stubtest on the private extension's stubs,
#   8. installs the wheel into a fresh virtual environment, outside the source tree and without a
#      Rust toolchain on the PATH, and runs `hiddenconvex --version`, a smoke import and
#      `hiddenconvex demo --quick` there.
# Usage (from anywhere): bash tests/run.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# One target directory for every cargo/maturin call below (and a developer's own builds).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PY=${PYTHON:-python3}
PIP=("$PY" -m pip --quiet --disable-pip-version-check)
SECONDS=0
step() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

step "build: the release wheel and the sdist (maturin)"
"${PIP[@]}" install "maturin>=1.9.4,<2"
if "$PY" -m maturin --version >/dev/null 2>&1; then MATURIN=("$PY" -m maturin); else MATURIN=(maturin); fi
rm -f dist/hiddenconvex-*.whl dist/hiddenconvex-*.tar.gz
"${MATURIN[@]}" build --release --out dist --interpreter "$PY"
"${MATURIN[@]}" sdist --out dist
WHEEL=$(ls dist/hiddenconvex-*.whl)
echo "wheel: $WHEEL"
echo "sdist: $(ls dist/hiddenconvex-*.tar.gz)"

step "install: PyTorch and JAX (the adapters' tests need both; installed once per machine)"
# PyPI's torch wheel is large (several GB with its CUDA libraries): install it only when it is
# missing, so reruns on the same machine skip the download. The [test] extra lists it too, and
# pip then finds it satisfied.
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    "${PIP[@]}" install "torch>=2.1"
fi
"$PY" -c "import torch; print('torch', torch.__version__)"
if ! "$PY" -c "import jax" >/dev/null 2>&1; then
    "${PIP[@]}" install "jax[cpu]>=0.4.30"
fi
"$PY" -c "import jax; print('jax', jax.__version__)"

step "install: the wheel with [test,bench,docs,lint]"
"${PIP[@]}" install "${WHEEL}[test,bench,docs,lint]"
# The same version may be installed already (e.g. an editable developer build): replace it.
"${PIP[@]}" install --force-reinstall --no-deps "$WHEEL"

step "lint: ruff check, ruff format --check"
"$PY" -m ruff check python tests benches examples
"$PY" -m ruff format --check python tests benches examples
step "lint: cargo fmt --check"
cargo fmt --all --check
step "lint: cargo clippy (warnings are errors)"
cargo clippy --quiet --workspace --all-targets -- -D warnings
step "lint: mypy (strict, the package)"
"$PY" -m mypy

step "docs: mkdocs build --strict"
SITE=$(mktemp -d)
"$PY" -m mkdocs build --strict --quiet --site-dir "$SITE"
rm -rf "$SITE"
step "docs: cargo doc of the core, private items included (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p hiddenconvex-core --document-private-items

step "cargo test (rust/core, fastdev profile)"
cargo test --quiet -p hiddenconvex-core --profile fastdev

step "pytest"
# Exit code 5 (no tests collected) is a failure here, like any other non-zero code.
"$PY" -m pytest "$@"

step "stubtest (hiddenconvex._core)"
"$PY" -m mypy.stubtest hiddenconvex._core

step "the wheel in a fresh virtual environment (no source tree, no Rust toolchain)"
FRESH=$(mktemp -d)
"$PY" -m venv "$FRESH/venv"
"$FRESH/venv/bin/python" -m pip --quiet --disable-pip-version-check install "${ROOT}/${WHEEL}[plot]"
(
    cd "$FRESH"
    export PATH="$FRESH/venv/bin:/usr/bin:/bin" MPLBACKEND=Agg
    unset PYTHONPATH VIRTUAL_ENV CARGO_HOME RUSTUP_HOME
    if command -v cargo >/dev/null || command -v rustc >/dev/null; then
        echo "a Rust toolchain is on the PATH of the fresh environment" >&2
        exit 1
    fi
    hiddenconvex --version
    python - <<'EOF'
import numpy as np

import hiddenconvex as hc

assert "site-packages" in hc.__file__, hc.__file__
X = np.random.default_rng(0).standard_normal((12, 3))
assert hc.chambers(X, method="exact").count == hc.cover_count(12, 3)
print("smoke import ok:", hc.__version__, hc.__file__)
EOF
    hiddenconvex demo --quick --quiet --out demo
    test -s demo/index.html && test -s demo/results.json
)
rm -rf "$FRESH"
step "all checks passed"
