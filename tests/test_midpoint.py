"""Midpoint-convexity tests: oracles are closed forms (quadratics, affine functions), a slow NumPy
reference of the gaps (tests/_reference_midpoint.py), exact rational arithmetic, the binomial
definition of Clopper–Pearson and scipy.stats.beta."""

from __future__ import annotations

import math

import _reference_midpoint as ref
import hiddenconvex as hc
import numpy as np
import pytest
from _interrupt import run_interrupted
from hiddenconvex import _core
from hiddenconvex.midpoint import _betainc, _ecnoise, _one_sided_upper

SCALES = (1e-3, 1.0, 30.0)


def _data(rng, n=60, d=8):
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = X @ w + 0.3 * rng.standard_normal(n)
    ys = np.where(X @ w + 0.5 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y, ys


# ---------------------------------------------------------------------------------------------
# Clopper–Pearson
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 7, 30, 100, 1000, 100_000])
def test_clopper_pearson_matches_scipy_beta(n):
    stats = pytest.importorskip("scipy.stats")
    for k in sorted({0, 1, 2, n // 3, n // 2, n - 1, n}):
        if not 0 <= k <= n:
            continue
        lo, hi = hc.clopper_pearson(k, n)
        want_lo = 0.0 if k == 0 else stats.beta.ppf(0.025, k, n - k + 1)
        want_hi = 1.0 if k == n else stats.beta.ppf(0.975, k + 1, n - k)
        assert lo == pytest.approx(want_lo, rel=1e-9, abs=1e-14)
        assert hi == pytest.approx(want_hi, rel=1e-9, abs=1e-14)
        up = _one_sided_upper(k, n)
        want_up = 1.0 if k == n else stats.beta.ppf(0.95, k + 1, n - k)
        assert up == pytest.approx(want_up, rel=1e-9, abs=1e-14)


def test_clopper_pearson_by_its_definition_and_rule_of_three():
    for k, n in [(0, 20), (3, 20), (10, 20), (20, 20), (1, 57)]:
        lo, hi = hc.clopper_pearson(k, n)
        rlo, rhi = ref.clopper_pearson_bisect(k, n)
        assert lo == pytest.approx(rlo, abs=1e-10)
        assert hi == pytest.approx(rhi, abs=1e-10)
    n = 100_000
    assert _one_sided_upper(0, n) == pytest.approx(3.0 / n, rel=2e-3)
    stats = pytest.importorskip("scipy.special")
    for a, b, x in [(0.5, 0.5, 0.3), (3.0, 200.0, 0.01), (50.0, 2.0, 0.97), (1.0, 1.0, 0.25)]:
        assert _betainc(a, b, x) == pytest.approx(stats.betainc(a, b, x), rel=1e-12)


def test_clopper_pearson_bad_input():
    with pytest.raises(hc.InvalidInputError, match="n"):
        hc.clopper_pearson(0, 0)
    with pytest.raises(hc.InvalidInputError, match="k"):
        hc.clopper_pearson(5, 4)
    with pytest.raises(hc.InvalidInputError, match="confidence"):
        hc.clopper_pearson(1, 4, confidence=1.0)


# ---------------------------------------------------------------------------------------------
# Convex and affine functions: zero violations beyond tolerance
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["least_squares", "logistic", "hinge"])
def test_convex_losses_as_callables_have_no_violation(rng, kind):
    X, y, ys = _data(rng)
    f = {
        "least_squares": ref.least_squares(X, y),
        "logistic": ref.logistic(X, ys),
        "hinge": ref.hinge(X, ys),
    }[kind]
    center = rng.standard_normal(X.shape[1])
    rep = hc.midpoint_test(
        f, dim=X.shape[1], vectorized=True, n_pairs=34_000, seed=11, center=center, scales=SCALES
    )
    assert rep.pairs_tested >= 100_000
    assert rep.n_violations == 0, rep.summary()
    assert not rep.certified
    assert rep.verdict.startswith("no violation found: rate < ")
    assert "iid N(0, I_D)" in rep.verdict
    assert rep.upper_95 == pytest.approx(1 - 0.05 ** (1 / rep.pairs_tested))
    assert all(s["violations"] == 0 for s in rep.per_scale)
    assert rep.gap_quantiles["0.5"] >= 0.0


@pytest.mark.parametrize("vectorized", [True, False])
def test_affine_at_D_1000_and_large_theta_has_no_violation(rng, vectorized):
    d = 1000
    w = rng.standard_normal(d)
    c = 1e3 * rng.uniform(-1.0, 1.0, d)

    def f_vec(T):
        return T @ w + 7.0

    def f_scalar(t):
        return float(t @ w + 7.0)

    n = 20_000 if vectorized else 300
    rep = hc.midpoint_test(
        f_vec if vectorized else f_scalar,
        dim=d,
        vectorized=vectorized,
        n_pairs=n,
        seed=5,
        center=c,
        scales=SCALES,
        t=(0.5, 0.3),
    )
    assert rep.n_violations == 0, rep.summary()
    # Plenty of raw negative gaps (rounding), none beyond tolerance: the tolerance is doing work.
    assert rep.n_negative > 0
    assert rep.tolerance["kind"] == "noise"
    assert all(s > 0 for s in rep.tolerance["sigma"])


def test_zero_tolerance_would_call_an_affine_function_non_convex(rng):
    """The failure of fixed-epsilon testers, shown on the raw counts."""
    d = 200
    w = rng.standard_normal(d)
    rep = hc.midpoint_test(
        lambda T: T @ w, dim=d, vectorized=True, n_pairs=2000, seed=1, center=np.full(d, 500.0)
    )
    assert rep.n_negative > 100
    assert rep.n_violations == 0


# ---------------------------------------------------------------------------------------------
# Non-convexity is certified
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vectorized", [True, False])
def test_one_hidden_unit_example_is_certified_non_convex(vectorized):
    scalar, vec = ref.one_hidden_unit(x0=1.0, b0=0.0, b1=0.0)
    rep = hc.midpoint_test(
        vec if vectorized else scalar,
        dim=2,
        vectorized=vectorized,
        n_pairs=3000 if vectorized else 400,
        seed=2,
        scales=(1.0, 3.0),
    )
    assert rep.certified, rep.summary()
    assert rep.verdict == "NOT CONVEX (certified witness)"
    w = rep.witness
    assert w is not None and w.certified
    # Re-check the witness in plain Python with exact rational arithmetic.
    fa, fb = scalar(w.a), scalar(w.b)
    fm = scalar(w.t * w.a + (1 - w.t) * w.b)
    assert (fa, fb, fm) == (w.fa, w.fb, w.fm)
    assert ref.exact_gap(w.t, fa, fb, fm) == w.gap_verified
    assert w.gap_verified < -w.tol_verified
    lo, hi = rep.ci_low, rep.ci_high
    assert 0 < lo <= rep.rate <= hi < 1


def test_concave_function_every_pair_violates_and_kappa_is_exact():
    rep = hc.midpoint_test(
        lambda T: -np.sum(T * T, axis=1), dim=4, vectorized=True, n_pairs=500, seed=3, t=(0.5, 0.2)
    )
    assert rep.n_violations == rep.pairs_tested == 1500
    assert rep.rate == 1.0
    # f = −‖θ‖²: g = −t(1−t)‖b−a‖², so κ = 2g/(t(1−t)‖b−a‖²) = −2 exactly (up to rounding).
    assert rep.kappa_quantiles["0"] == pytest.approx(-2.0, rel=1e-9)
    assert rep.kappa_quantiles["1"] == pytest.approx(-2.0, rel=1e-9)
    assert rep.witness.kappa == pytest.approx(-2.0, rel=1e-9)


def test_permutation_pairs_certify_a_two_layer_relu_every_time(rng):
    for trial in range(10):
        r = np.random.default_rng(trial)
        n, d, m = 40, 3, 4
        X = r.standard_normal((n, d))
        theta = r.standard_normal(m * d + m)
        # Teacher = student: θ is a global minimiser (loss 0), so f(m) > f(θ) at any midpoint
        # that changes the network function.
        f0, units = ref.two_layer_relu(X, np.zeros(n), m)
        y = f0_out = None
        U = theta[: m * d].reshape(m, d)
        y = np.maximum(0.0, X @ U.T) @ theta[m * d :]
        f, units = ref.two_layer_relu(X, y, m)
        del f0, f0_out
        pairs = hc.permutation_pairs(units(), theta)
        assert len(pairs.labels) == m * (m - 1) // 2
        np.testing.assert_allclose(f(pairs.a), f(pairs.b), atol=1e-12)
        rep = hc.midpoint_test(f, dim=theta.size, vectorized=True, pairs=pairs)
        assert rep.certified, rep.summary()
        assert rep.n_violations == rep.pairs_tested
        assert "given pairs" in rep.distribution
    # Random pairs at scale 1 around such a θ find some violations too.
    rep = hc.midpoint_test(
        f, dim=theta.size, vectorized=True, n_pairs=4000, seed=1, center=theta, scales=(1.0,)
    )
    assert rep.n_violations > 0 and rep.certified


def test_rescaling_and_sign_flip_pairs(rng):
    n, d, m = 30, 3, 3
    X = rng.standard_normal((n, d))
    theta = rng.standard_normal(m * d + m)
    U = theta[: m * d].reshape(m, d)
    y = np.maximum(0.0, X @ U.T) @ theta[m * d :]
    f, units = ref.two_layer_relu(X, y, m)
    pairs = hc.rescaling_pairs(units(), theta, c=(2.0, 0.5))
    np.testing.assert_allclose(f(pairs.a), f(pairs.b), atol=1e-12)  # positive homogeneity
    rep = hc.midpoint_test(f, dim=theta.size, vectorized=True, pairs=pairs)
    assert rep.certified
    # tanh network: odd activation, sign flips keep f.
    uin = [np.arange(j * d, (j + 1) * d) for j in range(m)]
    uout = [np.array([m * d + j]) for j in range(m)]

    def g(T):
        T = np.atleast_2d(T)
        Uk = T[:, : m * d].reshape(-1, m, d)
        out = np.einsum("bnm,bm->bn", np.tanh(np.einsum("nd,bmd->bnm", X, Uk)), T[:, m * d :])
        yt = np.tanh(X @ U.T) @ theta[m * d :]
        return 0.5 * np.mean((out - yt) ** 2, axis=1)

    sp = hc.sign_flip_pairs(None, theta, incoming=uin, outgoing=uout)
    assert len(sp.labels) == m
    np.testing.assert_allclose(g(sp.a), g(sp.b), atol=1e-12)
    rep = hc.midpoint_test(g, dim=theta.size, vectorized=True, pairs=sp)
    assert rep.certified
    with pytest.raises(hc.InvalidInputError, match="incoming"):
        hc.sign_flip_pairs([np.arange(3), np.arange(3, 6)], np.ones(6))
    with pytest.raises(hc.InvalidInputError, match="c"):
        hc.rescaling_pairs(units(), theta, c=(1.0,))
    with pytest.raises(hc.InvalidInputError, match="two hidden units"):
        hc.permutation_pairs([np.arange(3)], np.ones(3))
    with pytest.raises(hc.InvalidInputError, match="identical"):
        hc.permutation_pairs([np.arange(2), np.arange(2, 4)], np.ones(4))


# ---------------------------------------------------------------------------------------------
# Oracles for the pieces: pairs, gaps, tolerances
# ---------------------------------------------------------------------------------------------
def test_gaps_match_the_numpy_reference(rng):
    X, y, _ = _data(rng, n=20, d=5)
    f = ref.least_squares(X, y)
    ts = (0.5, 0.25, 0.9)
    rep = hc.midpoint_test(f, dim=5, vectorized=True, n_pairs=50, seed=4, scales=(0.1, 10.0), t=ts)
    a, b = _core.midpoint_pairs(np.zeros(5), [0.1, 10.0], 50, rep.seed, None, list(range(100)))
    want = ref.jensen_gaps(lambda v: f(v)[0], a, b, ts)
    np.testing.assert_allclose(rep.gaps, want, rtol=1e-9, atol=1e-12)
    # Closed form of a quadratic: g = t(1−t)/(2n) ‖X(b − a)‖².
    tt = np.asarray(ts)
    exact = tt * (1 - tt) * 0.5 * np.mean(((b - a) @ X.T) ** 2, axis=1)[:, None]
    np.testing.assert_allclose(rep.gaps, exact, rtol=1e-7, atol=1e-9)


def test_pair_distribution_is_the_stated_one():
    d, n = 6, 4000
    c = np.arange(d, dtype=float)
    a, b = _core.midpoint_pairs(c, [2.0], n, 99, None, list(range(n)))
    z = np.vstack([(a - c) / 2.0, (b - c) / 2.0])
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert z.var() == pytest.approx(1.0, abs=0.05)
    assert abs(np.corrcoef(z[:n, 0], z[n:, 0])[0, 1]) < 0.1  # z1, z2 independent
    # Same seed → same pairs; other seed → other pairs; pair k does not depend on the others.
    a2, _ = _core.midpoint_pairs(c, [2.0], n, 99, None, [17])
    np.testing.assert_array_equal(a2[0], a[17])
    a3, _ = _core.midpoint_pairs(c, [2.0], n, 100, None, [17])
    assert not np.array_equal(a3[0], a[17])


def test_ecnoise_recovers_a_known_noise_level():
    r = np.random.default_rng(0)
    sig = []
    for _ in range(50):
        vals = 1.0 + 0.01 * np.arange(9) + 1e-6 * r.standard_normal(9)
        s, inform = _ecnoise(vals)
        if inform == 1:
            sig.append(s)
    assert len(sig) > 40
    assert np.median(sig) == pytest.approx(1e-6, rel=0.3)
    assert _ecnoise(np.ones(9))[1] == 2  # step too small
    assert _ecnoise(np.exp(np.arange(9.0)))[1] == 3  # step too large
    est = hc.estimate_noise(
        lambda T: np.sum(T, axis=1) + 1e-9 * np.random.default_rng(1).standard_normal(len(T)),
        np.zeros((3, 4)),
        dim=4,
        vectorized=True,
    )
    assert est.sigma == pytest.approx(1e-9, rel=0.6)


# ---------------------------------------------------------------------------------------------
# Reproducibility, threads, results
# ---------------------------------------------------------------------------------------------
def test_same_seed_same_report_at_1_2_8_threads(rng, restore_threads):
    scalar, vec = ref.one_hidden_unit(1.0, 0.1, -0.2)
    reports = []
    for n in (1, 2, 8):
        hc.set_thread_count(n)
        reports.append(
            hc.midpoint_test(vec, dim=2, vectorized=True, n_pairs=3000, seed=77, t=(0.5, 0.3))
        )
    for r in reports[1:]:
        np.testing.assert_array_equal(r.gaps, reports[0].gaps)
        np.testing.assert_array_equal(r.tols, reports[0].tols)
        assert r.n_violations == reports[0].n_violations
        assert r.verdict == reports[0].verdict
        np.testing.assert_array_equal(r.witness.a, reports[0].witness.a)
    other = hc.midpoint_test(vec, dim=2, vectorized=True, n_pairs=3000, seed=78, t=(0.5, 0.3))
    assert not np.array_equal(other.gaps, reports[0].gaps)


def test_seed_none_is_recorded_and_replays():
    f = lambda T: np.sum(T**2, axis=1)  # noqa: E731
    r1 = hc.midpoint_test(f, dim=3, vectorized=True, n_pairs=50)
    assert isinstance(r1.seed, int)
    r2 = hc.midpoint_test(f, dim=3, vectorized=True, n_pairs=50, seed=r1.seed)
    np.testing.assert_array_equal(r1.gaps, r2.gaps)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_report_save_load_roundtrip(tmp_path, suffix):
    scalar, vec = ref.one_hidden_unit(1.0, 0.0, 0.0)
    rep = hc.midpoint_test(vec, dim=2, vectorized=True, n_pairs=200, seed=3)
    p = rep.save(tmp_path / f"rep{suffix}")
    back = hc.load(p)
    assert isinstance(back, hc.MidpointReport)
    assert back.verdict == rep.verdict
    assert back.n_violations == rep.n_violations
    np.testing.assert_array_equal(back.gaps, rep.gaps)
    assert isinstance(back.witness, hc.MidpointWitness)
    np.testing.assert_array_equal(back.witness.a, rep.witness.a)
    assert back.per_scale == rep.per_scale
    d = rep.to_dict()
    assert d["witness"]["certified"] is True
    assert "violations=" in repr(rep) and "verdict" in rep.summary()


def test_progress_is_reported():
    seen = []
    f = lambda T: np.sum(T**2, axis=1)  # noqa: E731
    hc.midpoint_test(
        f, dim=3, vectorized=True, n_pairs=100, seed=1, progress=lambda d, t: seen.append((d, t))
    )
    assert seen and seen[-1] == (300, 300)


# ---------------------------------------------------------------------------------------------
# Bad input and misbehaving objectives
# ---------------------------------------------------------------------------------------------
def test_non_finite_values_are_reported_per_pair():
    def f(T):
        v = np.sum(T * T, axis=1)
        v[T[:, 0] > 1.0] = np.nan
        v[T[:, 1] > 1.5] = np.inf
        return v

    rep = hc.midpoint_test(f, dim=2, vectorized=True, n_pairs=500, seed=1, scales=(1.0,))
    assert 0 < rep.n_invalid < 500
    assert rep.pairs_tested == 500 - rep.n_invalid
    assert rep.n_violations == 0
    assert np.all(np.isnan(rep.gaps[rep.invalid_pairs]))
    everything_bad = hc.midpoint_test(
        lambda T: np.full(len(T), np.nan), dim=2, vectorized=True, n_pairs=10, seed=1
    )
    assert everything_bad.pairs_tested == 0
    assert everything_bad.verdict.startswith("inconclusive")


def test_raising_callable_propagates_with_context():
    def boom(T):
        raise ZeroDivisionError("user bug")

    with pytest.raises(ZeroDivisionError, match="user bug") as info:
        hc.midpoint_test(boom, dim=3, vectorized=True, n_pairs=10, seed=1, pairs=None)
    assert any("hiddenconvex" in n for n in getattr(info.value, "__notes__", []))

    calls = []

    def boom_later(t):
        calls.append(1)
        if len(calls) > 40:
            raise RuntimeError("late failure")
        return float(np.sum(t))

    with pytest.raises(RuntimeError, match="late failure"):
        hc.midpoint_test(boom_later, dim=3, n_pairs=100, seed=1)
    # The machinery is still usable afterwards (no deadlock, no poisoned pool).
    rep = hc.midpoint_test(lambda T: np.sum(T, axis=1), dim=3, vectorized=True, n_pairs=10, seed=1)
    assert rep.n_violations == 0


def test_bad_returns_from_callables():
    with pytest.raises(hc.InvalidInputError, match="shape"):
        hc.midpoint_test(lambda T: np.zeros(3), dim=2, vectorized=True, n_pairs=10, seed=1)
    with pytest.raises(hc.InvalidInputError, match="real number"):
        hc.midpoint_test(lambda t: "x", dim=2, n_pairs=10, seed=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_pairs": 0}, "n_pairs"),
        ({"n_pairs": -3}, "n_pairs"),
        ({}, "n_pairs"),
        ({"n_pairs": 5, "scales": (1.0, 0.0)}, "scales"),
        ({"n_pairs": 5, "scales": ()}, "scales"),
        ({"n_pairs": 5, "t": (1.0,)}, "t"),
        ({"n_pairs": 5, "t": 0.0}, "t"),
        ({"n_pairs": 5, "center": np.zeros(4)}, "center"),
        ({"n_pairs": 5, "center": np.array([0.0, np.nan, 0.0])}, "center"),
        ({"n_pairs": 5, "normalization": "layer"}, "normalization"),
        ({"n_pairs": 5, "normalization": "filter"}, "normalization"),
        ({"pairs": (np.zeros((2, 3)), np.zeros((3, 3)))}, "same shape"),
        ({"pairs": (np.zeros((2, 4)), np.zeros((2, 4)))}, "dimension"),
        ({"pairs": (np.zeros((2, 3)), np.full((2, 3), np.inf))}, "NaN or inf"),
        ({"pairs": np.zeros(3)}, "pairs"),
        ({"n_pairs": 5, "tol_factor": -1.0}, "tol_factor"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(hc.InvalidInputError, match=match):
        hc.midpoint_test(lambda T: np.sum(T, axis=1), dim=3, vectorized=True, **kwargs)


def test_bad_objective_types():
    with pytest.raises(hc.InvalidTypeError):
        hc.midpoint_test("not a function", dim=3, n_pairs=5)
    with pytest.raises(hc.InvalidInputError, match="dim"):
        hc.midpoint_test(lambda t: 0.0, n_pairs=5)
    with pytest.raises(hc.InvalidTypeError):
        hc.midpoint_test(lambda T: T[:, 0], dim=2, vectorized=True, n_pairs=1.5)


def test_filter_normalised_pairs_use_the_groups():
    c = np.array([3.0, 4.0, 1.0, 0.0, 2.0])
    groups = [np.array([0, 1]), np.array([2, 3])]
    rep = hc.midpoint_test(
        lambda T: np.sum(T * T, axis=1),
        dim=5,
        vectorized=True,
        n_pairs=20,
        seed=3,
        center=c,
        scales=(1.0,),
        normalization="filter",
        groups=groups,
    )
    assert "filter-normalised" in rep.verdict
    a, b = _core.midpoint_pairs(c, [1.0], 20, 3, [[0, 1], [2, 3]], list(range(20)))
    z = a - c
    np.testing.assert_allclose(np.linalg.norm(z[:, :2], axis=1), 5.0)
    np.testing.assert_allclose(np.linalg.norm(z[:, 2:4], axis=1), 1.0)
    assert np.all(z[:, 4] == 0.0)


# ---------------------------------------------------------------------------------------------
# Native objectives
# ---------------------------------------------------------------------------------------------
def _native_linear(kind, rng, n=100, d=10):
    X, y, ys = _data(rng, n=n, d=d)
    return {
        "least_squares": lambda: hc.LeastSquares(X, y, bias=True),
        "logistic": lambda: hc.LogisticRegression(X, ys, bias=True, l2=0.1),
        "hinge": lambda: hc.HingeLoss(X, ys, bias=True),
        "squared_hinge": lambda: hc.HingeLoss(X, ys, squared=True),
    }[kind]()


@pytest.mark.parametrize("kind", ["least_squares", "logistic", "hinge", "squared_hinge"])
@pytest.mark.parametrize("center_scale", [0.0, 1e3])
def test_native_convex_losses_have_no_violation(rng, kind, center_scale):
    obj = _native_linear(kind, rng)
    center = center_scale * rng.uniform(-1.0, 1.0, obj.dim)
    rep = hc.midpoint_test(obj, n_pairs=34_000, seed=8, center=center, scales=SCALES)
    assert rep.pairs_tested >= 100_000
    assert rep.n_violations == 0, rep.summary()
    assert rep.tolerance["kind"] == "scaled"
    assert rep.verdict.startswith("no violation found")


def test_native_affine_at_D_1000_has_no_violation(rng):
    """An affine native objective: the hinge loss where every margin is < 1 (1 − y·x·w > 0)."""
    n, d = 30, 1000
    X = rng.standard_normal((n, d))
    ys = np.ones(n)
    obj = hc.HingeLoss(X, ys)
    # Around c with x_i·c ≤ −1e4 every hinge is active: f is affine on the whole cloud of pairs.
    c = -1e3 * np.sign(X.sum(axis=0))
    assert np.all(X @ c < -1e4)
    rep = hc.midpoint_test(obj, n_pairs=3000, seed=1, center=c, scales=(1e-3, 1.0, 30.0))
    assert rep.n_violations == 0, rep.summary()
    assert rep.n_negative > 0  # rounding produces negative gaps; the tolerance absorbs them


def test_native_path_matches_callable_path(rng):
    obj = _native_linear("least_squares", rng, n=40, d=6)
    X, y = obj.X, obj.y
    kw = dict(n_pairs=500, seed=21, center=rng.standard_normal(7), scales=(0.1, 3.0), t=(0.5, 0.2))
    native = hc.midpoint_test(obj, **kw)
    wrapped = hc.midpoint_test(lambda T: obj.values(T), dim=obj.dim, vectorized=True, **kw)
    # Same points and the same evaluations of a and b; the native run derives the t-points'
    # predictions from those of a and b (t·Xa + (1−t)·Xb), within its tolerance of f(m).
    assert np.all(np.abs(native.gaps - wrapped.gaps) <= native.tols / 32.0)
    assert np.any(native.gaps != wrapped.gaps)
    assert native.n_violations == wrapped.n_violations == 0

    def numpy_ls(T):
        r = T[:, :6] @ X.T + T[:, 6:7] - y
        return 0.5 * np.sum(r * r, axis=1)

    plain = hc.midpoint_test(numpy_ls, dim=obj.dim, vectorized=True, **kw)
    np.testing.assert_allclose(plain.gaps, native.gaps, rtol=1e-8, atol=1e-9)
    scalar, vec = ref.one_hidden_unit(1.0, 0.0, 0.0)
    r1 = hc.midpoint_test(scalar, dim=2, n_pairs=200, seed=3)
    r2 = hc.midpoint_test(vec, dim=2, vectorized=True, n_pairs=200, seed=3)
    np.testing.assert_array_equal(r1.gaps, r2.gaps)


def test_native_reports_identical_at_1_2_8_threads(rng, restore_threads):
    X = rng.standard_normal((30, 3))
    net = hc.MLP(X, rng.standard_normal(30), [4, 3], activation="relu")
    th = net.init(1)
    reps = []
    for n in (1, 2, 8):
        hc.set_thread_count(n)
        reps.append(hc.midpoint_test(net, n_pairs=2000, seed=5, center=th, scales=(0.5, 2.0)))
        assert reps[-1].threads == n
    for r in reps[1:]:
        np.testing.assert_array_equal(r.gaps, reps[0].gaps)
        np.testing.assert_array_equal(r.tols, reps[0].tols)
        assert r.summary().split("tolerance")[0] == reps[0].summary().split("tolerance")[0]
        assert r.verdict == reps[0].verdict


@pytest.mark.parametrize("kind", ["logistic", "relu"])
def test_fused_models_match_numpy_and_do_not_depend_on_threads(rng, kind, restore_threads):
    """Linear models and two-layer networks (evaluated sample by sample, the t-points' first
    layer combined from a's and b's): f(m) within the tolerance of a NumPy evaluation at the
    same m, and the same bits at 1 and 2 threads."""
    n, d, m = 70, 6, 5
    X = rng.standard_normal((n, d)) * np.logspace(-2, 2, d)
    if kind == "logistic":
        ys = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
        obj = hc.LogisticRegression(X, ys, bias=True)

        def f_np(T):
            z = -(T[:, :d] @ X.T + T[:, d:]) * ys
            return np.sum(np.logaddexp(0.0, z), axis=1)
    else:
        y = rng.standard_normal(n)
        obj = hc.TwoLayerReLU(X, y, m, bias=True)

        def f_np(T):
            p = [obj.unflatten(t) for t in T]
            return np.array(
                [
                    0.5 * np.sum((np.maximum(X @ q["U"] + q["b"], 0) @ q["alpha"] - y) ** 2)
                    for q in p
                ]
            )

    kw = dict(n_pairs=300, seed=4, center=rng.standard_normal(obj.dim), scales=(1e-3, 1.0))
    reps = []
    for threads in (1, 2):
        hc.set_thread_count(threads)
        reps.append(hc.midpoint_test(obj, t=(0.5, 0.3), **kw))
    np.testing.assert_array_equal(reps[0].gaps, reps[1].gaps)
    np.testing.assert_array_equal(reps[0].tols, reps[1].tols)
    rep = reps[0]
    pairs = hc.midpoint_test(
        lambda T: obj.values(T), dim=obj.dim, vectorized=True, t=(0.5, 0.3), **kw
    )
    # the same a, b (bit for bit) and t-points: the gaps of a direct evaluation in NumPy
    # differ from the native gaps by less than the native tolerance
    assert np.all(np.abs(rep.gaps - pairs.gaps) <= rep.tols / 8.0)
    native = hc.midpoint_test(f_np, dim=obj.dim, vectorized=True, t=(0.5, 0.3), **kw)
    assert np.all(np.abs(rep.gaps - native.gaps) <= rep.tols + 1e-12 * np.abs(native.gaps))
    if kind == "logistic":
        assert rep.n_violations == 0


def _teacher_two_layer(seed, n=40, d=3, m=4):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d))
    net0 = hc.TwoLayerReLU(X, np.zeros(n), m, bias=True)
    th = net0.init(seed)
    th[d * m : d * m + m] = 0.1 * r.standard_normal(m)  # non-zero biases
    p = net0.unflatten(th)
    y = np.maximum(X @ p["U"] + p["b"], 0.0) @ p["alpha"]
    return hc.TwoLayerReLU(X, y, m, bias=True), th


def test_two_layer_relu_permutation_pairs_certify_every_time():
    for seed in range(10):
        net, th = _teacher_two_layer(seed)
        assert net(th) < 1e-20  # θ is a global minimiser
        for pairs in (hc.permutation_pairs(net, th), hc.rescaling_pairs(net, th)):
            rep = hc.midpoint_test(net, pairs=pairs)
            assert rep.certified, rep.summary()
            assert rep.n_violations == rep.pairs_tested
    net, th = _teacher_two_layer(0)
    rep = hc.midpoint_test(net, n_pairs=3000, seed=2, center=th, scales=(1.0,))
    assert rep.n_violations > 0 and rep.certified


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus", "sigmoid"])
def test_deep_mlp_permutation_pairs_certify_every_time(activation):
    for seed in range(5):
        r = np.random.default_rng(100 + seed)
        X = r.standard_normal((30, 3))
        teacher = hc.MLP(X, np.zeros(30), [4, 3], activation=activation)
        th = teacher.init(seed)
        th += 0.3 * r.standard_normal(th.size)  # distinct units and non-zero biases
        net = hc.MLP(X, teacher.predict(th)[:, 0], [4, 3], activation=activation)
        assert net(th) < 1e-20
        for layer in (0, 1):
            rep = hc.midpoint_test(net, pairs=hc.permutation_pairs(net, th, layer=layer))
            assert rep.certified, rep.summary()
        if activation == "tanh":
            rep = hc.midpoint_test(net, pairs=hc.sign_flip_pairs(net, th, layer=1))
            assert rep.certified
    rep = hc.midpoint_test(net, n_pairs=3000, seed=1, center=th, scales=(1.0,))
    assert rep.n_violations > 0 and rep.certified, rep.summary()


def test_icnn_convex_in_its_input_not_in_its_weights(rng):
    X = rng.standard_normal((40, 3))
    y = rng.standard_normal(40)
    for nonneg in ("softplus", "clip"):
        icnn = hc.ICNN(X, y, [5, 4], nonneg=nonneg)
        th = icnn.init(3)
        fx = icnn.as_input_function(th)
        rep = hc.midpoint_test(fx, n_pairs=34_000, seed=4, scales=SCALES)
        assert rep.n_violations == 0, rep.summary()
        rep = hc.midpoint_test(icnn, n_pairs=4000, seed=4, center=th, scales=(1.0, 3.0, 10.0))
        assert rep.certified, rep.summary()


def test_native_non_finite_values_are_reported_per_pair(rng):
    obj = _native_linear("least_squares", rng, n=10, d=3)
    # At scale 1e160 the squared residuals overflow to inf: those pairs are excluded, not fatal.
    rep = hc.midpoint_test(obj, n_pairs=200, seed=1, scales=(1.0, 1e160))
    assert rep.n_invalid == 200
    assert rep.pairs_tested == 200
    assert np.all(rep.invalid_pairs >= 200)
    assert rep.per_scale[1]["pairs"] == 0 and rep.per_scale[0]["pairs"] == 200


def test_witness_of_native_objective_is_reverified(rng):
    net, th = _teacher_two_layer(1)
    rep = hc.midpoint_test(net, pairs=hc.permutation_pairs(net, th))
    w = rep.witness
    fa, fb = net(w.a), net(w.b)
    fm = net(w.t * w.a + (1 - w.t) * w.b)
    assert (fa, fb, fm) == (w.fa, w.fb, w.fm)
    assert ref.exact_gap(w.t, fa, fb, fm) == w.gap_verified
    # The verified tolerance includes the rounding of forming m (gradient term) on top of eps·s
    # (s from direct evaluations at a, b and m).
    m = w.t * w.a + (1 - w.t) * w.b
    sa, sb, sm = (net._native.value_and_scale(x)[1] for x in (w.a, w.b, m))
    base = rep.tolerance["factor"] * np.finfo(float).eps * (w.t * sa + (1 - w.t) * sb + sm)
    assert w.tol_verified > base
    # The run's tolerance bounds the same error for the t-point predicted from a and b.
    assert w.tol >= 0.999 * base


def test_native_progress_and_summary_wording(rng):
    obj = _native_linear("logistic", rng, n=20, d=3)
    seen = []
    rep = hc.midpoint_test(
        obj, n_pairs=3000, seed=1, scales=(1.0,), progress=lambda d, t: seen.append((d, t))
    )
    assert seen and seen[-1] == (3000, 3000)
    assert "closest pair" in rep.summary() and "certified" not in rep.witness.summary()


def test_progress_callback_that_raises_cancels_the_native_run(rng):
    obj = _native_linear("least_squares", rng, n=200, d=10)

    def stop(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        hc.midpoint_test(obj, n_pairs=200_000, seed=1, scales=(1.0,), progress=stop)
    with pytest.raises(hc.InvalidInputError, match="either"):
        hc.midpoint_test(obj, n_pairs=5, pairs=(np.zeros((1, 11)), np.ones((1, 11))))


def test_too_many_records_are_refused():
    with pytest.raises(hc.ResourceLimitError, match="midpoint"):
        hc.midpoint_test(
            lambda T: T[:, 0], dim=1, vectorized=True, n_pairs=20_000_000, t=(0.5, 0.3)
        )


def test_native_affine_quadratic_objective_at_D_1000(rng):
    """f(θ) = bᵀθ + c as a native Quadratic with A = 0: zero violations at |θ| ~ 1e3."""
    d = 1000
    obj = hc.Quadratic(np.zeros((d, d)), rng.standard_normal(d), 3.0)
    c = 1e3 * rng.uniform(-1.0, 1.0, d)
    # (A is dense: each evaluation costs D² flops, so few pairs.)
    rep = hc.midpoint_test(obj, n_pairs=200, seed=2, center=c, scales=SCALES)
    assert rep.n_violations == 0, rep.summary()
    assert rep.n_negative > 0


def test_quadratics_psd_and_indefinite(rng):
    d = 6
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    psd = hc.Quadratic(Q @ np.diag(np.linspace(0.0, 3.0, d)) @ Q.T, rng.standard_normal(d))
    rep = hc.midpoint_test(psd, n_pairs=34_000, seed=1, scales=SCALES)
    assert rep.n_violations == 0, rep.summary()
    lam = np.array([-0.5, 0.1, 1.0, 1.0, 2.0, 3.0])
    indef = hc.Quadratic(Q @ np.diag(lam) @ Q.T)
    rep = hc.midpoint_test(indef, n_pairs=5000, seed=1, scales=(1.0,))
    assert rep.certified
    # κ is the curvature along the segment: within [λ_min, λ_max].
    assert rep.kappa_quantiles["0"] >= -0.5 - 1e-9 and rep.kappa_quantiles["1"] <= 3.0 + 1e-9
    # The violation rate is P((b−a)ᵀA(b−a) < 0) for b − a ~ N(0, 2I): check by Monte Carlo.
    z = np.random.default_rng(5).standard_normal((200_000, d)) @ Q.T
    p = np.mean(np.einsum("ni,i,ni->n", z, lam, z) < 0)
    assert rep.ci_low - 0.01 <= p <= rep.ci_high + 0.01


def test_structured_pairs_check_the_activation_and_label_the_witness():
    net, th = _teacher_two_layer(3)
    rep = hc.midpoint_test(net, pairs=hc.permutation_pairs(net, th))
    assert rep.witness.label.startswith("swap units")
    assert "swap units" in rep.summary()
    X = np.random.default_rng(0).standard_normal((10, 2))
    tanh_net = hc.MLP(X, np.zeros(10), [3], activation="tanh")
    with pytest.raises(hc.InvalidInputError, match="ReLU"):
        hc.rescaling_pairs(tanh_net, tanh_net.init(0))
    with pytest.raises(hc.InvalidInputError, match="odd"):
        hc.sign_flip_pairs(net, th)


def test_ctrl_c_stops_a_native_run():
    # in a child process (tests/_interrupt.py; no signal reaches the test process, whatever its
    # SIGINT disposition): ~10^7 evaluations, far longer than the 0.3 s before the signal
    setup = (
        "rng = np.random.default_rng(0)\n"
        "X = rng.standard_normal((200, 10))\n"
        "ys = np.where(rng.standard_normal(200) > 0, 1.0, -1.0)\n"
        "obj = hc.LogisticRegression(X, ys, bias=True, l2=0.1)\n"
    )
    call = "result = hc.midpoint_test(obj, n_pairs=1_000_000, seed=1, scales=(1.0, 2.0, 3.0))"
    res = run_interrupted(setup, call)
    assert res["outcome"] == "interrupted"
    assert res["stopped_early"] is True
    done, total = res["progress"]
    assert total == 0 or done < total
    assert res["result"] is None


def test_golden_pairs_for_a_fixed_seed():
    """Seeded pairs are part of the reproducibility contract: a change of generator is visible."""
    a, b = _core.midpoint_pairs(np.zeros(3), [1.0], 4, 12345, None, [0, 3])
    np.testing.assert_array_equal(
        a,
        [
            [-0.8057490971598085, -1.58474388362586, 0.7141408002681915],
            [-0.05244042439962144, 0.8778400197046329, 0.872396555970575],
        ],
    )
    np.testing.assert_array_equal(
        b,
        [
            [-0.3061381756234274, -1.8398046428022312, -1.5744092613315792],
            [-0.038599954515439794, -0.06970698585472872, -0.641899586495784],
        ],
    )


def test_filter_normalisation_from_a_network_layout(rng):
    X = rng.standard_normal((20, 3))
    net = hc.MLP(X, rng.standard_normal(20), [4], activation="relu")
    th = net.init(2)
    rep = hc.midpoint_test(
        net, n_pairs=50, seed=9, center=th, scales=(0.5,), normalization="filter"
    )
    assert "filter-normalised" in rep.distribution
    groups = [list(map(int, g)) for g in hc.filter_groups(net)]
    a, _ = _core.midpoint_pairs(th, [0.5], 50, rep.seed, groups, list(range(50)))
    p, q = net.unflatten(a[7] - th), net.unflatten(th)
    for Wd, Wt, bd in zip(p["weights"], q["weights"], p["biases"], strict=True):
        np.testing.assert_allclose(np.linalg.norm(Wd, axis=1), 0.5 * np.linalg.norm(Wt, axis=1))
        assert np.all(bd == 0.0)


@pytest.mark.parametrize("native", [True, False])
def test_streamed_runs_match_the_whole_run(monkeypatch, native):
    """keep_arrays=False runs in chunks with bounded memory; counts and witness are unchanged."""
    import hiddenconvex.midpoint as mp

    net, th = _teacher_two_layer(4)
    obj = net if native else (lambda T: net.values(T))
    kw = dict(n_pairs=2500, seed=6, center=th, scales=(0.3, 1.0), t=(0.5, 0.25))
    if not native:
        kw.update(dim=net.dim, vectorized=True)
    whole = hc.midpoint_test(obj, **kw)
    monkeypatch.setattr(mp, "STREAM_RECORDS", 700)
    monkeypatch.setattr(mp, "QUANTILE_SAMPLE", 1000)
    seen = []
    streamed = hc.midpoint_test(
        obj, keep_arrays=False, progress=lambda d, t: seen.append((d, t)), **kw
    )
    assert streamed.n_violations == whole.n_violations > 0
    assert streamed.n_negative == whole.n_negative
    assert streamed.per_scale == whole.per_scale
    assert streamed.verdict == whole.verdict
    assert streamed.witness.pair_index == whole.witness.pair_index
    assert streamed.witness.gap_verified == whole.witness.gap_verified
    assert streamed.tolerance["refined"] == whole.tolerance["refined"]
    assert streamed.gaps.shape == (0, 2)
    assert streamed.tolerance["quantiles"].startswith("from every 10th")
    # Quantiles from the systematic sample are close to the exact ones.
    assert streamed.gap_quantiles["0.5"] == pytest.approx(whole.gap_quantiles["0.5"], rel=0.2)
    assert seen[-1] == (5000, 5000)
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:], strict=False))


