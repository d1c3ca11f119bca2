"""Finite-difference Hessians: analytic oracles, verdicts, kinks, callables, threads, bad inputs."""

from __future__ import annotations

import threading

import _reference_diag as ref
import hiddenconvex as hc
import numpy as np
import pytest
from scipy.special import expit


def _rel(H, want):
    return np.max(np.abs(H - want)) / np.max(np.abs(want))


def _indefinite_quadratic(rng, d=6):
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.array([-3.0, -0.5, 0.25, 1.0, 2.0, 5.0])[:d]
    A = Q @ np.diag(lam) @ Q.T
    A = 0.5 * (A + A.T)
    return A, np.sort(lam)


def test_quadratic_known_indefinite_spectrum(rng):
    A, lam = _indefinite_quadratic(rng)
    b = rng.standard_normal(6)
    q = hc.Quadratic(A, b, 1.5)
    pts = rng.standard_normal((5, 6)) * 2.0
    rv = hc.hessian(q, pts, method="values")
    rg = hc.hessian(q, pts, method="gradients")
    for r, tol in [(rv, 1e-6), (rg, 1e-9)]:
        for k in range(5):
            assert _rel(r.H[k], q.A) <= tol
            np.testing.assert_allclose(r.eigenvalues[k], lam, atol=tol * 5 * 10)
            np.testing.assert_array_equal(r.H[k], r.H[k].T)
        assert r.verdict == ["indefinite"] * 5
        assert np.all(r.certificate_gap < -r.certificate_tolerance)
        assert not r.kink.any()
    # The same function as a callable (values only): same verdicts and accuracy.
    rc = hc.hessian(lambda t: 0.5 * t @ q.A @ t + b @ t + 1.5, pts, dim=6)
    assert rc.verdict == ["indefinite"] * 5
    assert _rel(rc.H[0], q.A) <= 1e-6
    assert rc.method == "values" and rg.method == "gradients"


def test_psd_quadratic_is_psd(rng):
    M = rng.standard_normal((5, 3))
    A = M @ M.T  # PSD, rank 3: two zero eigenvalues
    r = hc.hessian(hc.Quadratic(A), rng.standard_normal((4, 5)))
    assert r.verdict == ["psd"] * 4
    assert np.all(r.lambda_min >= -r.tolerance)


@pytest.mark.parametrize("bias", [False, True])
def test_least_squares_hessian_is_xtx(rng, bias):
    X = rng.standard_normal((40, 5))
    y = rng.standard_normal(40)
    obj = hc.LeastSquares(X, y, bias=bias, l2=0.3)
    Xb = np.hstack([X, np.ones((40, 1))]) if bias else X
    want = Xb.T @ Xb + 0.3 * np.diag([1.0] * 5 + ([0.0] if bias else []))
    pts = rng.standard_normal((3, obj.dim)) * 3
    for method, tol in [("values", 1e-6), ("gradients", 1e-9)]:
        r = hc.hessian(obj, pts, method=method)
        for k in range(3):
            assert _rel(r.H[k], want) <= tol
        assert r.verdict == ["psd"] * 3


