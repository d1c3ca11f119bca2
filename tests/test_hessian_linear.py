"""Gradients-method Hessians of linear models without Richardson (the gradient-difference kernel):
the analytic Hessian, a 50-digit reference of the same finite differences that the error estimate
must bound, and thread-count independence."""

from __future__ import annotations

import hiddenconvex as hc
import mpmath
import numpy as np
import pytest
from scipy.special import expit

mpmath.mp.dps = 50


def _data(rng, n=40, d=5):
    X = rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.2, 1.0, 10.0])[:d]
    y = (rng.random(n) > 0.5).astype(float)
    return X, y


def _dloss(loss: str, z, y):
    """ℓ'(z) in mpmath (labels ±1 for the classification losses)."""
    if loss == "squared":
        return z - y
    if loss == "logistic":
        return -y / (1 + mpmath.exp(y * z))
    m = 1 - y * z  # squared hinge
    return -2 * y * m if m > 0 else mpmath.mpf(0)


def _fd_reference(X, y, loss, bias, l2, theta, steps):
    """(g(θ + h_j e_j) − g(θ − h_j e_j)) / (2 h_j), symmetrised, in 50-digit arithmetic at the
    floating-point points θ ± h_j e_j the method evaluates."""
    n, d = X.shape
    D = theta.size
    Xm = [[mpmath.mpf(float(v)) for v in row] for row in X]
    cols = [[Xm[i][j] if j < d else mpmath.mpf(1) for j in range(D)] for i in range(n)]

    def grad(t):
        tm = [mpmath.mpf(float(v)) for v in t]
        g = [mpmath.mpf(0)] * D
        for i in range(n):
            z = sum(cols[i][j] * tm[j] for j in range(D))
            s = _dloss(loss, z, mpmath.mpf(float(y[i])))
            for k in range(D):
                g[k] += cols[i][k] * s
        for k in range(d):
            g[k] += mpmath.mpf(l2) * tm[k]
        return g

    G = np.zeros((D, D))
    for j in range(D):
        tp, tm = theta.copy(), theta.copy()
        tp[j] += steps[j]
        tm[j] -= steps[j]
        gp, gm = grad(tp), grad(tm)
        for k in range(D):
            G[k, j] = float((gp[k] - gm[k]) / (2 * mpmath.mpf(float(steps[j]))))
    return 0.5 * (G + G.T)


@pytest.mark.parametrize("loss", ["squared", "logistic", "squared_hinge"])
def test_error_estimate_bounds_the_rounding_of_the_differences(rng, loss):
    X, y01 = _data(rng)
    ypm = 2 * y01 - 1
    if loss == "squared":
        obj = hc.LeastSquares(X, y01 * 3.0 - 1.0, bias=True, l2=0.3)
        yref = y01 * 3.0 - 1.0
    elif loss == "logistic":
        obj = hc.LogisticRegression(X, y01, bias=True, l2=0.3)
        yref = ypm
    else:
        obj = hc.HingeLoss(X, y01, bias=True, l2=0.3, squared=True)
        yref = ypm
    pts = rng.standard_normal((3, obj.dim)) * np.array([0.3, 2.0, 5.0])[:, None]
    for step in (None, 1e-9, 1e-3):
        r = hc.hessian(obj, pts, method="gradients", richardson=False, step=step)
        for b in range(3):
            want = _fd_reference(X, yref, loss, True, 0.3, pts[b], r.steps[b])
            err = np.abs(r.H[b] - want)
            assert np.all(err <= r.error[b]), (loss, step, b, np.max(err / r.error[b]))
            # and the estimate is a rounding bound, not a blanket: well below |H| at c = eps^(1/3)
            if step is None:
                assert np.max(r.error[b]) <= 1e-6 * np.max(np.abs(r.H[b]))


def test_logistic_matches_the_closed_form_and_threads(rng):
    X, y01 = _data(rng, n=200, d=5)
    ypm = 2 * y01 - 1
    obj = hc.LogisticRegression(X, y01, l2=0.5)
    pts = rng.standard_normal((70, 5)) * 0.5
    r = hc.hessian(obj, pts, method="gradients", richardson=False)
    for b in range(70):
        p = expit(X @ pts[b] * ypm)
        want = X.T @ (X * (p * (1 - p))[:, None]) + 0.5 * np.eye(5)
        assert np.max(np.abs(r.H[b] - want)) <= 1e-8 * np.max(np.abs(want))
        np.testing.assert_array_equal(r.H[b], r.H[b].T)
    assert r.n_gradient_evaluations == 70 * 2 * 5
    before = hc.thread_count()
    try:
        for t in (1, 2, 3):
            hc.set_thread_count(t)
            rt = hc.hessian(obj, pts, method="gradients", richardson=False)
            np.testing.assert_array_equal(rt.H, r.H)
            np.testing.assert_array_equal(rt.error, r.error)
    finally:
        hc.set_thread_count(before)


