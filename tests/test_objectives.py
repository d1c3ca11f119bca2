"""Native objectives: values and gradients against slow NumPy references and finite differences."""

from __future__ import annotations

import _reference_diag as ref
import hiddenconvex as hc
import numpy as np
import pytest

EPS = np.finfo(np.float64).eps


def _data(rng, n=17, d=3, labels=False):
    X = rng.standard_normal((n, d))
    y = (rng.random(n) > 0.5).astype(float) if labels else rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge", "squared_hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_models_match_reference(rng, loss, bias):
    X, y = _data(rng, labels=loss != "squared")
    obj = hc.LinearModel(X, y, loss=loss, bias=bias, l2=0.3)
    for _ in range(3):
        theta = rng.standard_normal(obj.dim)
        want_v, want_g = ref.linear_value_grad(X, y, loss, bias, 0.3, theta)
        f, g = obj.value_and_gradient(theta)
        assert f == pytest.approx(want_v, rel=1e-13)
        np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-12)
        fd = ref.central_gradient(obj.value, theta)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
        v, s = obj.value_and_scale(theta)
        assert s >= abs(v)


def test_convenience_classes_and_label_conventions(rng):
    X, y01 = _data(rng, labels=True)
    ypm = 2 * y01 - 1
    a = hc.LogisticRegression(X, y01)
    b = hc.LogisticRegression(X, ypm)
    theta = rng.standard_normal(3)
    assert a.value(theta) == b.value(theta)
    # Binary cross-entropy on p = σ(Xw).
    p = 1 / (1 + np.exp(-(X @ theta)))
    bce = -np.sum(y01 * np.log(p) + (1 - y01) * np.log(1 - p))
    assert a.value(theta) == pytest.approx(bce, rel=1e-12)
    assert hc.HingeLoss(X, y01, squared=True).value(theta) == pytest.approx(
        np.sum(np.maximum(1 - ypm * (X @ theta), 0) ** 2), rel=1e-13
    )
    ls = hc.LeastSquares(X, y01, bias=True)
    t = ls.flatten([1.0, 2.0, 3.0], 0.5)
    assert ls.unflatten(t)["b"] == 0.5
    np.testing.assert_array_equal(ls.unflatten(t)["w"], [1.0, 2.0, 3.0])
    with pytest.raises(hc.InvalidInputError, match="labels"):
        hc.LogisticRegression(X, rng.standard_normal(X.shape[0]))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_two_layer_relu_equals_formula(rng, bias, loss):
    X, y = _data(rng, n=12, d=3, labels=loss == "logistic")
    obj = hc.TwoLayerReLU(X, y, 4, beta=0.37, bias=bias, loss=loss)
    assert obj.dim == 3 * 4 + 4 + (4 if bias else 0)
    for seed in range(3):
        theta = obj.init(seed)
        if bias:
            theta[12:16] = rng.standard_normal(4)
        p = obj.unflatten(theta)
        want = ref.two_layer_relu_value(X, y, p["U"], p["alpha"], p["b"], 0.37, loss)
        assert obj.value(theta) == pytest.approx(want, rel=1e-12)
        np.testing.assert_array_equal(obj.flatten(p["U"], p["alpha"], p["b"]), theta)
        g = obj.gradient(theta)
        np.testing.assert_allclose(g, ref.central_gradient(obj.value, theta), rtol=1e-5, atol=1e-6)