def test_logistic_regression_hessian(rng):
    X = rng.standard_normal((60, 6))
    y = (rng.random(60) > 0.5).astype(float)
    obj = hc.LogisticRegression(X, y, l2=0.1)
    pts = rng.standard_normal((4, 6)) * 0.5
    rv = hc.hessian(obj, pts, method="values")
    rg = hc.hessian(obj, pts, method="gradients")
    for k in range(4):
        want = ref.logistic_hessian(X, 2 * y - 1, pts[k], l2=0.1)
        assert _rel(rv.H[k], want) <= 1e-6
        assert _rel(rg.H[k], want) <= 1e-9
        # The error estimate bounds the actual error.
        assert np.all(np.abs(rv.H[k] - want) <= rv.error[k] + 1e-12 * np.abs(want).max())
    assert rv.verdict == rg.verdict == ["psd"] * 4
    for r in (rv, rg):
        np.testing.assert_array_equal(r.H, np.swapaxes(r.H, 1, 2))
        np.testing.assert_array_equal(r.error, np.swapaxes(r.error, 1, 2))
    assert rv.n_evaluations == 4 * (1 + 2 * (36 + 6))
    assert rg.n_gradient_evaluations == 4 * (4 * 6 + 1)


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_negative_curvature_found_on_smooth_mlps(rng, activation):
    X = rng.standard_normal((25, 3))
    y = rng.standard_normal(25)
    obj = hc.MLP(X, y, [4, 3], activation=activation)
    pts = np.stack([obj.init(s) for s in range(6)])
    r = hc.hessian(obj, pts, method="gradients")
    assert r.verdict.count("indefinite") >= 5
    for k in np.flatnonzero(np.array(r.verdict) == "indefinite"):
        assert r.lambda_min[k] < -r.tolerance[k]
        # Re-verify the certificate independently: q(t) < 0 along the eigenvector.
        t, v, th = r.certificate_t[k], r.min_eigenvector[k], pts[k]
        q = obj.value(th + t * v) + obj.value(th - t * v) - 2 * obj.value(th)
        assert q < 0
    assert not r.kink.any()
    # Against the analytic gradient differenced by NumPy with a tiny step: agreement.
    k = 0
    g = np.stack(
        [
            (obj.gradient(pts[k] + 1e-5 * e) - obj.gradient(pts[k] - 1e-5 * e)) / 2e-5
            for e in np.eye(obj.dim)
        ]
    )
    np.testing.assert_allclose(r.H[k], 0.5 * (g + g.T), atol=1e-5 * np.abs(g).max())


def test_kinks_of_minus_abs_are_flagged_and_certified():
    def f(t):
        return -abs(t[0]) + t[1] ** 2

    r = hc.hessian(f, [[1e-4, 0.3], [0.7, 0.3], [0.0, 0.0]], dim=2)
    assert r.kink[0, 0, 0] and r.kink[2, 0, 0]
    assert not r.kink[1].any()
    # Concave kink: certified non-convexity (a midpoint violation), not merely "unreliable".
    assert r.verdict == ["indefinite", "psd", "indefinite"]
    # A convex kink cannot be certified either way: unreliable.
    r2 = hc.hessian(lambda t: abs(t[0]) + t[1] ** 2, [[1e-4, 0.3]], dim=2)
    assert r2.kink[0, 0, 0] and r2.verdict == ["unreliable"]


def test_relu_network_kinks_flagged(rng):
    X = rng.standard_normal((10, 2))
    y = rng.standard_normal(10)
    obj = hc.TwoLayerReLU(X, y, 3)
    theta = obj.init(0)
    p = obj.unflatten(theta)
    # Put sample 0 exactly next to unit 1's kink: x_0·u_1 = 1e-5.
    u = p["U"][:, 1]
    p["U"][:, 1] = u - (X[0] @ u - 1e-5) * X[0] / (X[0] @ X[0])
    theta = obj.flatten(p["U"], p["alpha"])
    for method in ["values", "gradients"]:
        r = hc.hessian(obj, theta, method=method)
        unit1 = obj.unit_indices()[1]
        assert r.kink[0][np.ix_(unit1, unit1)].any(), method
        assert r.verdict[0] in ("unreliable", "indefinite")
    # Away from every kink (all pre-activations >= 1) nothing is flagged and H is accurate.
    Xp = np.abs(X) + 0.5
    obj2 = hc.TwoLayerReLU(Xp, y, 3)
    far = obj2.flatten(np.ones((2, 3)), np.array([0.5, -1.0, 2.0]))
    assert np.min(Xp @ np.ones(2)) >= 1.0
    for method in ["values", "gradients"]:
        r = hc.hessian(obj2, far, method=method)
        assert not r.kink.any()
        assert r.verdict == ["indefinite"]  # a ReLU network's loss is not convex in its weights


def test_callable_matches_native_and_scalar_matches_vectorised(rng):
    X = rng.standard_normal((30, 4))
    y = (rng.random(30) > 0.5).astype(float)
    obj = hc.LogisticRegression(X, y)
    ypm = 2 * y - 1

    def f(t):
        return float(np.sum(np.logaddexp(0.0, -ypm * (X @ t))))

    def fv(T):
        return np.array([f(t) for t in T])

    pts = rng.standard_normal((3, 4))
    rn = hc.hessian(obj, pts, method="values")
    rs = hc.hessian(f, pts, dim=4)
    rv = hc.hessian(fv, pts, dim=4, vectorized=True)
    np.testing.assert_array_equal(rs.H, rv.H)
    np.testing.assert_allclose(rs.H, rn.H, rtol=1e-7, atol=1e-9)
    assert rs.verdict == rn.verdict == ["psd"] * 3
    assert rs.n_evaluations == rn.n_evaluations