def test_non_finite_points_are_reported(rng):
    X, y01 = _data(rng, n=30)
    obj = hc.LeastSquares(X, y01, bias=False)
    r = hc.hessian(obj, np.full((2, 5), 1e308), method="gradients", richardson=False)
    assert list(r.verdict) == ["nonfinite", "nonfinite"]


def _separable(rng, n=40, d=5):
    """Linearly separable data (labels the sign of a fixed direction, with a margin)."""
    X = rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.2, 1.0, 10.0])[:d]
    w = np.array([1.0, -0.5, 2.0, 0.3, 0.1])[:d]
    s = X @ w
    X[np.abs(s) < 0.5] += 0.5 * np.sign(s[np.abs(s) < 0.5])[:, None] * w / (w @ w)
    return X, (X @ w > 0).astype(float)


@pytest.mark.parametrize("data", ["random", "separable"])
@pytest.mark.parametrize("scale", [1e-2, 1.0, 30.0, 1e3])
def test_error_estimate_is_a_bound_at_extreme_scales(rng, data, scale):
    """The row kernel's bound (per sample: the sum of each term's maximum over the axes) still
    bounds the rounding of the differences, from nearly flat to fully saturated predictions,
    with and without a bias, on data a logistic model separates (the 50-digit reference of the
    same differences); and H agrees with the closed form XᵀΣX within the estimate plus a bound
    on the central difference's truncation (which the estimate of this method leaves out)."""
    X, y01 = _separable(rng) if data == "separable" else _data(rng)
    ypm = 2 * y01 - 1
    for bias in (False, True):
        obj = hc.LogisticRegression(X, y01, bias=bias, l2=0.1)
        pts = rng.standard_normal((2, obj.dim)) * scale
        r = hc.hessian(obj, pts, method="gradients", richardson=False)
        Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
        for b in range(2):
            want = _fd_reference(X, ypm, "logistic", bias, 0.1, pts[b], r.steps[b])
            assert np.all(np.abs(r.H[b] - want) <= r.error[b]), (data, scale, bias, b)
            p = expit(Xa @ pts[b] * ypm)
            exact = Xa.T @ (Xa * (p * (1 - p))[:, None])
            exact[: X.shape[1], : X.shape[1]] += 0.1 * np.eye(X.shape[1])
            # truncation of the central difference of g_k along e_j: h_j² Σ_i |X_ik| |X_ij|³ sup|ℓ⁗|/6
            # with sup|σ‴| = 1/8, symmetrised like H
            h = r.steps[b]
            T = (np.abs(Xa).T @ np.abs(Xa) ** 3) * h**2 / 48.0
            tol = r.error[b] + 0.5 * (T + T.T) + 1e-13 * np.max(np.abs(exact))
            assert np.all(np.abs(r.H[b] - exact) <= tol), (data, scale, bias, b)


def test_wide_rows_use_the_vectorised_path_and_match_the_closed_form(rng):
    """D = 37 (+ bias): nine full AVX2 groups and a tail per sample; every entry within its
    estimate of the 50-digit reference and of the closed form."""
    n, d = 30, 37
    X = rng.standard_normal((n, d))
    y01 = (rng.random(n) > 0.5).astype(float)
    ypm = 2 * y01 - 1
    obj = hc.LogisticRegression(X, y01, bias=True)
    pts = rng.standard_normal((2, obj.dim)) * 0.3
    r = hc.hessian(obj, pts, method="gradients", richardson=False)
    Xa = np.hstack([X, np.ones((n, 1))])
    for b in range(2):
        want = _fd_reference(X, ypm, "logistic", True, 0.0, pts[b], r.steps[b])
        assert np.all(np.abs(r.H[b] - want) <= r.error[b])
        p = expit(Xa @ pts[b] * ypm)
        exact = Xa.T @ (Xa * (p * (1 - p))[:, None])
        assert np.max(np.abs(r.H[b] - exact)) <= 1e-8 * np.max(np.abs(exact))


