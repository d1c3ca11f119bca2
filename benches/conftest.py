"""Benchmark plumbing: every bench records its median into benches/results/<group>.json.

Benches compare hiddenconvex with the real peers *in the same run* (ratios, medians; these
machines are noisy and have 2 cores). In the test suite they run once each with
``--benchmark-disable`` (smoke tests: same code, no timing, nothing written). Run them for real:

    python -m pytest benches --benchmark-enable -p no:cacheprovider
    python benches/tables.py          # rewrites the tables in docs/ from benches/results/*.json

Use the ``bench`` fixture: ``bench(fn, group=..., case=..., impl=..., rounds=5, **extra)``
(``calls_per_round=k`` times k calls per round and records the per-call median).
``impl="hiddenconvex"`` is the reference of the ratio column; extras (accuracy reached, coverage,
chambers/s, ...) are stored beside the median, with the run that measured it (``_run``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

RESULTS_DIR = Path(__file__).parent / "results"

# Distributions whose versions each results file records (the ones installed in the run): a
# peer's time depends on its version and its backends' (pyscnn's AL on torch's CPU kernels).
PEER_DISTRIBUTIONS = (
    "hiddenconvex",
    "numpy",
    "scipy",
    "cvxpy",
    "clarabel",
    "scs",
    "pyscnn",
    "torch",
    "adelie",
    "numdifftools",
    "jax",
    "scikit-learn",
)


def _versions() -> dict[str, str]:
    out = {}
    for dist in PEER_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


_RESULTS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}

# The run that measured an entry (UTC start of the pytest session), stored as ``_run`` beside
# every median: benches/tables.py compares a peer with hiddenconvex only within one run, and
# leaves out a peer's entry kept in the file from an earlier run (e.g. a peer no longer
# installed, whose bench now skips).
RUN = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@pytest.fixture
def smoke(request) -> bool:
    """True in the test suite (benchmarks disabled): shrink problems so each bench takes ~1 s."""
    cfg = request.config
    return bool(cfg.getoption("benchmark_disable") and not cfg.getoption("benchmark_enable"))


@pytest.fixture
def bench(benchmark, request):
    """Time ``fn`` with pytest-benchmark and record the median (when benchmarks are enabled)."""

    def run(
        fn,
        *,
        group: str,
        case: str,
        impl: str,
        rounds: int = 5,
        warmup: int = 0,
        calls_per_round: int = 1,
        **extra,
    ):
        if warmup and not benchmark.disabled:
            for _ in range(warmup):
                fn()
        benchmark.group = f"{group} | {case}"
        # ``calls_per_round`` calls per round (the round's time divided by them): sub-millisecond
        # calls are timed over rounds long enough for the clock and the scheduler
        result = benchmark.pedantic(fn, rounds=rounds, iterations=calls_per_round, warmup_rounds=0)
        if not benchmark.disabled and benchmark.stats is not None:
            st = benchmark.stats.stats
            entry = {
                "median_s": st.median,
                "min_s": st.min,
                "rounds": st.rounds,
                **({"calls_per_round": calls_per_round} if calls_per_round > 1 else {}),
                **{k: (v(result) if callable(v) else v) for k, v in extra.items()},
                "_run": RUN,
            }
            _RESULTS.setdefault(group, {}).setdefault(case, {})[impl] = entry
            # written at once too, so an interrupted (or killed) long session keeps what it measured
            _write({group: {case: {impl: entry}}})
        return result

    return run


@pytest.fixture
def record(request):
    """Record a measurement taken by the bench itself (not timed by pytest-benchmark), e.g. a
    latency: ``record(group=..., case=..., impl=..., median_s=..., min_s=..., rounds=..., **extra)``.
    Nothing is written when benchmarks are disabled."""
    cfg = request.config
    disabled = bool(cfg.getoption("benchmark_disable") and not cfg.getoption("benchmark_enable"))

    def run(
        *, group: str, case: str, impl: str, median_s: float, min_s: float, rounds: int, **extra
    ):
        if disabled:
            return
        entry = {"median_s": median_s, "min_s": min_s, "rounds": rounds, **extra, "_run": RUN}
        _RESULTS.setdefault(group, {}).setdefault(case, {})[impl] = entry
        _write({group: {case: {impl: entry}}})

    return run


def pytest_sessionfinish(session, exitstatus):
    if _RESULTS:
        _write(_RESULTS)


def _write(results: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> None:
    """Merge ``results`` into benches/results/<group>.json (atomic replace)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    for group, cases in results.items():
        path = RESULTS_DIR / f"{group}.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        merged = old.get("cases", {})
        for case, impls in cases.items():
            merged.setdefault(case, {}).update(impls)
        doc = {
            "group": group,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                # 1/5/15-minute load averages when the file was written (timings of a loaded
                # machine are not comparable with a quiet one's; ratios of the same run are)
                "load_avg": [round(x, 2) for x in os.getloadavg()],
            },
            "versions": _versions(),
            "cases": merged,
        }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, path)