def test_same_results_at_1_2_8_threads(rng, restore_threads):
    X = rng.standard_normal((20, 3))
    obj = hc.MLP(X, rng.standard_normal(20), [4], activation="tanh")
    pts = np.stack([obj.init(s) for s in range(40)])
    out = []
    for n in (1, 2, 8):
        hc.set_thread_count(n)
        rv = hc.hessian(obj, pts, method="values")
        rg = hc.hessian(obj, pts, method="gradients")
        out.append((rv.H, rv.error, rv.kink, rg.H, rg.error, rv.verdict, rg.verdict))
    for o in out[1:]:
        for a, b in zip(o, out[0], strict=True):
            if isinstance(a, list):
                assert a == b
            else:
                np.testing.assert_array_equal(a, b)


def test_nonfinite_values_reported_per_point():
    def f(t):
        return (np.log(t[0]) if t[0] > 0 else np.nan) + t[1] ** 2  # NaN for t0 <= 0

    r = hc.hessian(f, [[1.0, 0.0], [-1.0, 0.0], [1e-4, 0.0]], dim=2)
    assert r.verdict[0] == "psd" or r.verdict[0] == "indefinite"
    assert r.verdict[1] == "nonfinite" and not r.finite[1]
    assert r.verdict[2] == "nonfinite"  # the stencil crosses 0
    assert r.finite[0]
    assert "non-finite" in r.summary()


def test_bad_inputs(rng):
    q = hc.Quadratic(np.eye(3))
    with pytest.raises(hc.InvalidInputError, match="points"):
        hc.hessian(q, np.zeros((2, 4)))
    with pytest.raises(hc.InvalidInputError, match="points"):
        hc.hessian(q, [[0.0, np.nan, 0.0]])
    with pytest.raises(hc.InvalidInputError, match="step"):
        hc.hessian(q, np.zeros(3), step=0.0)
    with pytest.raises(hc.InvalidInputError, match="step"):
        hc.hessian(q, np.zeros(3), step=-1e-3)
    with pytest.raises(hc.InvalidInputError, match="method"):
        hc.hessian(q, np.zeros(3), method="autodiff")
    with pytest.raises(hc.InvalidInputError, match="gradients"):
        hc.hessian(lambda t: 0.0, np.zeros(3), dim=3, method="gradients")
    # A callable's dim is inferred from the points; a given dim must match them.
    np.testing.assert_allclose(
        hc.hessian(lambda t: float(t @ t), np.zeros(3), method="values").H[0],
        2 * np.eye(3),
        atol=1e-6,
    )
    with pytest.raises(hc.InvalidInputError, match="points"):
        hc.hessian(lambda t: 0.0, np.zeros(3), dim=4)
    with pytest.raises(hc.InvalidInputError, match="shape"):
        hc.hessian(lambda T: np.zeros(len(T) + 1), np.zeros(3), dim=3, vectorized=True)
    with pytest.raises(hc.InvalidTypeError):
        hc.hessian(q, np.array(["a", "b", "c"]))
    with pytest.raises(hc.ResourceLimitError, match="stencil"):
        hc.hessian(lambda t: 0.0, np.zeros(6000), dim=6000)


def test_callable_that_raises_propagates_without_deadlock():
    calls = []

    def boom(t):
        calls.append(1)
        if len(calls) > 5:
            raise ZeroDivisionError("objective failed")
        return float(t @ t)

    done = threading.Event()
    err: list[BaseException] = []

    def run():
        try:
            hc.hessian(boom, np.zeros((2, 3)), dim=3)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            err.append(e)
        done.set()

    th = threading.Thread(target=run)
    th.start()
    assert done.wait(60)
    assert isinstance(err[0], ZeroDivisionError)
    assert any("hiddenconvex" in n for n in getattr(err[0], "__notes__", []))


