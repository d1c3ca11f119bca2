#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs
#   1. cargo test for the pure-Rust core (unit + property tests),
#   2. pytest for the package (oracle tests; benches/ run once each as smoke tests),
#   3. mypy.stubtest on the private extension's stubs.
# Usage (from the repository root): bash tests/run.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

echo "== install: hiddenconvex[test,bench] (release build of the Rust extension, test oracles, bench peers)"
"$PY" -m pip install --quiet --disable-pip-version-check ".[test,bench]"

echo "== cargo test (rust/core)"
cargo test --quiet -p hiddenconvex-core

echo "== pytest"
# Exit code 5 (no tests collected) is a failure here, like any other non-zero code.
"$PY" -m pytest "$@"

echo "== stubtest (hiddenconvex._core)"
"$PY" -m mypy.stubtest hiddenconvex._core
echo "== all checks passed"
