"""Midpoint test throughput (group "midpoint"): pairs per second.

Cases: logistic regression (n = 200, D = 10) and a two-layer ReLU network (n = 100, d = 5, m = 8,
D = 48), at 10^5 and 10^6 pairs (smoke mode: 500 and 2000). Implementations, same objective and
same test (t = ½, one scale, condition-aware tolerance 32·eps·(½s(a) + ½s(b) + s(m)), violation
count, gap quantiles, Clopper–Pearson interval):

- ``hiddenconvex``: ``hc.midpoint_test`` on the native objective (pairs generated in parallel in
  Rust; a, b and the midpoints of each piece of 80 pairs of a block of 160 evaluated as one batch);
- ``numpy``: a vectorised NumPy implementation (pairs from ``np.random.Generator``, objective
  evaluated with one matrix product per chunk of 2000 pairs and in-place ufuncs — BLAS may use
  both cores);
- ``bare 3 evals``: only the three objective evaluations per pair, ``obj.values`` (the same
  batched native evaluation) on prepared chunks of 3·10^4 points (no pair generation, no gaps):
  the floor the test should approach.

Targets: ≥ 10× the NumPy implementation; ≤ 1.3× the bare cost.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest

EPS = np.finfo(np.float64).eps
CHUNK = 2_000  # pairs per NumPy chunk (the fastest of 1000–10⁴ here: the work stays in cache)
BARE_CHUNK = 10_000


def _problem(name):
    rng = np.random.default_rng(0)
    if name == "logistic":
        X = rng.standard_normal((200, 10))
        y = np.where(X @ rng.standard_normal(10) + 0.5 * rng.standard_normal(200) > 0, 1.0, -1.0)
        obj = hc.LogisticRegression(X, y)
        nyx = np.ascontiguousarray(-(X * y[:, None]).T)  # columns −y_i x_i

        def f_np(T):
            # log(1 + e^z), z = −y·xᵀθ, as max(z, 0) + log1p(e^{−|z|}) in place (faster than
            # np.logaddexp, same values)
            Z = T @ nyx
            A = np.abs(Z)
            np.negative(A, out=A)
            np.exp(A, out=A)
            np.log1p(A, out=A)
            np.maximum(Z, 0.0, out=Z)
            Z += A
            v = Z.sum(axis=1)
            return v, v  # terms ≥ 0: Σ|terms| = f

        return obj, f_np, np.zeros(obj.dim), 1.0
    X = rng.standard_normal((100, 5))
    y = rng.standard_normal(100)
    m, d = 8, 5
    obj = hc.TwoLayerReLU(X, y, m)
    theta = obj.init(1)

    def f_np(T):
        k = T.shape[0]
        H = T[:, : m * d].reshape(k * m, d) @ X.T  # (k·m, n): all first layers, one product
        np.maximum(H, 0.0, out=H)
        r = np.matmul(T[:, None, m * d :], H.reshape(k, m, -1))[:, 0, :]  # (k, n)
        r -= y
        v = 0.5 * np.einsum("kn,kn->k", r, r)
        return v, v

    return obj, f_np, theta, 1.0


def numpy_midpoint(f_np, center, scale, n, seed):
    """The same test in vectorised NumPy: violations, gap quantiles, CP interval."""
    rng = np.random.default_rng(seed)
    d = center.size
    viol = 0
    gaps = []
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        a = center + scale * rng.standard_normal((k, d))
        b = center + scale * rng.standard_normal((k, d))
        m = 0.5 * a + 0.5 * b
        fa, sa = f_np(a)
        fb, sb = f_np(b)
        fm, sm = f_np(m)
        g = 0.5 * fa + 0.5 * fb - fm
        tol = 32.0 * EPS * (0.5 * sa + 0.5 * sb + sm)
        viol += int(np.sum(g < -tol))
        gaps.append(g)
    gaps = np.concatenate(gaps)
    q = np.quantile(gaps, [0.0, 0.01, 0.5, 0.99, 1.0])
    lo, hi = hc.clopper_pearson(viol, n)
    return viol, q, (lo, hi)


SIZES = {"1e5": (100_000, 500), "1e6": (1_000_000, 2_000)}


@pytest.mark.parametrize("problem", ["logistic", "two-layer ReLU"])
@pytest.mark.parametrize("size", ["1e5", "1e6"])
@pytest.mark.parametrize("impl", ["hiddenconvex", "numpy", "bare 3 evals"])
def test_midpoint_pairs_per_second(bench, smoke, problem, size, impl):
    obj, f_np, center, scale = _problem("logistic" if problem == "logistic" else "relu")
    n = SIZES[size][1] if smoke else SIZES[size][0]
    rounds = 3 if n >= 1_000_000 else 5
    if impl == "hiddenconvex":

        def run():
            rep = hc.midpoint_test(
                obj, n_pairs=n, seed=1, center=center, scales=(scale,), keep_arrays=False
            )
            return rep.n_violations

    elif impl == "numpy":

        def run():
            return numpy_midpoint(f_np, center, scale, n, seed=1)[0]

    else:
        rng = np.random.default_rng(2)
        k = min(BARE_CHUNK, n)
        pts = center + scale * rng.standard_normal((3 * k, center.size))

        def run():
            done = 0
            while done < n:
                c = min(k, n - done)
                obj.values(pts[: 3 * c])
                done += c
            return 0

    case = f"{problem}, D={obj.dim}, {n:.0e} pairs"
    out = bench(
        run,
        group="midpoint",
        case=case,
        impl=impl,
        rounds=rounds,
        pairs=n,
        violations=lambda r: int(r),
    )
    if impl == "hiddenconvex" and problem == "logistic":
        assert out == 0  # convex: no violation, same as the NumPy implementation
    if impl == "numpy" and problem == "logistic":
        assert out == 0


def test_native_and_numpy_agree_on_the_relu_rate(smoke):
    """Equal accuracy: both implementations estimate the same violation rate."""
    obj, f_np, center, scale = _problem("relu")
    n = 4_000 if smoke else 40_000
    rep = hc.midpoint_test(obj, n_pairs=n, seed=3, center=center, scales=(scale,))
    viol, _, (lo, hi) = numpy_midpoint(f_np, center, scale, n, seed=3)
    assert rep.n_violations > 0 and viol > 0
    # The two 95% intervals overlap (same distribution, different random streams).
    assert rep.ci_low <= hi and lo <= rep.ci_high