def test_progress_and_result_roundtrip(rng, tmp_path):
    X = rng.standard_normal((15, 3))
    obj = hc.LeastSquares(X, rng.standard_normal(15))
    seen = []
    r = hc.hessian(obj, rng.standard_normal((3, 3)), progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1] > 0
    for suffix in (".npz", ".json"):
        path = r.save(tmp_path / f"h{suffix}")
        back = hc.load(path)
        np.testing.assert_array_equal(back.H, r.H)
        assert back.verdict == r.verdict
    assert "psd" in r.summary()


def test_step_choice_is_power_of_two_and_scale_aware(rng):
    q = hc.Quadratic(np.diag([1.0, 2.0, 3.0]))
    r = hc.hessian(q, [[0.0, 10.0, -1000.0]], method="values", step=1e-3)
    h = r.steps[0]
    np.testing.assert_array_equal(h, 2.0 ** np.round(np.log2(h)))
    # The documented rule: h_i = 2^round(log2(c · max(1, |θ_i|, ‖θ‖∞/64))).
    theta = np.array([0.0, 10.0, -1000.0])
    scale = np.maximum(np.maximum(1.0, np.abs(theta)), np.abs(theta).max() / 64)
    np.testing.assert_array_equal(h, 2.0 ** np.round(np.log2(1e-3 * scale)))
    assert h[2] / h[0] == pytest.approx(64, rel=0.5)
    assert r.step == 1e-3
    np.testing.assert_allclose(r.H[0], q.A, rtol=1e-6, atol=1e-6)


def test_icnn_convex_in_input_not_in_weights(rng):
    X = rng.standard_normal((20, 2))
    y = rng.standard_normal(20)
    icnn = hc.ICNN(X, y, [5, 5], activation="softplus")
    thetas = np.stack([icnn.init(s) + 0.5 * rng.standard_normal(icnn.dim) for s in range(4)])
    rw = hc.hessian(icnn, thetas)
    assert "indefinite" in rw.verdict  # a certified non-convexity in the weights
    fx = icnn.as_input_function(thetas[0])
    rx = hc.hessian(fx, rng.standard_normal((8, 2)) * 2)
    assert rx.verdict == ["psd"] * 8


# --- hardening (issue 19, items 15 and 17): honest, scale-aware error estimates -----------


@pytest.mark.parametrize("scale", [1e-160, 1e-250, 1e150])
def test_psd_quadratic_at_extreme_scales_is_psd(scale):
    # τ = ‖E‖_F must not underflow to 0 (nor overflow): a PSD quadratic is "psd" at any scale
    B = np.random.default_rng(4).standard_normal((6, 6))
    A = scale * (B @ B.T)
    for method in ("values", "gradients"):
        r = hc.hessian(hc.Quadratic(A), np.ones(6), method=method)
        assert r.verdict == ["psd"], (scale, method)
        assert 0.0 < r.tolerance[0] < np.inf
        assert np.all(np.abs(r.H[0] - A) <= r.error[0]), (scale, method)


def test_error_estimate_bounds_the_richardson_value_least_squares():
    # gradients + Richardson return (4 H(h) − H(2h)) / 3; the estimate must bound its error
    # (the analytic Hessian is XᵀX); D = 151 is where a bound for H(h) fell short (1.9x)
    rng = np.random.default_rng(0)
    for D in (40, 151):
        X = rng.standard_normal((300, D))
        obj = hc.LeastSquares(X, rng.standard_normal(300))
        want = X.T @ X
        pts = rng.standard_normal((3, D)) * 3
        for method in ("gradients", "values"):
            r = hc.hessian(obj, pts, method=method)
            assert np.all(np.abs(r.H - want[None]) <= r.error), (D, method)
            assert r.verdict == ["psd"] * 3


def test_error_estimate_bounds_the_richardson_value_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(1)
    n, d, h = 30, 4, 5
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    net = hc.MLP(X, y, [h], activation="tanh")  # bias=True by default

    def f(theta):
        # the same network in JAX; flat layout W1 (h × d) row-major, b1, W2 (1 × h), b2
        W1 = theta[: h * d].reshape(h, d)
        b1 = theta[h * d : h * d + h]
        W2 = theta[h * d + h : h * d + 2 * h]
        b2 = theta[h * d + 2 * h]
        out = jnp.tanh(jnp.asarray(X) @ W1.T + b1) @ W2 + b2
        return 0.5 * jnp.sum((out - jnp.asarray(y)) ** 2)

    theta = net.init(3)
    assert net.dim == h * d + 2 * h + 1
    assert np.isclose(float(f(jnp.asarray(theta))), net.value(theta), rtol=1e-12)
    want = np.asarray(jax.hessian(f)(jnp.asarray(theta)))
    for method in ("gradients", "values"):
        r = hc.hessian(net, theta, method=method)
        assert np.all(np.abs(r.H[0] - want) <= r.error[0]), method