# --- hardening (issue 19): degenerate pairs are never counted as tests ---------------------


def test_filter_normalisation_at_a_zero_center_is_refused():
    # every group of the default center is 0: each direction would be rescaled to 0, a = b = 0
    def concave(th):
        return -float(th @ th)

    groups = [[0, 1], [2, 3]]
    with pytest.raises(hc.InvalidInputError, match="center"):
        hc.midpoint_test(concave, dim=4, n_pairs=20, seed=0, normalization="filter", groups=groups)
    with pytest.raises(hc.InvalidInputError, match="groups"):
        hc.midpoint_test(concave, dim=4, n_pairs=20, seed=0, normalization="filter", groups=[])
    # a center that is 0 on one group only still tests pairs (directions live on the other)
    c = np.array([1.0, -2.0, 0.0, 0.0])
    rep = hc.midpoint_test(
        concave, dim=4, n_pairs=20, seed=0, normalization="filter", groups=groups, center=c
    )
    assert rep.n_degenerate == 0 and rep.pairs_tested == 60
    assert rep.n_violations == 60 and rep.certified  # a concave f violates on every pair


def test_two_layer_relu_filter_normalisation_needs_a_center():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    net = hc.TwoLayerReLU(X, y, 4)
    with pytest.raises(hc.InvalidInputError, match="center"):
        hc.midpoint_test(net, n_pairs=50, seed=0, normalization="filter")
    rep = hc.midpoint_test(net, n_pairs=50, seed=0, normalization="filter", center=net.init(1))
    assert rep.n_degenerate == 0 and rep.pairs_tested == 150


