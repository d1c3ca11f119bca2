"""Non-convex GD/SGD/Adam training of two-layer ReLU networks (the Figure 5 baseline).

Oracles: the objective against an obvious per-neuron loop; gradients against central finite
differences; Adam against a textbook per-step reference; the unbiased minibatch scaling by
summing the minibatch estimates of one epoch; reproducibility by seed; batched = single runs.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex import nonconvex as nc


def toy(n=10, seed=0):
    """The issue's toy problem: X = [Gaussian 2-D | ones], y = +1 if ‖x‖ > 1 else −1."""
    rng = np.random.default_rng(seed)
    Xg = rng.standard_normal((n, 2))
    X = np.hstack([Xg, np.ones((n, 1))])
    y = np.where(np.linalg.norm(Xg, axis=1) > 1, 1.0, -1.0)
    return X, y


def slow_objective(X, y, U, a, beta, loss, bias):
    if bias:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    f = np.zeros(X.shape[0])
    for j in range(U.shape[1]):
        f += np.maximum(X @ U[:, j], 0) * a[j]
    if loss == "squared":
        L = 0.5 * sum((fi - yi) ** 2 for fi, yi in zip(f, y, strict=True))
    elif loss == "logistic":
        L = sum(np.log1p(np.exp(-yi * fi)) for fi, yi in zip(f, y, strict=True))
    else:
        L = sum(max(0.0, 1 - yi * fi) for fi, yi in zip(f, y, strict=True))
    return L + 0.5 * beta * (np.sum(U**2) + np.sum(a**2))


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_objective_matches_loop(rng, loss, bias):
    X = rng.standard_normal((13, 4))
    y = np.sign(rng.standard_normal(13))
    d = 4 + bias
    U = rng.standard_normal((d, 6))
    a = rng.standard_normal(6)
    want = slow_objective(X, y, U, a, 0.3, loss, bias)
    Xa = nc._augment(X, bias)
    mine = nc._objective_batch(Xa, y, U[None], a[None], 0.3, loss)[0]
    assert mine == pytest.approx(want, rel=1e-12)
    # the convex module's formula for the same objective agrees
    assert hc.relu_network_objective(X, y, U, a, 0.3, bias=bias, loss=loss) == pytest.approx(
        want, rel=1e-12
    )


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_training_objective_is_the_native_two_layer_objective(loss):
    """The trained weights evaluated by hiddenconvex.objectives.TwoLayerReLU (Rust) give the
    recorded objective (bias as a data column: both decay it then)."""
    from hiddenconvex.objectives import TwoLayerReLU

    X, y = toy()
    r = hc.train_relu_network(X, y, 5, 0.01, loss=loss, epochs=30, seed=2)
    obj = TwoLayerReLU(X, y, 5, beta=0.01, loss=loss)
    assert obj.value(obj.flatten(r.U, r.alpha)) == pytest.approx(r.final_objective, rel=1e-12)
    g_native = obj.gradient(obj.flatten(r.U, r.alpha))
    gU, ga = nc._gradient_batch(X, y, r.U[None], r.alpha[None], 0.01, loss, 1.0)
    np.testing.assert_allclose(g_native, obj.flatten(gU[0], ga[0]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_gradient_matches_finite_differences(rng, loss):
    X = rng.standard_normal((9, 3))
    y = np.sign(rng.standard_normal(9))
    U = rng.standard_normal((1, 3, 5))
    a = rng.standard_normal((1, 5))
    beta = 0.7
    gU, ga = nc._gradient_batch(X, y, U, a, beta, loss, 1.0)
    theta = np.concatenate([U.ravel(), a.ravel()])

    def F(t):
        return nc._objective_batch(X, y, t[:15].reshape(1, 3, 5), t[15:].reshape(1, 5), beta, loss)[
            0
        ]

    h = 1e-6
    fd = np.array([(F(theta + h * e) - F(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    # away from kinks (generic random point) the objective is smooth around theta
    np.testing.assert_allclose(np.concatenate([gU.ravel(), ga.ravel()]), fd, rtol=1e-6, atol=1e-7)


def test_minibatch_estimates_are_unbiased(rng):
    """Over one epoch's partition, Σ_B (|B|/n)·ĝ_B equals the full gradient (also for a ragged
    last batch)."""
    X = rng.standard_normal((11, 3))
    y = rng.standard_normal(11)
    U = rng.standard_normal((1, 3, 4))
    a = rng.standard_normal((1, 4))
    full_U, full_a = nc._gradient_batch(X, y, U, a, 0.2, "squared", 1.0)
    perm = rng.permutation(11)
    accU = np.zeros_like(full_U)
    acca = np.zeros_like(full_a)
    for k in range(0, 11, 4):
        idx = perm[None, k : k + 4]
        b = idx.shape[1]
        gU, ga = nc._gradient_batch(X[idx], y[idx], U, a, 0.2, "squared", 11 / b)
        accU += b / 11 * gU
        acca += b / 11 * ga
    np.testing.assert_allclose(accU, full_U, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acca, full_a, rtol=1e-12, atol=1e-12)


def test_gd_is_plain_gradient_descent(rng):
    """Two GD steps from a given init equal θ ← θ − lr ∇F(θ) computed by finite differences."""
    X = rng.standard_normal((8, 3))
    y = rng.standard_normal(8)
    U0 = rng.standard_normal((3, 4))
    a0 = rng.standard_normal(4)
    lr = 0.01
    res = hc.train_relu_network(X, y, 4, 0.1, optimizer="gd", lr=lr, epochs=2, init=(U0, a0))
    theta = np.concatenate([U0.ravel(), a0])

    def F(t):
        return slow_objective(X, y, t[:12].reshape(3, 4), t[12:], 0.1, "squared", False)

    h = 1e-6
    for _ in range(2):
        g = np.array([(F(theta + h * e) - F(theta - h * e)) / (2 * h) for e in np.eye(16)])
        theta = theta - lr * g
    np.testing.assert_allclose(res.U.ravel(), theta[:12], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.alpha, theta[12:], rtol=1e-6, atol=1e-8)
    assert res.objective[-1] == pytest.approx(F(theta), rel=1e-8)
    assert res.steps == 2 and res.init == "given"


def test_adam_matches_textbook_reference(rng):
    X = rng.standard_normal((8, 3))
    y = rng.standard_normal(8)
    U0 = rng.standard_normal((3, 4))
    a0 = rng.standard_normal(4)
    lr, beta = 0.05, 0.1
    res = hc.train_relu_network(
        X, y, 4, beta, optimizer="adam", lr=lr, epochs=5, batch_size=8, init=(U0, a0)
    )
    theta = np.concatenate([U0.ravel(), a0])
    m = np.zeros(16)
    v = np.zeros(16)
    for t in range(1, 6):
        gU, ga = nc._gradient_batch(
            X, y, theta[:12].reshape(1, 3, 4), theta[12:].reshape(1, 4), beta, "squared", 1.0
        )
        g = np.concatenate([gU.ravel(), ga.ravel()])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        mh = m / (1 - 0.9**t)
        vh = v / (1 - 0.999**t)
        theta = theta - lr * mh / (np.sqrt(vh) + 1e-8)
    np.testing.assert_allclose(res.U.ravel(), theta[:12], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.alpha, theta[12:], rtol=1e-12, atol=1e-14)


def test_gd_small_step_decreases_monotonically():
    X, y = toy()
    res = hc.train_relu_network(X, y, 6, 1e-3, optimizer="gd", epochs=300, seed=3)
    assert np.all(np.diff(res.objective) <= 1e-12)
    assert res.final_objective < 0.2 * res.objective[0]
    assert res.objective.shape == (301,) and res.times.shape == (301,)
    assert res.U.shape == (3, 6) and res.alpha.shape == (6,)


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adam"])
def test_seed_reproducibility_and_recorded_objective(optimizer):
    X, y = toy()
    kw = dict(optimizer=optimizer, epochs=50, seed=11)
    if optimizer != "gd":
        kw["batch_size"] = 4
    r1 = hc.train_relu_network(X, y, 5, 1e-4, **kw)
    r2 = hc.train_relu_network(X, y, 5, 1e-4, **kw)
    np.testing.assert_array_equal(r1.objective, r2.objective)
    np.testing.assert_array_equal(r1.U, r2.U)
    assert r1.seed == 11
    # the recorded final objective is F at the returned weights, and predict is consistent
    F = hc.relu_network_objective(X, y, r1.U, r1.alpha, 1e-4)
    assert r1.final_objective == pytest.approx(F, rel=1e-12)
    f = r1.predict(X)
    assert 0.5 * np.sum((f - y) ** 2) <= F
    if optimizer != "gd":
        assert r1.steps == 50 * 3  # ceil(10 / 4) steps per epoch
        r3 = hc.train_relu_network(X, y, 5, 1e-4, **{**kw, "seed": 12})
        assert not np.array_equal(r1.objective, r3.objective)


def test_seed_none_is_recorded():
    X, y = toy()
    r = hc.train_relu_network(X, y, 3, 1e-4, epochs=3)
    r2 = hc.train_relu_network(X, y, 3, 1e-4, epochs=3, seed=r.seed)
    np.testing.assert_array_equal(r.objective, r2.objective)


def test_batched_runs_equal_single_runs():
    X, y = toy()
    Xa = np.asarray(X)
    runs = nc._train_runs(
        Xa,
        y,
        4,
        1e-4,
        optimizer="sgd",
        lr=0.01,
        epochs=20,
        batch_size=3,
        seeds=[5, 6, 7],
        loss="squared",
        init="he",
    )
    for r in runs:
        single = hc.train_relu_network(
            X, y, 4, 1e-4, optimizer="sgd", lr=0.01, epochs=20, batch_size=3, seed=r.seed
        )
        np.testing.assert_allclose(r.objective, single.objective, rtol=1e-12)
        np.testing.assert_allclose(r.U, single.U, rtol=1e-12, atol=1e-15)


def test_bias_appends_a_regularised_column():
    X, y = toy()
    Xg = X[:, :2]
    r = hc.train_relu_network(Xg, y, 4, 1e-3, bias=True, epochs=5, seed=0)
    r_explicit = hc.train_relu_network(X, y, 4, 1e-3, bias=False, epochs=5, seed=0)
    np.testing.assert_allclose(r.objective, r_explicit.objective, rtol=1e-12)
    assert r.U.shape == (3, 4) and r.bias
    np.testing.assert_allclose(r.predict(Xg), r_explicit.predict(X), rtol=1e-12)


def test_logistic_training_separates_toy():
    X, y = toy(n=20)
    r = hc.train_relu_network(
        X, y, 10, 1e-4, optimizer="adam", loss="logistic", epochs=2000, seed=0
    )
    assert np.mean(np.sign(r.predict(X)) == y) == 1.0


def test_result_roundtrip(tmp_path):
    X, y = toy()
    r = hc.train_relu_network(X, y, 3, 1e-4, epochs=5, seed=1)
    for name in ("run.npz", "run.json"):
        r.save(tmp_path / name)
        back = hc.load(tmp_path / name)
        assert isinstance(back, hc.TrainingResult)
        np.testing.assert_array_equal(back.objective, r.objective)
        np.testing.assert_array_equal(back.U, r.U)
        assert back.seed == r.seed and back.optimizer == r.optimizer and back.lr == r.lr
    assert "gd" in r.summary() and "seed 1" in r.summary()


def test_progress_callback_called_per_epoch():
    X, y = toy()
    calls = []
    hc.train_relu_network(
        X, y, 3, 1e-4, epochs=7, seed=0, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(k, 7) for k in range(1, 8)]


def test_divergence_is_reported():
    X, y = toy()
    with pytest.raises(hc.NumericalError, match="lower lr"):
        hc.train_relu_network(X, y, 4, 1e-4, lr=50.0, epochs=200, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(y=np.ones(9)), hc.InvalidInputError, "y: expected length 10"),
        (dict(m=0), hc.InvalidInputError, "m: must be >= 1"),
        (dict(m=2.5), hc.InvalidTypeError, "m: expected an integer"),
        (dict(beta=-1.0), hc.InvalidInputError, "beta: must be >= 0"),
        (dict(optimizer="lbfgs"), hc.InvalidInputError, "optimizer: expected one of"),
        (dict(loss="cross"), hc.InvalidInputError, "loss: expected one of"),
        (dict(lr=0.0), hc.InvalidInputError, "lr: must be > 0"),
        (dict(epochs=0), hc.InvalidInputError, "epochs: must be >= 1"),
        (dict(batch_size=3), hc.InvalidInputError, "batch_size: gradient descent"),
        (dict(init="zeros"), hc.InvalidInputError, "init: expected one of"),
        (dict(init=(np.zeros((2, 3)), np.zeros(3))), hc.InvalidInputError, "init: expected"),
        (dict(loss="logistic", y=np.arange(10.0)), hc.InvalidInputError, r"labels in \{-1, \+1\}"),
        (dict(X=np.full((10, 3), np.nan)), hc.InvalidInputError, "X: contains NaN"),
        (dict(X=np.array([["a"] * 3] * 10)), hc.InvalidTypeError, "X: expected a real"),
        (dict(bias="yes"), hc.InvalidTypeError, "bias: expected a bool"),
    ],
)
def test_bad_inputs(kwargs, exc, match):
    X, y = toy()
    args = dict(X=X, y=y, m=3, beta=1e-4)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        hc.train_relu_network(
            args.pop("X"),
            args.pop("y"),
            args.pop("m"),
            args.pop("beta"),
            epochs=args.pop("epochs", 2),
            **args,
        )


def test_relu_problem_train_equals_train_relu_network():
    """The public trainer API: ReluProblem.train(seeds=[...]) trains the same runs, bit for bit,
    as one train_relu_network call per seed, and ReluProblem.objectives is their objective."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 3))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    prob = hc.relu_problem(X, y, 1e-2, loss="logistic", bias=True)
    assert prob.X.shape == (30, 4) and prob.loss == "logistic"
    runs = prob.train(5, seeds=[4, 7], optimizer="sgd", epochs=20)
    for s, r in zip([4, 7], runs, strict=True):
        one = hc.train_relu_network(
            X, y, 5, 1e-2, optimizer="sgd", epochs=20, seed=s, loss="logistic", bias=True
        )
        np.testing.assert_array_equal(r.objective, one.objective)
        np.testing.assert_array_equal(r.U, one.U)
        F = hc.relu_network_objective(X, y, r.U, r.alpha, 1e-2, loss="logistic", bias=True)
        assert abs(prob.objectives(r.U[None], r.alpha[None])[0] - F) <= 1e-12 * F
    with pytest.raises(hc.InvalidInputError, match="batch_size"):
        prob.train(5, seeds=[0], optimizer="gd", batch_size=3)


def test_relu_network_output_matches_neuron_loop():
    """relu_network_output against the definition Σ_j max(x̃ᵀu_j, 0) α_j, one neuron at a time."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 3))
    for bias in (False, True):
        U = rng.standard_normal((3 + int(bias), 5))
        a = rng.standard_normal(5)
        Xa = np.hstack([X, np.ones((7, 1))]) if bias else X
        want = np.zeros(7)
        for j in range(5):
            for i in range(7):
                want[i] += max(float(Xa[i] @ U[:, j]), 0.0) * a[j]
        got = hc.relu_network_output(X, U, a, bias=bias)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    assert np.array_equal(hc.relu_network_output(X, np.zeros((3, 0)), np.zeros(0)), np.zeros(7))
    with pytest.raises(hc.InvalidInputError, match="X: expected 5 columns, got 3"):
        hc.relu_network_output(X, np.ones((5, 2)), np.ones(2))
    with pytest.raises(hc.InvalidInputError, match="alpha: expected 2 entries"):
        hc.relu_network_output(X, np.ones((3, 2)), np.ones(3))
    with pytest.raises(hc.InvalidTypeError):
        hc.relu_network_output(X, np.ones((3, 2)), np.ones(2), bias="yes")


def test_training_result_predict_is_the_network_output():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((12, 2)), rng.standard_normal(12)
    r = hc.train_relu_network(X, y, 3, 1e-3, epochs=5, seed=0, bias=True)
    Xt = rng.standard_normal((4, 2))
    np.testing.assert_array_equal(
        r.predict(Xt), hc.relu_network_output(Xt, r.U, r.alpha, bias=True)
    )
    want = np.maximum(np.hstack([Xt, np.ones((4, 1))]) @ r.U, 0.0) @ r.alpha
    np.testing.assert_allclose(r.predict(Xt), want, rtol=1e-13, atol=1e-14)