def test_logistic_regression_far_out_on_separable_data_has_no_false_kinks():
    # a smooth loss, under-resolved by the relative steps at |w| ~ 10^3: its curvature changes
    # by a near-constant factor per step along each line (geometric differences), no kink
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n, d = [(50, 3), (200, 5), (100, 10)][seed % 3]
        X = rng.standard_normal((n, d))
        w = rng.standard_normal(d)
        obj = hc.LogisticRegression(X, (X @ w > 0).astype(float))
        th = w / np.linalg.norm(w) * 1000
        p = expit(X @ th)  # analytic Hessian Xᵀ diag(p(1−p)) X: PSD
        want = X.T @ (X * (p * (1 - p))[:, None])
        assert np.linalg.eigvalsh(want)[0] >= -1e-12 * np.abs(want).max()
        # the default for a native objective (gradients); the values method's 3 second
        # differences per line cannot tell such lines from kinks as reliably (documented)
        r = hc.hessian(obj, th[None])
        assert r.method == "gradients"
        assert not r.kink.any(), seed
        assert r.verdict == ["psd"], seed


def _relu_net_with_kink_near_stencil(t: int, method: str):
    """Two-layer ReLU net (12 × 3 data, 3 units) and a point whose stencil line along the axis
    of U[c, j] crosses the kink of unit j at sample k at an offset uniform in (−2h, 2h)."""
    n, d, m = 12, 3, 3
    rng = np.random.default_rng(1000 + t)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    obj = hc.TwoLayerReLU(X, y, m)
    p = obj.unflatten(obj.init(t))
    U, al = np.array(p["U"]), np.array(p["alpha"])
    j, c, k = rng.integers(m), rng.integers(d), rng.integers(n)
    i = j * d + c  # θ = [u_1, …, u_m, α]: U[c, j] is θ[j d + c]
    h = hc.hessian(obj, obj.flatten(U, al), method=method).steps[0][i]
    u01 = rng.random(2)[0 if method == "values" else 1]  # one draw per method
    delta = -2 * h + 4 * h * u01
    u = U[:, j].copy()
    U[:, j] = u - (X[k] @ u + delta * X[k, c]) * X[k] / (X[k] @ X[k])
    return obj, obj.flatten(U, al), X, y, i


@pytest.mark.parametrize("method", ["values", "gradients"])
def test_unflagged_kinks_stay_within_the_error_estimate(method):
    # issue 19 item 16: a kink crossed by the stencil is either flagged or covered by the
    # estimate (placements 30 and 47 were neither before); truth: the Hessian from JAX
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    flagged = 0
    trials = [30, 47, *range(12)]
    for t in trials:
        obj, theta, X, y, i = _relu_net_with_kink_near_stencil(t, method)
        m, d = 3, X.shape[1]

        def f(v, X=X, y=y, m=m, d=d):
            U = v[: m * d].reshape(m, d).T
            r = jnp.maximum(0.0, jnp.asarray(X) @ U) @ v[m * d :] - jnp.asarray(y)
            return 0.5 * jnp.sum(r * r)

        assert np.isclose(float(f(jnp.asarray(theta))), obj.value(theta), rtol=1e-12)
        want = np.asarray(jax.hessian(f)(jnp.asarray(theta)))
        r = hc.hessian(obj, theta, method=method)
        if r.kink[0][i].any():
            flagged += 1
            assert r.verdict[0] in ("unreliable", "indefinite")
        else:
            assert np.all(np.abs(r.H[0] - want) <= r.error[0]), t
    assert flagged >= len(trials) - 3  # most crossings are flagged


