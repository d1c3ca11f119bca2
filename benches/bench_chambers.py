"""Exact chamber enumeration vs Gaussian sampling (pyscnn's method) and an LP enumeration.

Cases (issue §4): Gaussian data at (n, d) ∈ {(100,3), (500,3), (30,4), (100,4), (40,5), (60,5),
(20,8)} and the resonance arrangement of R^6 (1,066,044 chambers), reporting chambers/s.
Peers in the same run:
- ``numpy-sampling``: standard Gaussian gates, ``X @ G > 0``, ``np.unique`` on the packed rows
  (pyscnn's ``sample_gate_vectors`` + dedup), given the same wall time as the exact run;
  reports its coverage of the exact chamber set, and ``t90_s``: the time sampling needs to
  reach 90% coverage (``inf`` when it has not after 30× the exact time, capped at 20 s).
- ``iter_chambers`` (cases "... streamed"): the same chambers streamed chunk by chunk.
- ``scipy-highs-lp``: incremental LP enumeration (grow sign vectors row by row, keep the
  feasible ones, one HiGHS LP per candidate prefix) on small sizes.
In the test suite (smoke mode) every problem is shrunk so the file runs in a few seconds.
"""

from __future__ import annotations

import itertools
import time

import hiddenconvex as hc
import numpy as np
import pytest
from scipy.optimize import linprog

GAUSSIAN = [(100, 3), (500, 3), (30, 4), (100, 4), (40, 5), (60, 5), (20, 8)]
SMOKE = {(100, 3): (20, 3), (500, 3): (30, 3), (30, 4): (12, 4), (100, 4): (15, 4)}
LP_CASES = [(12, 3), (10, 4)]


def _data(case: str, smoke: bool) -> np.ndarray:
    if case == "resonance d=6":
        d = 4 if smoke else 6
        return np.array(
            [v for v in itertools.product((0, 1), repeat=d) if any(v)], dtype=np.float64
        )
    n, d = (int(s.split("=")[1]) for s in case.replace("gaussian ", "").split())
    if smoke:
        n, d = SMOKE.get((n, d), (min(n, 10), min(d, 4)))
    return np.random.default_rng(20261122).standard_normal((n, d))


CASES = [f"gaussian n={n} d={d}" for n, d in GAUSSIAN] + ["resonance d=6"]


def _exact(X: np.ndarray) -> hc.Chambers:
    return hc.chambers(X, method="exact")


def _sample_for(X: np.ndarray, budget_s: float, seed: int = 0, batch: int = 20_000) -> set[bytes]:
    """Gaussian gates + dedup for ``budget_s`` seconds (at least one batch)."""
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    start = time.perf_counter()
    while True:
        G = rng.standard_normal((X.shape[1], batch))
        P = np.packbits((X @ G > 0).T, axis=1)
        seen.update(bytes(r) for r in np.unique(P, axis=0))
        if time.perf_counter() - start >= budget_s:
            return seen


def _time_to_coverage(X: np.ndarray, exact: set[bytes], frac: float, cap_s: float) -> float:
    rng = np.random.default_rng(1)
    seen: set[bytes] = set()
    start = time.perf_counter()
    target = frac * len(exact)
    while time.perf_counter() - start < cap_s:
        G = rng.standard_normal((X.shape[1], 20_000))
        P = np.packbits((X @ G > 0).T, axis=1)
        seen.update(bytes(r) for r in np.unique(P, axis=0))
        if len(seen) >= target:
            return time.perf_counter() - start
    return float("inf")


def lp_enumerate(X: np.ndarray) -> np.ndarray:
    """Incremental LP enumeration with SciPy's HiGHS (the classical exact method)."""
    n, d = X.shape
    prefixes: list[tuple[int, ...]] = [()]
    for i in range(n):
        grown = []
        for p in prefixes:
            for b in (0, 1):
                q = (*p, b)
                s = 2.0 * np.array(q) - 1.0
                res = linprog(
                    np.zeros(d),
                    A_ub=-(s[:, None] * X[: i + 1]),
                    b_ub=-np.ones(i + 1),
                    bounds=[(None, None)] * d,
                    method="highs",
                )
                if res.status == 0:
                    grown.append(q)
        prefixes = grown
    return np.array(sorted(prefixes), dtype=bool)


@pytest.mark.parametrize("case", CASES)
def test_exact(bench, smoke, case):
    X = _data(case, smoke)
    out = bench(
        lambda: _exact(X),
        group="chambers",
        case=case,
        impl="hiddenconvex",
        rounds=5,
        warmup=1,
        chambers=lambda r: r.count,
        chambers_per_s=lambda r: r.count / r.elapsed,
    )
    if smoke:
        assert out.count == hc.chamber_count(X)


STREAM_CASES = ["gaussian n=100 d=4", "gaussian n=60 d=5", "resonance d=6"]


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream(bench, smoke, case):
    """``iter_chambers`` in chunks of 65,536, reduced on the fly. General position: memory
    bounded by the chunk; resonance (degenerate): ``memory_limit`` set so that parts hold at
    most 2^18 chambers (prefix-cone partition, 6 parts on R^6)."""
    X = _data(case, smoke)
    kw = {}
    if case.startswith("resonance"):
        bytes_per_chamber = hc._core.chambers_plan(X)[2]
        kw["memory_limit"] = 4 * bytes_per_chamber * 2**18

    def run() -> int:
        return sum(int(p.sum()) for p, _ in hc.iter_chambers(X, chunk=65_536, **kw))

    out = bench(
        run,
        group="chambers",
        case=f"{case} streamed" + (" (parts of 2^18)" if kw else ""),
        impl="hiddenconvex",
        rounds=3,
        active_bits=lambda r: r,
    )
    # every chamber once: each row is active in exactly half of the chambers (antipodes)
    assert out == X.shape[0] * hc.chamber_count(X) // 2


@pytest.mark.parametrize("case", CASES)
def test_sampling_same_time(bench, smoke, case):
    X = _data(case, smoke)
    ref = _exact(X)
    t_exact = min(_exact(X).elapsed for _ in range(3))
    exact = {bytes(r) for r in ref.packed}
    cap = 0.05 if smoke else min(max(30 * t_exact, 2.0), 20.0)
    t90 = _time_to_coverage(X, exact, 0.9, cap_s=cap)
    out = bench(
        lambda: _sample_for(X, t_exact),
        group="chambers",
        case=case,
        impl="numpy-sampling",
        rounds=3,
        coverage=lambda s: len(s) / len(exact),
        t90_s=t90,
    )
    assert out <= exact


@pytest.mark.parametrize("nd", LP_CASES)
@pytest.mark.parametrize("impl", ["hiddenconvex", "scipy-highs-lp"])
def test_lp_reference(bench, smoke, nd, impl):
    n, d = nd
    if smoke:
        n = 6
    X = np.random.default_rng(5).standard_normal((n, d))
    fn = (lambda: _exact(X).patterns) if impl == "hiddenconvex" else (lambda: lp_enumerate(X))
    P = bench(
        fn,
        group="chambers",
        case=f"LP-size gaussian n={n} d={d}",
        impl=impl,
        rounds=5 if impl == "hiddenconvex" else 1,
        chambers=lambda r: len(r),
    )
    assert len(P) == hc.cover_count(n, d)
