"""Oracle tests of the wedge-product Lasso (hiddenconvex.wedge).

Equalities (within 1e-6) in every case where the Lasso is proven exact, on 20+ random problems:
the Lasso optimum = the non-convex objective of the recovered network = the exact convex program
of the same regulariser (this project's ConvexReLU for ℓ2 weight decay; the same program with the
ℓ1 neuron norm / a free bias, solved by cvxpy over every open chamber). Where the regulariser
differs from ConvexReLU's, both numbers are computed and the theorem's inequality is asserted.
Closed forms: neurons orthogonal to / through training samples, breakpoints at samples, signed
volumes equal to determinants; exact signs against rational arithmetic.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest
from _interrupt import run_interrupted
from _reference_wedge import cross_product_loop, cvxpy_lasso, cvxpy_relu_norm, det_fraction
from hiddenconvex.exceptions import (
    HiddenConvexError,
    InvalidInputError,
    InvalidTypeError,
    ResourceLimitError,
)

SEEDS = range(20)
EQ = 1e-6


def _problem(seed: int, n: int, d: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    beta = float(rng.uniform(0.02, 0.5))
    return X, y, beta


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


def _patterns(X: np.ndarray, bias: bool = False) -> np.ndarray:
    return hc.chambers(X, method="exact", bias=bias).patterns


# -- proven cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("d", [2, 3])
def test_l1_norm_with_axes_is_exact(seed, d):
    # Exact case: ℓ1 neuron norm, factors = samples ∪ axes (LP-vertex argument, docs/wedge.md).
    X, y, beta = _problem(100 * d + seed, 7, d)
    m = hc.WedgeLasso(beta, norm="l1", tol=1e-10).fit(X, y)
    assert m.theorem_ == "exact"
    oracle = cvxpy_relu_norm(X, y, _patterns(X), beta, norm="l1")
    assert _rel(m.objective_, oracle) < EQ
    assert _rel(m.network_objective(X, y), oracle) < EQ
    assert m.dual_objective_ <= oracle + 1e-7
    assert m.certified_
    # side by side with ConvexReLU (ℓ2 weight decay): ‖w‖₂ ≤ ‖w‖₁ ≤ √d‖w‖₂ gives
    # p*_ℓ2(β) ≤ p*_ℓ1(β) ≤ p*_ℓ2(√d β)
    lo = hc.ConvexReLU(beta, tol=1e-10).fit(X, y).objective_
    hi = hc.ConvexReLU(beta * np.sqrt(d), tol=1e-10).fit(X, y).objective_
    assert lo - EQ <= m.objective_ <= hi + EQ


@pytest.mark.parametrize("seed", SEEDS)
def test_one_dimensional_without_bias_equals_convex_relu(seed):
    # d = 1: the only neurons are (±x)₊ (the empty wedge); exact for any norm.
    X, y, beta = _problem(seed, 9, 1)
    for norm in ("l2", "l1"):
        m = hc.WedgeLasso(beta, norm=norm, tol=1e-10).fit(X, y)
        assert m.theorem_ == "exact"
        c = hc.ConvexReLU(beta, tol=1e-10).fit(X, y)
        assert _rel(m.objective_, c.objective_) < EQ
        assert _rel(m.network_objective(X, y), c.objective_) < EQ


@pytest.mark.parametrize("seed", SEEDS)
def test_one_dimensional_with_free_bias_is_exact(seed):
    # 1-D data, neurons (wx + b)₊ with free bias and output offset: breakpoints at samples.
    X, y, beta = _problem(1000 + seed, 8, 1)
    m = hc.WedgeLasso(beta, bias=True, tol=1e-10).fit(X, y)
    assert m.theorem_ == "exact"
    oracle = cvxpy_relu_norm(X, y, _patterns(X, bias=True), beta, free_bias=True)
    assert _rel(m.objective_, oracle) < EQ
    assert _rel(m.network_objective(X, y), oracle) < EQ
    assert m.certified_
    # side by side: ConvexReLU(bias=True) penalises the bias too, so its optimum is larger
    c = hc.ConvexReLU(beta, bias=True, tol=1e-10).fit(X, y)
    assert m.objective_ <= c.objective_ + EQ
    # closed form: every active neuron has |w| = 1 and its breakpoint -b/w at a training sample
    U, a = m.to_network()
    w, b = U[0], U[1]
    assert np.allclose(np.abs(w), np.abs(a), rtol=1e-12)  # balanced: |w_j| = |α_j|
    bp = -b / w
    assert np.all(np.min(np.abs(bp[:, None] - X[:, 0][None, :]), axis=1) < 1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("d", [2, 3])
def test_l2_is_a_restriction_of_convex_relu(seed, d):
    # ℓ2 weight decay, d ≥ 2: the wedge Lasso restricts the neurons, so it bounds ConvexReLU's
    # exact optimum from above; its recovered network attains the Lasso objective.
    X, y, beta = _problem(200 * d + seed, 7, d)
    m = hc.WedgeLasso(beta, tol=1e-10).fit(X, y)
    assert m.theorem_ == "restriction"
    c = hc.ConvexReLU(beta, tol=1e-10).fit(X, y)
    assert m.objective_ >= c.objective_ - EQ
    assert _rel(m.network_objective(X, y), m.objective_) < EQ
    # and the relative gap certificate holds for the Lasso itself
    assert m.relative_gap_ <= 1e-10


# -- deeper networks: the last two layers over fixed lower layers ---------------------------


def _deep_problem(seed: int, n: int, d: int, widths: tuple[int, ...]):
    X, y, beta = _problem(seed, n, d)
    rng = np.random.default_rng(10_000 + seed)
    layers, k_in = [], d
    for k in widths:
        layers.append((rng.standard_normal((k_in, k)), rng.uniform(1.0, 2.0, k)))
        k_in = k
    return X, y, beta, layers


def _forward(X, layers):
    H = X
    for W, b in layers:
        H = np.maximum(H @ W + b, 0.0)
    return H


def _deep_objective(X, y, beta, model, norm):
    # independent of hiddenconvex's objective: explicit forward pass of the whole network
    net = model.to_layers()
    H = _forward(X, net)
    pred = H @ model.alpha_ + model.intercept_
    W_last = net[-1][0]
    wn = np.abs(W_last).sum(axis=0) if norm == "l1" else np.linalg.norm(W_last, axis=0)
    return 0.5 * np.sum((pred - y) ** 2) + 0.5 * beta * (np.sum(wn**2) + np.sum(model.alpha_**2))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("widths", [(2,), (3, 2)])
def test_deep_l1_last_two_layers_are_exact(seed, widths):
    # depth 3 and 4, ℓ1 neuron norm: the last hidden layer's optimal neurons are wedge products
    # of the previous layer's outputs h(x_i) (and axes); Lasso = training the last two layers.
    X, y, beta, layers = _deep_problem(300 + seed, 7, 3, widths)
    H = _forward(X, layers)
    m = hc.WedgeLasso(beta, depth=len(widths) + 2, layers=layers, norm="l1", tol=1e-10).fit(X, y)
    assert m.theorem_ == "exact" and m.certified_
    oracle = cvxpy_relu_norm(H, y, _patterns(H), beta, norm="l1")
    assert _rel(m.objective_, oracle) < EQ
    assert _rel(_deep_objective(X, y, beta, m, "l1"), oracle) < EQ
    assert _rel(m.network_objective(X, y), oracle) < EQ
    # the recovered hidden neurons are orthogonal to widths[-1] − 1 factors among h(x_i), e_k
    U, _ = m.to_network()
    F = np.vstack([H, np.eye(H.shape[1])])
    cos = np.abs(F @ U) / np.outer(np.linalg.norm(F, axis=1) + 1e-300, np.linalg.norm(U, axis=0))
    assert np.all(np.sum(cos < 1e-9, axis=0) >= widths[-1] - 1)
    assert m.predict(X) == pytest.approx(_forward(X, m.to_layers()) @ m.alpha_, abs=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_deep_width_one_representation_equals_convex_relu(seed):
    # depth 3 whose lower layer has one unit: the last two layers see 1-D data, exact for ℓ2
    # weight decay, and equal ConvexReLU on h(X)
    X, y, beta, layers = _deep_problem(400 + seed, 9, 2, (1,))
    H = _forward(X, layers)
    m = hc.WedgeLasso(beta, depth=3, layers=layers, tol=1e-10).fit(X, y)
    assert m.theorem_ == "exact" and m.certified_
    c = hc.ConvexReLU(beta, tol=1e-10).fit(H, y)
    assert _rel(m.objective_, c.objective_) < EQ
    assert _rel(_deep_objective(X, y, beta, m, "l2"), c.objective_) < EQ


@pytest.mark.parametrize("seed", range(3))
def test_deep_l2_is_a_restriction_of_convex_relu_on_the_representation(seed):
    X, y, beta, layers = _deep_problem(500 + seed, 8, 3, (3,))
    H = _forward(X, layers)
    m = hc.WedgeLasso(beta, depth=3, layers=layers, tol=1e-10).fit(X, y)
    assert m.theorem_ == "restriction"
    assert m.objective_ >= hc.ConvexReLU(beta, tol=1e-10).fit(H, y).objective_ - EQ
    assert _rel(_deep_objective(X, y, beta, m, "l2"), m.objective_) < EQ


# -- closed forms and exact arithmetic -----------------------------------------------------


def test_two_dimensional_neurons_are_orthogonal_to_samples():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 2))
    D = hc.wedge_dictionary(X)
    assert D.neurons.shape == (6, 2)
    for u, (j,) in zip(D.neurons, D.subsets, strict=True):
        assert u @ X[j] == pytest.approx(0.0, abs=1e-15)
        # the rotation of x_j by 90 degrees, unit ℓ2 norm
        rot = np.array([-X[j, 1], X[j, 0]]) / np.linalg.norm(X[j])
        assert min(np.abs(u - rot).max(), np.abs(u + rot).max()) < 1e-14
    # a factor sample's own value is exactly zero
    assert all(D.values[t, j] == 0.0 for t, (j,) in enumerate(D.subsets))


def test_three_dimensional_neurons_are_cross_products_and_values_signed_volumes():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6, 3))
    D = hc.wedge_dictionary(X)
    assert D.neurons.shape[0] == 15
    for t, (a, b) in enumerate(D.subsets):
        c = np.cross(X[a], X[b])
        assert cross_product_loop(X[[a, b]]) == pytest.approx(c, abs=1e-13)
        u = D.neurons[t]
        # same direction as x_a × x_b (orientation free), unit norm
        assert abs(abs(u @ c) - np.linalg.norm(c)) < 1e-12
        s = np.sign(u @ c)
        vol = np.array([np.linalg.det(np.stack([x, X[a], X[b]])) for x in X])
        assert D.values[t] == pytest.approx(s * vol / np.linalg.norm(c), abs=1e-12)


def test_degenerate_subsets_are_dropped_exactly_and_near_planar_signs_are_exact():
    X = np.array(
        [
            [1.0, 0.0, 0.0],
            [2.0, 0.0, 0.0],  # collinear with sample 0: zero wedge
            [0.0, 1.0, 0.0],
            [1.0, 1.0, 0.0],  # exactly on the plane of 0 and 2
            [0.3, 0.7, 1e-30],  # a hair above it
            [0.1, 0.2, -3e-300],  # a hair below, near the underflow limit
        ]
    )
    D = hc.wedge_dictionary(X)
    assert D.n_degenerate == 1  # the pair (0, 1) only
    assert D.n_subsets == 15 and D.neurons.shape[0] == 14
    assert D.n_exact_signs > 0
    for t, sub in enumerate(D.subsets):
        rows = X[sub]
        # orientation of this neuron against the exact cofactor vector
        ref = det_fraction(np.vstack([D.neurons[t], rows]))
        assert ref != 0
        for i in range(len(X)):
            exact = det_fraction(np.vstack([X[i], rows]))
            sgn = (exact > 0) - (exact < 0)
            if ref < 0:
                sgn = -sgn
            assert np.sign(D.values[t, i]) == sgn, (sub, i)


def test_l1_dictionary_includes_axes():
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    D = hc.wedge_dictionary(X, norm="l1", axes=True)
    assert D.neurons.shape[0] == 4
    assert np.allclose(np.abs(D.neurons).sum(axis=1), 1.0)
    # axis factors are indexed n + k
    assert sorted(int(s[0]) for s in D.subsets) == [0, 1, 2, 3]


# -- sampled variant ---------------------------------------------------------------------------


def test_sampled_features_are_seeded_and_thread_independent():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 5))
    y = rng.standard_normal(300)
    old = hc.thread_count()
    try:
        hc.set_thread_count(1)
        a = hc.WedgeLasso(30.0, features="sample", n_features=600, seed=11, tol=1e-6).fit(X, y)
        hc.set_thread_count(2)
        b = hc.WedgeLasso(30.0, features="sample", n_features=600, seed=11, tol=1e-6).fit(X, y)
    finally:
        hc.set_thread_count(old)
    assert np.array_equal(a.dictionary_.subsets, b.dictionary_.subsets)
    assert a.objective_ == b.objective_
    assert a.result_.seed == 11 and a.theorem_ == "restriction"
    c = hc.WedgeLasso(30.0, features="sample", n_features=600, seed=12, tol=1e-6).fit(X, y)
    assert not np.array_equal(a.dictionary_.subsets, c.dictionary_.subsets)
    # the sampled dictionary is a sub-dictionary: its optimum bounds the full one from above
    assert np.all(np.diff(a.dictionary_.subsets, axis=1) > 0)


def test_sampled_bounds_exact_dictionary_from_above():
    X, y, _ = _problem(77, 30, 3)
    beta = 3.0
    full = hc.WedgeLasso(beta, tol=1e-10).fit(X, y)
    part = hc.WedgeLasso(beta, features="sample", n_features=40, seed=0, tol=1e-10).fit(X, y)
    assert part.objective_ >= full.objective_ - EQ


# -- persistence and the estimator protocol -------------------------------------------------


@pytest.mark.parametrize("ext", ["npz", "json"])
def test_save_load_roundtrip(tmp_path, ext):
    X, y, beta = _problem(4, 10, 1)
    m = hc.WedgeLasso(beta, bias=True).fit(X, y)
    path = m.save(tmp_path / f"fit.{ext}")
    r = hc.load(path)
    assert isinstance(r, hc.WedgeFitResult)
    assert r.objective == m.objective_
    m2 = hc.WedgeLasso.load(path)
    assert np.allclose(m2.predict(X), m.predict(X), rtol=0, atol=1e-12)
    assert "Wedge Lasso" in m2.summary()
    assert m2.network_objective(X, y) == pytest.approx(m.network_objective(X, y), abs=1e-12)
    # a deep fit keeps its fixed lower layers
    Xd, yd, bd, layers = _deep_problem(5, 8, 3, (2,))
    md = hc.WedgeLasso(bd, depth=3, layers=layers, norm="l1").fit(Xd, yd)
    md2 = hc.WedgeLasso.load(md.save(tmp_path / f"deep.{ext}"))
    assert md2.depth == 3 and len(md2.to_layers()) == 2
    assert np.allclose(md2.predict(Xd), md.predict(Xd), rtol=0, atol=1e-12)


def test_network_format_matches_convex_relu():
    X, y, beta = _problem(8, 9, 2)
    m = hc.WedgeLasso(beta).fit(X, y)
    U, a = m.to_network()
    assert U.shape == (2, a.shape[0]) and a.ndim == 1
    # the ConvexReLU objective formula (bias penalised: none here) agrees
    assert hc.relu_network_objective(X, y, U, a, beta) == pytest.approx(
        m.network_objective(X, y), abs=1e-12
    )
    assert m.predict(X) == pytest.approx(np.maximum(X @ U, 0) @ a, abs=1e-12)


# -- the Lasso solver: small β, linearly dependent supports --------------------------------


@pytest.mark.parametrize(("n", "seed"), [(100, 0), (60, 1), (60, 2), (60, 3)])
def test_small_beta_with_dependent_columns_reaches_the_lasso_optimum(n, seed):
    # β = 0.0005 n on Gaussian data (the bench grid's hard end): near interpolation, and the
    # dictionary's columns are linearly dependent ((s)₊ − (−s)₊ = Xu spans only d directions),
    # so optimal supports can be singular. The solver keeps its active columns independent and
    # must reach the Lasso optimum of an independent oracle (cvxpy + Clarabel on the same
    # dictionary) with a certificate at the default tolerance.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = rng.standard_normal(n)
    beta = 0.0005 * n
    m = hc.WedgeLasso(beta).fit(X, y)
    r = m.result_
    assert r.converged and r.relative_gap <= 1e-8
    oracle = cvxpy_lasso(m.dictionary_.values, y, beta)
    assert _rel(m.objective_, oracle) < EQ
    assert r.dual_objective <= oracle + 1e-7 * max(1.0, oracle)
    assert _rel(m.network_objective(X, y), m.objective_) < EQ
    # the support's columns are linearly independent (at most n of them)
    z = m.coef_
    act = np.flatnonzero(z)
    V = m.dictionary_.values
    A = np.maximum(np.where(act % 2 == 0, 1.0, -1.0)[:, None] * V[act // 2], 0.0)
    assert np.linalg.matrix_rank(A) == act.size <= n


def test_ctrl_c_stops_the_lasso(tmp_path):
    # in a child process (tests/_interrupt.py): no signal reaches the test process. A gap
    # tolerance below rounding keeps the Lasso's outer loop running for its 10⁷ rounds; asserted:
    # KeyboardInterrupt, stopped at a cancellation check before the round limit, no model
    rng = np.random.default_rng(4)
    X = rng.standard_normal((2000, 10))
    y = X[:, 0] * X[:, 1] + 0.1 * rng.standard_normal(2000)
    np.savez(tmp_path / "w.npz", X=X, y=y)
    setup = f"d = np.load({str(tmp_path / 'w.npz')!r}); X, y = d['X'], d['y']"
    call = (
        'result = hc.WedgeLasso(1e-4, features="sample", n_features=2000, seed=0, tol=1e-300, '
        "max_iter=10**7).fit(X, y)"
    )
    res = run_interrupted(setup, call, delay=1.0)
    assert res["outcome"] == "interrupted"
    assert res["stopped_early"] is True
    done, total = res["progress"]
    # the Lasso's rounds (total 10⁷) or the dictionary's 2000 subsets: a signal landing while
    # the dictionary's parts are merged stops at a check there, every subset counted
    assert total == 0 or done < total or total == 2000
    assert res["result"] is None


# -- bad input ---------------------------------------------------------------------------------


def test_bad_inputs():
    X, y, _ = _problem(0, 6, 2)
    with pytest.raises(InvalidInputError, match="beta"):
        hc.WedgeLasso(0.0).fit(X, y)
    with pytest.raises(InvalidInputError, match="depth"):
        hc.WedgeLasso(0.1, depth=1).fit(X, y)
    # a depth-L network needs L − 2 fixed lower layers of matching shapes
    with pytest.raises(InvalidInputError, match="layers"):
        hc.WedgeLasso(0.1, depth=3).fit(X, y)
    with pytest.raises(InvalidInputError, match="layers"):
        hc.WedgeLasso(0.1, layers=[(np.eye(2), None)]).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"layers\[0\]\[0\]"):
        hc.WedgeLasso(0.1, depth=3, layers=[(np.ones((3, 2)), None)]).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"layers\[1\]\[1\]"):
        hc.WedgeLasso(0.1, depth=4, layers=[(np.eye(2), None), (np.eye(2), np.ones(3))]).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"layers\[0\]"):
        hc.WedgeLasso(0.1, depth=3, layers=[np.eye(2)]).fit(X, y)
    with pytest.raises(InvalidInputError, match=r"layers\[0\]\[0\]"):
        hc.WedgeLasso(0.1, depth=3, layers=[(np.full((2, 2), np.inf), None)]).fit(X, y)
    with pytest.raises(InvalidInputError, match="norm"):
        hc.WedgeLasso(0.1, norm="l3").fit(X, y)
    with pytest.raises(InvalidInputError, match="features"):
        hc.WedgeLasso(0.1, features="all").fit(X, y)
    with pytest.raises(InvalidInputError, match="n_features"):
        hc.WedgeLasso(0.1, features="sample", n_features=0).fit(X, y)
    Xn = X.copy()
    Xn[1, 1] = np.nan
    with pytest.raises(InvalidInputError, match="X"):
        hc.WedgeLasso(0.1).fit(Xn, y)
    with pytest.raises(InvalidInputError, match="y"):
        hc.WedgeLasso(0.1).fit(X, y[:-1])
    with pytest.raises(InvalidTypeError):
        hc.WedgeLasso(0.1).fit("abc", y)
    with pytest.raises(InvalidInputError, match="X"):
        hc.WedgeLasso(0.1).fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(HiddenConvexError, match="not fitted"):
        hc.WedgeLasso(0.1).predict(X)
    with pytest.raises(ResourceLimitError, match="estimated"):
        hc.wedge_dictionary(np.random.default_rng(0).standard_normal((400, 4)), max_bytes=10_000)
    # too few factors for a wedge in this dimension
    with pytest.raises(InvalidInputError, match="factors"):
        hc.wedge_dictionary(np.ones((2, 4)))
    # every subset degenerate (all samples on one line)
    with pytest.raises(InvalidInputError, match="degenerate"):
        hc.WedgeLasso(0.1).fit(np.outer(np.arange(1.0, 5.0), [1.0, 2.0, 3.0]), np.ones(4))
    m = hc.WedgeLasso(0.1).fit(X, y)
    with pytest.raises(InvalidInputError, match="columns"):
        m.predict(np.ones((3, 5)))
    with pytest.raises(InvalidInputError):
        hc.WedgeLasso(0.1).set_params(nope=1)


def test_dtype_coercion_is_exact():
    rng = np.random.default_rng(2)
    Xi = rng.integers(-5, 6, size=(8, 2))
    y = rng.standard_normal(8)
    a = hc.WedgeLasso(0.1).fit(Xi, y)
    b = hc.WedgeLasso(0.1).fit(Xi.astype(np.float64), y)
    assert a.objective_ == b.objective_


def test_plot_and_comparison(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 2))
    y = np.abs(X[:, 0]) - X[:, 1]
    m = hc.WedgeLasso(0.1).fit(X, y)
    p = hc.plot_wedge_neurons(X, m, tmp_path / "w.png")
    assert p.stat().st_size > 0
    rows = hc.compare_wedge(X, y, 0.1, epochs=50)
    assert [r["method"].split()[0] for r in rows] == ["wedge", "exact", "Adam"]
    # the wedge Lasso (ℓ2, d = 2) is a restriction: never below the exact convex optimum
    assert rows[0]["objective"] >= rows[1]["objective"] - EQ