def test_ctrl_c_during_the_eigendecomposition_returns_at_once():
    # in a child process (tests/_interrupt.py): LAPACK cannot be stopped, so a large Hessian is
    # decomposed on a worker thread and the caller's wait is what Ctrl-C interrupts. Asserted:
    # KeyboardInterrupt while the decomposition was still running (its thread alive), nothing
    # returned (latency: benches/bench_interrupt.py)
    from _interrupt import run_interrupted

    setup = (
        "import threading\n"
        "from hiddenconvex.hessian import _eigh\n"
        "A = np.random.default_rng(0).standard_normal((2500, 2500))\n"
        "H = (A + A.T)[None]\n"
    )
    call = (
        "try:\n"
        "    result = _eigh(H)\n"
        "finally:\n"
        "    extra = [t.name for t in threading.enumerate()]\n"
    )
    res = run_interrupted(setup, call, delay=0.2)
    assert res["outcome"] == "interrupted"
    assert "hiddenconvex-eigh" in res["extra"]
    assert res["result"] is None


def test_threaded_eigendecomposition_matches_numpy():
    from hiddenconvex.hessian import EIGH_THREAD_MIN_DIM, _eigh, _eigh_now

    A = np.random.default_rng(3).standard_normal((2, EIGH_THREAD_MIN_DIM, EIGH_THREAD_MIN_DIM))
    H = A + np.swapaxes(A, 1, 2)
    w, V = _eigh(H)
    w0, V0 = _eigh_now(H)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(V, V0)
    # an error on the worker thread reaches the caller
    with pytest.raises(np.linalg.LinAlgError):
        _eigh(np.zeros((1, EIGH_THREAD_MIN_DIM - 1, EIGH_THREAD_MIN_DIM)))


