"""The batched evaluation path of the native objectives against the per-point path and NumPy.

``obj.values`` / ``obj.gradients`` (and every capability) evaluate blocks of points with matrix
products and vectorised element-wise kernels; ``obj.value_and_scale`` / ``obj.gradient`` evaluate
one point with scalar loops. They must agree to a few ulp of the rounding scale, for every
objective and loss, over odd block sizes (crossing the 64-row blocks), and not depend on the
thread count.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest

EPS = np.finfo(np.float64).eps


def _data(n=41, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    lab = np.where(rng.random(n) > 0.5, 1.0, -1.0)
    return X, y, lab


def _objectives():
    X, y, lab = _data()
    out = {
        "least squares": hc.LeastSquares(X, y, bias=True, l2=0.3),
        "logistic": hc.LogisticRegression(X, lab, l2=0.1),
        "logistic (bias)": hc.LogisticRegression(X, lab, bias=True),
        "hinge": hc.HingeLoss(X, lab, bias=True),
        "squared hinge": hc.HingeLoss(X, lab, squared=True, l2=0.2),
        "two-layer ReLU": hc.TwoLayerReLU(X, y, 7),
        "quadratic": hc.Quadratic(np.array([[2.0, -1.0, 0.3], [-1.0, 1.0, 0.0], [0.3, 0.0, -0.5]])),
    }
    for act in ("tanh", "softplus", "sigmoid", "relu"):
        for loss in ("squared", "logistic", "hinge", "squared_hinge"):
            yy = y if loss == "squared" else lab
            out[f"MLP {act} {loss}"] = hc.MLP(
                X, yy, [6, 4], activation=act, loss=loss, weight_decay=0.05
            )
    Y2 = np.stack([y, np.sin(y)], axis=1)
    out["MLP multi-output"] = hc.MLP(X, Y2, [3], activation="tanh")
    icnn = hc.ICNN(X, y, [4, 3], activation="softplus", weight_decay=0.1)
    out["ICNN (parameters)"] = icnn
    out["ICNN (input)"] = icnn.as_input_function(icnn.init(0))
    return out


OBJECTIVES = _objectives()


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
@pytest.mark.parametrize("B", [1, 3, 65, 130])
def test_batched_matches_per_point(name, B):
    obj = OBJECTIVES[name]
    P = np.random.default_rng(B).standard_normal((B, obj.dim)) * 0.8
    vals = obj.values(P)
    grads = obj.gradients(P)
    for b in range(B):
        f, s = obj.value_and_scale(P[b])
        assert abs(vals[b] - f) <= 64 * EPS * s, (name, b, vals[b], f)
        g = obj.gradient(P[b])
        gs = max(1.0, float(np.max(np.abs(g))))
        np.testing.assert_allclose(grads[b], g, rtol=0, atol=1e-12 * gs * (1 + s))
    # Strided input gives the same results.
    wide = np.zeros((B, 2 * obj.dim))
    wide[:, ::2] = P
    np.testing.assert_array_equal(obj.values(wide[:, ::2]), vals)


def test_batched_logistic_and_mlp_match_numpy():
    X, y, lab = _data(n=97, d=7, seed=3)
    P = np.random.default_rng(1).standard_normal((77, 7))
    lr = hc.LogisticRegression(X, lab)
    ref = np.sum(np.logaddexp(0.0, -lab * (P @ X.T)), axis=1)
    np.testing.assert_allclose(lr.values(P), ref, rtol=1e-13)
    sig = 1 / (1 + np.exp(lab * (P @ X.T)))  # σ(−y z)
    np.testing.assert_allclose(lr.gradients(P), -(sig * lab) @ X, rtol=1e-11, atol=1e-12)
    m = 5
    net = hc.MLP(X, y, [m], activation="tanh", bias=False)
    T = np.stack([net.init(s) for s in range(33)])
    W = T[:, : m * 7].reshape(-1, m, 7)
    a = T[:, m * 7 :]
    out = np.einsum("bnm,bm->bn", np.tanh(np.einsum("nd,bmd->bnm", X, W)), a)
    np.testing.assert_allclose(net.values(T), 0.5 * np.sum((out - y) ** 2, axis=1), rtol=1e-12)


def test_batched_results_do_not_depend_on_thread_count():
    obj = OBJECTIVES["MLP tanh logistic"]
    P = np.random.default_rng(5).standard_normal((301, obj.dim))
    n0 = hc.thread_count()
    try:
        hc.set_thread_count(1)
        v1, g1 = obj.values(P), obj.gradients(P)
        H1 = hc.hessian(obj, P[:5], method="gradients").H
        hc.set_thread_count(2)
        v2, g2 = obj.values(P), obj.gradients(P)
        H2 = hc.hessian(obj, P[:5], method="gradients").H
    finally:
        hc.set_thread_count(n0)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(H1, H2)


def test_callable_dim_is_inferred_from_points():
    def f(t):
        return float(np.sum(t**2))

    def fv(T):
        return np.sum(T**2, axis=1)

    P = np.random.default_rng(0).standard_normal((3, 4))
    H = hc.hessian(f, P, method="values").H
    np.testing.assert_allclose(H, np.broadcast_to(2 * np.eye(4), (3, 4, 4)), atol=1e-6)
    rep = hc.midpoint_test(fv, n_pairs=200, seed=0, center=np.zeros(4), vectorized=True)
    assert rep.dim == 4 and rep.n_violations == 0
    rep = hc.midpoint_test(f, pairs=(P, P[::-1] + 1.0))
    assert rep.dim == 4 and rep.n_violations == 0
    s = hc.slice_1d(fv, np.zeros(4), np.ones(4), vectorized=True)
    assert np.isfinite(np.asarray(s.values if hasattr(s, "values") else s[1])).all()
    with pytest.raises(hc.InvalidInputError, match="dim"):
        hc.midpoint_test(f, n_pairs=10, seed=0)