def test_pairs_with_a_equal_b_are_not_counted():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((10, 3))
    B = rng.standard_normal((10, 3))
    same = np.array([0, 3, 4, 9])
    B[same] = A[same]  # a = b: the Jensen gap is identically 0, nothing is tested
    f = hc.Quadratic(np.eye(3))
    rep = hc.midpoint_test(f, pairs=(A, B))
    want_degenerate = int(np.all(A == B, axis=1).sum())
    assert rep.n_degenerate == want_degenerate == 4
    assert rep.pairs_tested == 10 - want_degenerate
    assert rep.per_scale[0]["pairs"] == 6
    assert rep.verdict.startswith("inconclusive") and "4 of 10" in rep.verdict
    # all degenerate: inconclusive, nothing tested, no "no violation found" claim
    rep0 = hc.midpoint_test(f, pairs=(A, A))
    assert rep0.pairs_tested == 0 and rep0.n_degenerate == 10
    assert rep0.verdict.startswith("inconclusive") and "no violation" not in rep0.verdict
    # a center so large that c + s·z rounds to c: degenerate, not "convex"
    rep1 = hc.midpoint_test(
        lambda th: -float(th @ th), dim=2, n_pairs=5, seed=0, scales=[1e-3],
        center=np.array([1e20, 1e20]),
    )  # fmt: skip
    assert rep1.n_degenerate == 5 and rep1.pairs_tested == 0
    assert rep1.verdict.startswith("inconclusive")


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 4_097, 150_001])
def test_quantiles_equal_numpy_quantile(n):
    """The report's quantiles (selection of order statistics in Rust) are np.quantile's values
    on the finite entries, bit for bit: ties, non-finite entries, both signs, large arrays."""
    from hiddenconvex.midpoint import QUANTILES, _quantiles

    rng = np.random.default_rng(n)
    qs = [*QUANTILES, 0.3333, 0.6667]
    for variant in range(4):
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6)
        if variant == 1:
            x = np.round(x, 1)  # many ties
        if variant >= 2:
            bad = rng.integers(0, n, size=max(1, n // 40))
            x[bad] = [np.nan, np.inf, -np.inf][variant - 2]
        finite = x[np.isfinite(x)]
        got = _core.midpoint_quantiles(x, qs)
        if finite.size == 0:
            assert got == [] and _quantiles(x) == {}
            continue
        np.testing.assert_array_equal(np.asarray(got), np.quantile(finite, qs))
        want = np.quantile(finite, QUANTILES)
        assert list(_quantiles(x[::-1].copy()).values()) == list(want)
    with pytest.raises(hc.InvalidInputError, match="qs"):
        _core.midpoint_quantiles(np.zeros(3), [1.5])