@pytest.mark.parametrize("D", [1, 2, 7, 30, 64, 100, 255])
def test_core_spectrum_matches_numpy_eigh(rng, D):
    """The core's eigen-analysis (faer, used up to CORE_EIGEN_MAX_DIM) against LAPACK's: the
    eigenvalues to a few eps·‖H‖₂, unit eigenvectors of λ_min, τ = ‖E‖_F, NaN rows where H or
    the evaluations are not finite."""
    from hiddenconvex import _core

    B = 5
    A = rng.standard_normal((B, D, D))
    H = (A + A.transpose(0, 2, 1)) / 2
    H[1] *= 1e-150  # tiny and huge scales
    H[2] *= 1e150
    if D > 1:
        H[3, 0, :] = H[3, :, 0] = 0.0  # a repeated zero eigenvalue structure
    E = (
        np.abs(rng.standard_normal((B, D, D)))
        * np.array([1e-9, 1e-300, 1e290, 0.0, 1.0])[:, None, None]
    )
    finite = np.array([True, True, True, True, False])
    out = _core.hessian_spectrum(H, E, finite, True)
    ok = out["ok"]
    assert ok.tolist() == [True, True, True, True, False]
    w = np.linalg.eigvalsh(H[:4])
    scale = np.max(np.abs(w), axis=1, keepdims=True)
    assert np.all(np.abs(out["eig"][:4] - w) <= 64 * np.finfo(float).eps * D * scale)
    assert np.all(np.diff(out["eig"][:4], axis=1) >= 0)
    v = out["vmin"][:4]
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-13)
    resid = np.einsum("bij,bj->bi", H[:4], v) - out["eig"][:4, :1] * v
    assert np.all(np.linalg.norm(resid, axis=1) <= 64 * np.finfo(float).eps * D * scale[:, 0])
    assert np.all(np.isnan(out["eig"][4])) and np.all(np.isnan(out["vmin"][4]))
    for b in range(B):
        m = np.max(np.abs(E[b]))
        want = 0.0 if m == 0 else m * np.sqrt(np.sum((E[b] / m) ** 2))
        np.testing.assert_allclose(out["tol"][b], want, rtol=1e-14)
    H[0, 0, -1] = np.nan
    again = _core.hessian_spectrum(H, E, np.ones(B, bool), False)
    assert not again["ok"][0] and again["ok"][1]
    assert np.all(np.isnan(again["eig"]))  # eigen=False: the caller decomposes


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_hessian_spectra_match_numpy_on_both_sides_of_the_core_limit(rng, model):
    """hc.hessian's eigenvalues, λ_min eigenvector and tolerance against NumPy on its own H,
    with the core eigensolver (D ≤ CORE_EIGEN_MAX_DIM) and with LAPACK (larger D)."""
    import sys

    hmod = sys.modules["hiddenconvex.hessian"]
    for D in (10, hmod.CORE_EIGEN_MAX_DIM + 6):
        X = rng.standard_normal((40, D))
        if model == "logistic":
            obj = hc.LogisticRegression(X, (rng.random(40) > 0.5).astype(float))
            P = rng.standard_normal((3, D)) * 0.3
        else:
            obj = hc.MLP(X[:, :2], rng.standard_normal(40), [D // 3], activation="tanh", bias=False)
            P = np.stack([obj.init(s) for s in range(3)])
        r = hc.hessian(obj, P, method="gradients", richardson=False)
        w = np.linalg.eigvalsh(r.H)
        scale = np.max(np.abs(w), axis=1, keepdims=True)
        assert np.all(np.abs(r.eigenvalues - w) <= 64 * np.finfo(float).eps * r.dim * scale)
        v = r.min_eigenvector
        resid = np.einsum("bij,bj->bi", r.H, v) - r.lambda_min[:, None] * v
        assert np.all(np.linalg.norm(resid, axis=1) <= 1e-12 * scale[:, 0])
        m = np.max(np.abs(r.error), axis=(1, 2))
        want = m * np.sqrt(np.sum((r.error / m[:, None, None]) ** 2, axis=(1, 2)))
        np.testing.assert_allclose(r.tolerance, want, rtol=1e-14)


def test_lapack_path_verdicts_match_the_core_path(rng, monkeypatch):
    """Above CORE_EIGEN_MAX_DIM the spectra come from LAPACK and the certificates from a second
    core call (hessian_certify): the same verdicts, evaluation counts and (up to the eigenvector's
    rounding) certificates as the one-call path; checked here by lowering the limit. The
    certificates are checked against the definition q(t) = f(θ+tv) + f(θ−tv) − 2f(θ) too."""
    import importlib

    hmod = importlib.import_module("hiddenconvex.hessian")
    A, _ = _indefinite_quadratic(rng)
    q = hc.Quadratic(A, rng.standard_normal(6))
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    net = hc.MLP(X, y, [2], activation="tanh", bias=False)
    cases = [
        (q, rng.standard_normal((3, 6)), {}),
        (net, np.stack([net.init(s) for s in range(4)]), {"richardson": False}),
        (lambda t: float(t[0] ** 2 - t[1] ** 2), rng.standard_normal((2, 2)), {"dim": 2}),
    ]
    for obj, pts, kw in cases:
        core = hc.hessian(obj, pts, **kw)
        monkeypatch.setattr(hmod, "CORE_EIGEN_MAX_DIM", 0)
        lapack = hc.hessian(obj, pts, **kw)
        monkeypatch.undo()
        assert core.verdict == lapack.verdict
        assert "indefinite" in core.verdict
        assert core.n_evaluations == lapack.n_evaluations
        assert core.n_evaluations > core.n_points  # the certificates' evaluations are counted
        np.testing.assert_allclose(core.eigenvalues, lapack.eigenvalues, rtol=1e-10, atol=1e-12)
        for r in (core, lapack):
            np.testing.assert_array_equal(
                np.isfinite(r.certificate_t), np.array(r.verdict) == "indefinite"
            )
            f = obj.value if hasattr(obj, "value") else obj
            for k in np.flatnonzero(np.isfinite(r.certificate_t)):
                t, v, th = r.certificate_t[k], r.min_eigenvector[k], r.points[k]
                qt = f(th + t * v) + f(th - t * v) - 2 * f(th)
                assert qt < -r.certificate_tolerance[k]
                np.testing.assert_allclose(qt, r.certificate_gap[k], rtol=1e-6)
        np.testing.assert_allclose(core.certificate_gap, lapack.certificate_gap, rtol=1e-6)


@pytest.mark.parametrize("D", [12, 70])
def test_spectrum_false_returns_the_same_hessians_without_spectra(rng, D, tmp_path):
    """``spectrum=False``: H, error, kinks, τ, values, steps and evaluation counts identical to
    the full call's (whose certificates add evaluations only at candidates), on both sides of
    the core-eigensolver limit; the spectral fields are None, the summary says so, and the
    result still round-trips through to_dict."""
    X = rng.standard_normal((30, 3))
    net = hc.MLP(X, rng.standard_normal(30), [D // 4], activation="tanh", bias=False)
    pts = np.stack([net.init(s) for s in range(3)])
    for kw in ({"richardson": False, "method": "gradients"}, {}):
        full = hc.hessian(net, pts, **kw)
        bare = hc.hessian(net, pts, spectrum=False, **kw)
        for name in ("H", "error", "kink", "finite", "values", "steps", "tolerance"):
            np.testing.assert_array_equal(getattr(bare, name), getattr(full, name))
        assert bare.n_gradient_evaluations == full.n_gradient_evaluations
        n_cert = full.n_evaluations - bare.n_evaluations
        assert n_cert >= 0
        if all(v == "psd" for v in full.verdict):
            assert n_cert == 0
        for name in (
            "eigenvalues",
            "lambda_min",
            "lambda_max",
            "min_eigenvector",
            "verdict",
            "certificate_t",
            "certificate_gap",
            "certificate_tolerance",
        ):
            assert getattr(bare, name) is None
        assert bare.counts() == {}
        assert "spectrum=False" in bare.summary()
        assert bare.to_dict()["verdict"] is None
        for suffix in (".npz", ".json"):
            back = hc.load(bare.save(tmp_path / f"h{suffix}"))
            np.testing.assert_array_equal(back.H, bare.H)
            assert back.verdict is None and back.eigenvalues is None
    with pytest.raises(hc.InvalidTypeError, match="spectrum"):
        hc.hessian(net, pts, spectrum="no")


def test_spectrum_false_with_a_callable_and_non_finite_points():
    def f(t):
        return (np.log(t[0]) if t[0] > 0 else np.nan) + t[1] ** 2

    r = hc.hessian(f, [[1.0, 0.0], [-1.0, 0.0]], dim=2, spectrum=False)
    assert r.finite.tolist() == [True, False]
    np.testing.assert_allclose(r.H[0], [[-1.0, 0.0], [0.0, 2.0]], atol=1e-6)
    assert r.verdict is None


def test_core_spectra_identical_at_1_and_2_threads(rng, restore_threads):
    """The per-point eigen-analysis runs in parallel over points for large batches: eigenvalues
    and λ_min eigenvectors bit-identical at 1 and 2 threads (D = 100, 40 points)."""
    from hiddenconvex import _core

    A = rng.standard_normal((40, 100, 100))
    H = (A + A.transpose(0, 2, 1)) / 2
    E = np.zeros_like(H)
    fin = np.ones(40, bool)
    out = []
    for n in (1, 2):
        hc.set_thread_count(n)
        r = _core.hessian_spectrum(H, E, fin, True)
        out.append((r["eig"], r["vmin"]))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_many_sample_network_batch_is_parallel_and_thread_independent(restore_threads):
    """64 Hessians of a tanh network over 200 samples at D = 10 (few gradient entries, much work
    per entry: the batch goes over the pool by its multiply-adds): the same bits at 1, 2 and 3
    threads, and H within 1e-7 of JAX's exact Hessian of the same loss."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    rng = np.random.default_rng(17)
    n, d, m = 200, 4, 2
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    obj = hc.MLP(X, y, [m], activation="tanh", bias=False)
    assert obj.dim == 10
    pts = np.stack([obj.init(s) for s in range(64)])

    def f(t):
        W = t[: m * d].reshape(m, d)
        return 0.5 * jnp.sum((jnp.tanh(X @ W.T) @ t[m * d :] - y) ** 2)

    want = np.asarray(jax.vmap(jax.hessian(f))(pts))
    runs = []
    for t in (1, 2, 3):
        hc.set_thread_count(t)
        runs.append(hc.hessian(obj, pts, method="gradients", richardson=False))
    for r in runs[1:]:
        np.testing.assert_array_equal(r.H, runs[0].H)
        np.testing.assert_array_equal(r.error, runs[0].error)
        assert r.verdict == runs[0].verdict
    scale = np.max(np.abs(want), axis=(1, 2))
    assert np.all(np.max(np.abs(runs[0].H - want), axis=(1, 2)) <= 1e-7 * scale)