def test_logistic_sinh_form_and_its_fallbacks_stay_within_the_estimate(rng):
    """The logistic differences take the sinh form (σ(z + δ) − σ(z − δ) = sinh δ / (cosh z +
    cosh δ), no cancellation) for rows whose shifts h_j|X_ij| are small, and the difference of
    the two ℓ' values for rows with a large feature (shift above 1/32) and for points whose
    moves θ_j ± h_j round unequally (θ_j just below a power of two): every entry within its
    estimate of the 50-digit reference, H within 1e-8 of the closed form where the truncation
    is small, and the estimate of the sinh-form point far below the cancellation-bound one."""
    n, d = 40, 4
    X = rng.standard_normal((n, d))
    X[::7] *= 1e4  # rows whose shifts exceed 1/32 at the default step
    y01 = (rng.random(n) > 0.5).astype(float)
    ypm = 2 * y01 - 1
    obj = hc.LogisticRegression(X, y01, bias=True)
    small = hc.LogisticRegression(X[1::7], y01[1::7], bias=True)  # no large rows
    pts = rng.standard_normal((3, d + 1)) * 0.3
    pts[1, 0] = 1.0 - 2.0**-53  # θ_0 + h_0 crosses the binade at 1 and rounds: unequal moves
    pts[2] *= 1e-5  # |θ_j| < h_j: the moves round too
    for o, Xo, yo in ((obj, X, ypm), (small, X[1::7], ypm[1::7])):
        r = hc.hessian(o, pts, method="gradients", richardson=False)
        for b in range(3):
            want = _fd_reference(Xo, yo, "logistic", True, 0.0, pts[b], r.steps[b])
            assert np.all(np.abs(r.H[b] - want) <= r.error[b]), b
    r = hc.hessian(small, pts, method="gradients", richardson=False)
    Xa = np.hstack([X[1::7], np.ones((X[1::7].shape[0], 1))])
    for b in range(3):
        p = expit(Xa @ pts[b] * ypm[1::7])
        exact = Xa.T @ (Xa * (p * (1 - p))[:, None])
        assert np.max(np.abs(r.H[b] - exact)) <= 1e-8 * np.max(np.abs(exact))
    # the sinh form's bound is relative to |q| (not to |ℓ'|): below the unequal-moves point's
    assert np.max(r.error[0]) < 0.1 * np.max(r.error[1])


def test_blocks_of_points_stay_within_the_estimate_and_carry_tau(rng, restore_threads):
    """A batch spanning several blocks of points (D = 21 with the bias: blocks of 12, the last
    one partial), with rows whose shifts exceed the sinh form's range and a point whose moves
    round unequally: the points at both ends of every block within their estimate of the
    50-digit reference, the same bits at 1 and 2 threads, and τ (returned with H when
    spectrum=False) the Frobenius norm of the error estimate."""
    n, d = 40, 20
    X = rng.standard_normal((n, d))
    X[::9] *= 1e4  # rows whose shifts exceed 1/32 at the default step
    y01 = (rng.random(n) > 0.5).astype(float)
    ypm = 2 * y01 - 1
    obj = hc.LogisticRegression(X, y01, bias=True, l2=0.2)
    pts = rng.standard_normal((30, d + 1)) * 0.3
    pts[13, 0] = 1.0 - 2.0**-53  # θ_0 + h_0 rounds: unequal moves, the difference form
    before = hc.thread_count()
    try:
        runs = []
        for t in (1, 2):
            hc.set_thread_count(t)
            runs.append(hc.hessian(obj, pts, method="gradients", richardson=False, spectrum=False))
    finally:
        hc.set_thread_count(before)
    r = runs[0]
    for name in ("H", "error", "tolerance", "finite"):
        np.testing.assert_array_equal(getattr(runs[1], name), getattr(r, name))
    for b in (0, 11, 12, 13, 23, 24, 29):
        want = _fd_reference(X, ypm, "logistic", True, 0.2, pts[b], r.steps[b])
        assert np.all(np.abs(r.H[b] - want) <= r.error[b]), b
    np.testing.assert_allclose(r.tolerance, np.linalg.norm(r.error, axis=(1, 2)), rtol=1e-14)
    assert r.finite.all()
    full = hc.hessian(obj, pts, method="gradients", richardson=False)
    np.testing.assert_array_equal(full.tolerance, r.tolerance)