def test_two_layer_relu_unit_indices_are_a_permutation_symmetry(rng):
    X, y = _data(rng, n=10, d=2)
    obj = hc.TwoLayerReLU(X, y, 3, beta=0.1, bias=True)
    units = obj.unit_indices()
    assert len(units) == 3
    allidx = np.concatenate(units)
    assert len(set(allidx.tolist())) == obj.dim
    theta = obj.init(4)
    swapped = theta.copy()
    swapped[units[0]], swapped[units[2]] = theta[units[2]], theta[units[0]]
    assert obj.value(swapped) == pytest.approx(obj.value(theta), rel=1e-14)
    assert not np.array_equal(swapped, theta)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus", "sigmoid"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_mlp_matches_reference_backprop(rng, activation, loss):
    X = rng.standard_normal((15, 3))
    Y = rng.standard_normal((15, 2)) if loss == "squared" else (rng.random(15) > 0.5).astype(float)
    obj = hc.MLP(X, Y, [5, 4], activation=activation, loss=loss, weight_decay=0.2)
    theta = obj.init(1) + 0.1 * rng.standard_normal(obj.dim)
    p = obj.unflatten(theta)
    val, gw, gb = ref.mlp_value_grad(X, Y, p["weights"], p["biases"], activation, loss, 0.2)
    f, g = obj.value_and_gradient(theta)
    assert f == pytest.approx(val, rel=1e-12)
    np.testing.assert_allclose(g, obj.flatten(gw, gb), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, ref.central_gradient(obj.value, theta), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(obj.flatten(p["weights"], p["biases"]), theta)


def test_mlp_unit_indices_each_hidden_layer(rng):
    X = rng.standard_normal((8, 2))
    y = rng.standard_normal(8)
    obj = hc.MLP(X, y, [3, 4], activation="tanh")
    theta = obj.init(0)
    for layer, width in [(0, 3), (1, 4)]:
        units = obj.unit_indices(layer)
        assert len(units) == width
        sw = theta.copy()
        sw[units[0]], sw[units[1]] = theta[units[1]], theta[units[0]]
        assert obj.value(sw) == pytest.approx(obj.value(theta), rel=1e-13)
    with pytest.raises(hc.InvalidInputError, match="layer"):
        obj.unit_indices(2)


@pytest.mark.parametrize("activation,nonneg", [("relu", "softplus"), ("softplus", "clip")])
def test_icnn_matches_reference(rng, activation, nonneg):
    X = rng.standard_normal((9, 3))
    y = rng.standard_normal(9)
    obj = hc.ICNN(X, y, [4, 3], activation=activation, nonneg=nonneg, weight_decay=0.1)
    theta = obj.init(3) + 0.3 * rng.standard_normal(obj.dim)
    p = obj.unflatten(theta)
    want = ref.icnn_value(X, y, p["V"], p["Wx"], p["b"], activation, nonneg, "squared", 0.1)
    assert obj.value(theta) == pytest.approx(want, rel=1e-12)
    np.testing.assert_array_equal(obj.flatten(p["V"], p["Wx"], p["b"]), theta)
    g = obj.gradient(theta)
    np.testing.assert_allclose(g, ref.central_gradient(obj.value, theta), rtol=1e-5, atol=1e-6)
    fx = obj.as_input_function(theta)
    assert fx.dim == 3
    np.testing.assert_array_equal(fx.unflatten(fx.flatten([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    x = rng.standard_normal(3)
    assert fx.value(x) == pytest.approx(
        ref.icnn_forward(x, p["V"], p["Wx"], p["b"], activation, nonneg), rel=1e-13
    )
    np.testing.assert_allclose(
        fx.gradient(x), ref.central_gradient(fx.value, x), rtol=1e-5, atol=1e-7
    )


def test_icnn_is_convex_in_its_input(rng):
    X = rng.standard_normal((5, 2))
    obj = hc.ICNN(X, rng.standard_normal(5), [6, 6], activation="relu")
    fx = obj.as_input_function(obj.init(7) + rng.standard_normal(obj.dim))
    a = rng.standard_normal((500, 2)) * 3
    b = rng.standard_normal((500, 2)) * 3
    fa, fb, fm = fx.values(a), fx.values(b), fx.values((a + b) / 2)
    assert np.all(fm <= (fa + fb) / 2 + 1e-12 * (1 + np.abs(fa) + np.abs(fb)))
    with pytest.raises(hc.InvalidInputError, match="activation"):
        hc.ICNN(X, np.zeros(5), [3], activation="tanh")


def test_scales_bound_the_values_and_are_honest(rng):
    """s ≥ |f|, and for a sum with cancellation s is much larger than |f|."""
    X = rng.standard_normal((50, 4))
    w = rng.standard_normal(4)
    y = X @ w + 1e-9 * rng.standard_normal(50)
    obj = hc.LeastSquares(X, y)
    f, s = obj.value_and_scale(w)
    assert s >= abs(f)
    # At the interpolating point the loss is ~1e-17 but the rounding scale is set by |y| and |Xw|.
    assert s > 1e-8
    for o in [hc.MLP(X, y, [3], activation="sigmoid"), hc.ICNN(X, y, [3])]:
        t = o.init(0)
        f, s = o.value_and_scale(t)
        assert s >= abs(f) > 0


def test_batched_values_and_gradients_match_single(rng):
    X, y = _data(rng, n=20, d=4)
    obj = hc.MLP(X, y, [6], activation="tanh")
    thetas = rng.standard_normal((70, obj.dim))
    vals = obj.values(thetas)
    grads = obj.gradients(thetas)
    for i in [0, 33, 69]:
        assert vals[i] == obj.value(thetas[i])
        np.testing.assert_array_equal(grads[i], obj.gradient(thetas[i]))
    # Strided / Fortran / float32 inputs are accepted.
    np.testing.assert_array_equal(obj.values(np.asfortranarray(thetas)), vals)


def test_callable_objective_path(rng):
    X, y = _data(rng, n=10, d=3)
    obj = hc.LeastSquares(X, y)

    def scalar(t):
        return 0.5 * np.sum((X @ t - y) ** 2)

    def vec(T):
        return 0.5 * np.sum((T @ X.T - y) ** 2, axis=1)

    thetas = rng.standard_normal((5, 3))
    a = hc.as_objective(scalar, dim=3)
    b = hc.as_objective(vec, dim=3, vectorized=True)
    np.testing.assert_allclose(a.values(thetas), obj.values(thetas), rtol=1e-13)
    np.testing.assert_allclose(b.values(thetas), obj.values(thetas), rtol=1e-13)
    assert hc.as_objective(obj) is obj


def test_objective_bad_inputs(rng):
    X, y = _data(rng)
    with pytest.raises(hc.InvalidInputError, match="y"):
        hc.LeastSquares(X, y[:-1])
    with pytest.raises(hc.InvalidInputError, match="X"):
        hc.LeastSquares(np.full((3, 2), np.nan), np.zeros(3))
    with pytest.raises(hc.InvalidInputError, match="l2"):
        hc.LeastSquares(X, y, l2=-1.0)
    with pytest.raises(hc.InvalidInputError, match="loss"):
        hc.LinearModel(X, y, loss="cauchy")
    with pytest.raises(hc.InvalidInputError, match="activation"):
        hc.MLP(X, y, [2], activation="gelu")
    with pytest.raises(hc.InvalidInputError, match="m"):
        hc.TwoLayerReLU(X, y, 0)
    with pytest.raises(hc.InvalidTypeError):
        hc.MLP(X, y, [2.5])
    obj = hc.LeastSquares(X, y)
    with pytest.raises(hc.InvalidInputError, match="theta"):
        obj.value(np.zeros(4))
    with pytest.raises(hc.InvalidInputError, match="theta"):
        obj.gradient([np.inf, 0, 0])
    with pytest.raises(hc.InvalidInputError, match="dim"):
        hc.as_objective(lambda t: 0.0)
    with pytest.raises(hc.InvalidTypeError):
        hc.as_objective(3.0)


def test_quadratic_matches_numpy(rng):
    A = rng.standard_normal((4, 4))
    b = rng.standard_normal(4)
    q = hc.Quadratic(A, b, -0.7)
    S = 0.5 * (A + A.T)
    for _ in range(3):
        t = rng.standard_normal(4)
        assert q.value(t) == pytest.approx(0.5 * t @ S @ t + b @ t - 0.7, rel=1e-13, abs=1e-13)
        np.testing.assert_allclose(q.gradient(t), S @ t + b, rtol=1e-13, atol=1e-13)
    with pytest.raises(hc.InvalidInputError, match="A"):
        hc.Quadratic(np.ones((2, 3)))
    with pytest.raises(hc.InvalidInputError, match="b"):
        hc.Quadratic(np.eye(2), np.ones(3))


@pytest.mark.parametrize("bias", [False, True])
def test_two_layer_predict_matches_formula(bias):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    obj = hc.TwoLayerReLU(X, X[:, 0], 4, beta=0.1, bias=bias)
    theta = obj.init(0)
    if bias:
        theta[obj.unit_indices()[0][3]] = 0.25  # a nonzero bias b_0
    p = obj.unflatten(theta)
    pre = X @ p["U"] + (0.0 if p["b"] is None else p["b"])
    np.testing.assert_allclose(obj.predict(theta).ravel(), np.maximum(pre, 0.0) @ p["alpha"])


# Samples per product of the logistic value kernel (LOGISTIC_PRODUCT_ROWS in the Rust core).
_K_PRODUCT = 64


@pytest.mark.parametrize("n", [1, 63, 64, 65, 200, 3 * 64 + 5])
@pytest.mark.parametrize("spread", ["zero", "tiny", "unit", "wide", "huge", "mixed"])
def test_logistic_values_within_the_documented_bound_of_exact_sums(n, spread):
    """The logistic value Σ log(1 + e^{−y·x}) with one feature and θ = 1 (exact margins z = y·x)
    against a 50-digit mpmath reference: within ((n + ⌈n/K⌉ + K + 1)/2 + 8)·eps·s (the bound of
    docs/performance-evaluation.md), and far inside it on typical data."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(n * 7 + len(spread))
    x = {
        "zero": np.zeros(n),
        "tiny": 1e-12 * rng.standard_normal(n),
        "unit": rng.standard_normal(n),
        "wide": 30.0 * rng.standard_normal(n),
        "huge": rng.choice([-1.0, 1.0], n) * rng.uniform(700.0, 1e4, n),
        "mixed": rng.choice([0.0, 1e-300, 1e-8, 0.7, 40.0, 745.5, 800.0], n)
        * rng.choice([-1.0, 1.0], n),
    }[spread]
    y = rng.choice([-1.0, 1.0], n)
    obj = hc.LogisticRegression(x[:, None], y)
    f, s = obj.value_and_scale(np.array([1.0]))
    with mpmath.workdps(50):
        exact = mpmath.fsum(mpmath.log1p(mpmath.exp(-mpmath.mpf(float(v)))) for v in y * x)
        err = abs(mpmath.mpf(f) - exact)
        folds = -(-n // _K_PRODUCT)
        # (+ the smallest subnormal: an exact value below it rounds to 0)
        bound = ((n + folds + min(n, _K_PRODUCT) + 1) / 2 + 8) * EPS * s + 5e-324
        assert err <= bound, (f, float(exact), float(err), bound)
        # typical data: the errors are random-walk-like, far below the worst case
        assert err <= 8 * EPS * s + 5e-324, (f, float(exact), float(err / (EPS * s)))
    # the batched path gives the same bits at any block position
    P = np.ones((37, 1))
    np.testing.assert_array_equal(obj.values(P), np.full(37, f))
