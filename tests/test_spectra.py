"""Hessian-vector products, Lanczos eigenvalues and SLQ densities against exact Hessians.

Oracles: quadratics with a known spectrum, the closed-form logistic-regression Hessian
Xᵀ diag(σ(1−σ)) X + l2·I, jax.hessian of a small tanh MLP, and scipy's eigsh / numpy's eigvalsh on
the dense matrices.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex.exceptions import InvalidInputError, InvalidTypeError, ResourceLimitError
from scipy.sparse.linalg import eigsh


def _quadratic(eigs: np.ndarray, seed: int) -> tuple[hc.Quadratic, np.ndarray]:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((eigs.size, eigs.size)))
    A = (Q * eigs) @ Q.T
    A = 0.5 * (A + A.T)
    return hc.Quadratic(A, rng.standard_normal(eigs.size)), A


def _logistic(rng: np.random.Generator, n: int = 80, d: int = 30, l2: float = 0.3):
    X = rng.standard_normal((n, d))
    y = np.sign(X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n))
    obj = hc.LogisticRegression(X, y, l2=l2)
    w = 0.3 * rng.standard_normal(d)
    s = 1.0 / (1.0 + np.exp(-(X @ w)))
    H = X.T @ (X * (s * (1 - s))[:, None]) + l2 * np.eye(d)
    return obj, w, H


def test_hvp_quadratic_exact_and_shapes(rng):
    obj, A = _quadratic(np.linspace(-3, 5, 40), 1)
    theta = rng.standard_normal(40)
    V = rng.standard_normal((40, 5))
    r = hc.hvp(obj, theta, V)
    np.testing.assert_allclose(r.hv, A @ V, atol=1e-8)
    assert r.hv.shape == r.error.shape == (40, 5)
    assert np.all(r.error >= 0) and np.all(np.abs(r.hv - A @ V) <= r.error + 1e-9)
    assert r.n_gradient_evaluations == 4 * 5
    one = hc.hvp(obj, theta, V[:, 2], richardson=False)
    assert one.hv.shape == (40,) and one.n_gradient_evaluations == 2
    np.testing.assert_allclose(one.hv, A @ V[:, 2], atol=1e-6)
    # the step is a power of two from the scale of theta
    assert np.log2(r.h) == np.round(np.log2(r.h))
    # float32 / int input gives the same result
    r32 = hc.hvp(obj, theta, V.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(r32.hv, hc.hvp(obj, theta, V.astype(np.float32)).hv)
    assert "Hessian-vector" in r.summary()


def test_hvp_logistic_closed_form(rng):
    obj, w, H = _logistic(rng)
    V = rng.standard_normal((30, 4))
    r = hc.hvp(obj, w, V)
    err = np.abs(r.hv - H @ V)
    assert np.max(err) <= 1e-7 * np.max(np.abs(H @ V))
    # the error estimate is an upper bound of the actual error (up to rounding)
    assert np.all(err <= r.error + 1e-10)


def test_eigenvalues_quadratic_known_spectrum(rng):
    eigs = np.concatenate([np.linspace(0.1, 10, 97), [20.0, 30.0, 40.0]])
    obj, A = _quadratic(eigs, 2)
    theta = rng.standard_normal(100)
    r = hc.eigenvalues(obj, theta, k=3, which="largest", seed=1)
    np.testing.assert_allclose(r.eigenvalues, [40, 30, 20], rtol=1e-9)
    assert np.all(np.abs(r.eigenvalues - [40, 30, 20]) <= r.bounds)
    assert r.converged.all()
    assert r.verdict == "inconclusive"  # the smallest end was not computed
    s = hc.eigenvalues(obj, theta, k=2, which="smallest", seed=1)
    np.testing.assert_allclose(s.eigenvalues, eigs[:2], rtol=1e-8)
    assert s.verdict == "psd" and s.tolerance < 1e-6
    # eigenvectors are eigenvectors of A
    Y = s.eigenvectors
    np.testing.assert_allclose(A @ Y, Y * s.eigenvalues, atol=1e-6)
    # an indefinite quadratic is certified indefinite
    obj2, _ = _quadratic(np.concatenate([[-0.5], np.linspace(1, 3, 59)]), 3)
    b = hc.eigenvalues(obj2, np.zeros(60), k=2, which="both", seed=0)
    np.testing.assert_allclose(b.eigenvalues, [-0.5, 1.0, 3.0, 3.0 - 2 / 58], rtol=1e-7)
    assert b.verdict == "indefinite" and b.lambda_min == pytest.approx(-0.5)
    assert "verdict: indefinite" in b.summary()


def test_eigenvalues_logistic_match_dense_eigsh(rng):
    obj, w, H = _logistic(rng)
    ref_hi = eigsh(H, k=4, which="LA", return_eigenvectors=False)
    ref_lo = eigsh(H, k=3, which="SA", return_eigenvectors=False)
    r = hc.eigenvalues(obj, w, k=4, which="largest", seed=3)
    np.testing.assert_allclose(r.eigenvalues, np.sort(ref_hi)[::-1], rtol=1e-8)
    s = hc.eigenvalues(obj, w, k=3, which="smallest", seed=3, method="eigsh")
    np.testing.assert_allclose(s.eigenvalues, np.sort(ref_lo), rtol=1e-7)
    assert s.method == "eigsh" and s.verdict == "psd"
    assert np.all(np.abs(s.eigenvalues - np.sort(ref_lo)) <= s.bounds)


def _jax_mlp(X, y, widths, wd):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def loss(theta):
        h = jnp.asarray(X)
        off = 0
        out = 0.0
        for k in range(len(widths) - 1):
            n_in, n_out = widths[k], widths[k + 1]
            W = theta[off : off + n_in * n_out].reshape(n_out, n_in)
            off += n_in * n_out
            b = theta[off : off + n_out]
            off += n_out
            h = h @ W.T + b
            if k < len(widths) - 2:
                h = jnp.tanh(h)
            out = out + 0.5 * wd * jnp.sum(W**2)
        return out + 0.5 * jnp.sum((h[:, 0] - y) ** 2)

    return jax, loss


def test_small_mlp_against_jax_hessian(rng):
    X = rng.standard_normal((30, 4))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(30)
    obj = hc.MLP(X, y, hidden=(6, 5), activation="tanh", weight_decay=1e-3)
    theta = obj.init(seed=2)
    jax, loss = _jax_mlp(X, y, obj.widths, 1e-3)
    np.testing.assert_allclose(float(loss(theta)), obj.value(theta), rtol=1e-12)
    H = np.asarray(jax.jit(jax.hessian(loss))(theta))
    w = np.linalg.eigvalsh(H)
    assert w[0] < 0  # an indefinite training loss
    r = hc.eigenvalues(obj, theta, k=3, which="both", seed=5)
    want = np.concatenate([w[:3], w[::-1][:3]])
    np.testing.assert_allclose(r.eigenvalues, want, rtol=1e-6, atol=1e-8 * abs(w).max())
    assert np.all(np.abs(r.eigenvalues - want) <= r.bounds + 1e-12)
    assert r.verdict == "indefinite"
    V = rng.standard_normal((obj.dim, 3))
    np.testing.assert_allclose(hc.hvp(obj, theta, V).hv, H @ V, atol=1e-7 * np.abs(H).max())
    # SciPy's ARPACK on the same operator agrees
    e = hc.eigenvalues(obj, theta, k=3, which="both", seed=5, method="eigsh")
    np.testing.assert_allclose(e.eigenvalues, want, rtol=1e-6, atol=1e-8 * abs(w).max())


def test_python_callable_with_gradient(rng):
    obj, w, H = _logistic(rng, n=40, d=12)
    X, y, l2 = obj.X, obj.y, obj.l2

    def grad(t):
        m = y * (X @ t)
        return -X.T @ (y / (1 + np.exp(m))) + l2 * t

    def grad_v(T):
        M = y * (T @ X.T)
        return -(y / (1 + np.exp(M))) @ X + l2 * T

    calls = []

    def grad_v_logged(T):
        calls.append(T.shape)
        return grad_v(T)

    V = rng.standard_normal((12, 3))
    a = hc.hvp(None, w, V, gradient=grad)
    b = hc.hvp(obj, w, V)
    c = hc.hvp(None, w, V, gradient=grad_v_logged, vectorized=True)
    np.testing.assert_allclose(a.hv, H @ V, atol=1e-8)
    np.testing.assert_allclose(c.hv, a.hv, atol=1e-10)
    np.testing.assert_allclose(b.hv, a.hv, atol=1e-8)
    assert calls == [(12, 12)]  # one call for the whole block of 4K points
    e = hc.eigenvalues(
        lambda t: 0.0, w, k=2, which="both", gradient=grad_v, vectorized=True, seed=1
    )
    ref = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(e.eigenvalues, [ref[0], ref[1], ref[-1], ref[-2]], rtol=1e-8)
    d = hc.spectral_density(None, w, gradient=grad, n_probes=3, n_steps=12, seed=2)
    assert d.n_probes == 3

    # errors raised by the callable surface with a note
    def bad(t):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        hc.hvp(None, w, V, gradient=bad)
    with pytest.raises(InvalidInputError, match="gradient"):
        hc.hvp(None, w, V, gradient=lambda T: np.zeros((2, 2)), vectorized=True)


def test_spectral_density_moments(rng):
    eigs = np.concatenate([np.linspace(-1, 2, 150), [8.0, 9.0]])
    obj, A = _quadratic(eigs, 4)
    theta = rng.standard_normal(152)
    r = hc.spectral_density(obj, theta, n_probes=40, n_steps=30, seed=7, n_grid=2000)
    D = 152
    tr, tr2 = np.trace(A), np.sum(A * A)
    # Hutchinson with Rademacher probes: var(vᵀAv) = 2 Σ_{i≠j} A_ij² (unnormalised probes)
    sd = np.sqrt(2 * (np.sum(A * A) - np.sum(np.diag(A) ** 2)) / 40)
    assert abs(r.trace - tr) <= 5 * sd
    assert abs(r.trace - tr) <= 5 * r.trace_se + 1e-9
    assert abs(r.trace_sq - tr2) <= 0.1 * tr2
    # per-probe quadrature weights sum to one, the density integrates to one
    np.testing.assert_allclose(r.weights.sum(axis=1), 1.0, rtol=1e-12)
    assert np.trapezoid(r.density, r.grid) == pytest.approx(1.0, rel=1e-3)
    # nodes span the spectrum's ends (Lanczos finds the outliers)
    assert np.max(r.nodes) == pytest.approx(9.0, rel=1e-6)
    assert np.min(r.nodes[r.weights > 0]) == pytest.approx(-1.0, rel=1e-3)
    assert r.moment(1) == pytest.approx(r.trace / D)
    # seeded: reproducible
    r2 = hc.spectral_density(obj, theta, n_probes=40, n_steps=30, seed=7, n_grid=2000)
    np.testing.assert_array_equal(r.nodes, r2.nodes)
    assert "spectral density" in r.summary()


def test_results_do_not_depend_on_thread_count(rng, restore_threads):
    X = rng.standard_normal((25, 3))
    obj = hc.MLP(X, X[:, 0] ** 2, hidden=(8,), activation="tanh")
    theta = obj.init(seed=0)
    hc.set_thread_count(1)
    a = hc.eigenvalues(obj, theta, k=2, which="both", seed=4)
    sa = hc.spectral_density(obj, theta, n_probes=5, n_steps=10, seed=4)
    hc.set_thread_count(2)
    b = hc.eigenvalues(obj, theta, k=2, which="both", seed=4)
    sb = hc.spectral_density(obj, theta, n_probes=5, n_steps=10, seed=4)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    np.testing.assert_array_equal(a.eigenvectors, b.eigenvectors)
    np.testing.assert_array_equal(sa.nodes, sb.nodes)


def test_seed_recorded_and_roundtrip(rng, tmp_path):
    obj, w, _ = _logistic(rng, n=30, d=10)
    r = hc.eigenvalues(obj, w, k=2, seed=None)
    again = hc.eigenvalues(obj, w, k=2, seed=r.seed)
    np.testing.assert_array_equal(r.eigenvalues, again.eigenvalues)
    for ext in ("npz", "json"):
        p = r.save(tmp_path / f"s.{ext}")
        back = hc.load(p)
        np.testing.assert_array_equal(back.eigenvalues, r.eigenvalues)
        assert back.verdict == r.verdict
    d = hc.spectral_density(obj, w, n_probes=2, n_steps=5, seed=1)
    back = hc.load(d.save(tmp_path / "d.npz"))
    np.testing.assert_array_equal(back.density, d.density)


def test_progress_callback_error_cancels(rng):
    X = rng.standard_normal((200, 10))
    obj = hc.MLP(X, X[:, 0], hidden=(60, 60), activation="tanh")
    theta = obj.init(seed=0)

    def stop(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        hc.eigenvalues(
            obj, theta, k=3, which="smallest", tol=1e-14, max_restarts=10**6, progress=stop
        )


def test_bad_input(rng):
    obj, w, _ = _logistic(rng, n=20, d=6)
    with pytest.raises(InvalidInputError, match="theta"):
        hc.hvp(obj, np.array([1.0, np.nan, 0, 0, 0, 0]), np.ones(6))
    with pytest.raises(InvalidInputError, match="theta"):
        hc.hvp(obj, np.ones(5), np.ones(5))
    with pytest.raises(InvalidInputError, match="V"):
        hc.hvp(obj, w, np.ones(5))
    with pytest.raises(InvalidInputError, match="V"):
        hc.hvp(obj, w, np.full(6, np.inf))
    with pytest.raises(InvalidInputError, match="V"):
        hc.hvp(obj, w, np.ones((6, 2, 1)))
    with pytest.raises(InvalidInputError, match="step"):
        hc.hvp(obj, w, np.ones(6), step=0.0)
    with pytest.raises(InvalidTypeError, match="V"):
        hc.hvp(obj, w, np.array(["a"] * 6))
    with pytest.raises(InvalidInputError, match="'largest', 'smallest', 'both'"):
        hc.eigenvalues(obj, w, k=1, which="biggest")
    with pytest.raises(InvalidInputError, match="k"):
        hc.eigenvalues(obj, w, k=7)
    with pytest.raises(InvalidInputError, match="k"):
        hc.eigenvalues(obj, w, k=4, which="both")
    with pytest.raises(InvalidInputError, match="k"):
        hc.eigenvalues(obj, w, k=0)
    with pytest.raises(InvalidTypeError, match="k"):
        hc.eigenvalues(obj, w, k=1.5)
    with pytest.raises(InvalidInputError, match="tol"):
        hc.eigenvalues(obj, w, k=1, tol=0.0)
    with pytest.raises(InvalidInputError, match="tol"):
        hc.eigenvalues(obj, w, k=1, tol=float("nan"))
    with pytest.raises(InvalidInputError, match="method"):
        hc.eigenvalues(obj, w, k=1, method="arpack")
    with pytest.raises(InvalidInputError, match="ncv"):
        hc.eigenvalues(obj, np.zeros(6), k=2, ncv=3)
    with pytest.raises(InvalidInputError, match="n_probes"):
        hc.spectral_density(obj, w, n_probes=0)
    with pytest.raises(InvalidInputError, match="sigma"):
        hc.spectral_density(obj, w, sigma=-1.0)
    with pytest.raises(InvalidInputError, match="gradient"):
        hc.hvp(lambda t: 0.0, w, np.ones(6))
    with pytest.raises(InvalidInputError, match="gradient"):
        hc.hvp(obj, w, np.ones(6), gradient=lambda t: t)
    with pytest.raises(InvalidTypeError, match="objective"):
        hc.eigenvalues("f", w)
    # refused before allocating: the basis of 301 vectors of length 10^6 exceeds 2 GiB
    called = []
    with pytest.raises(ResourceLimitError, match="estimated .* MiB"):
        hc.eigenvalues(
            None, np.zeros(10**6), k=1, ncv=300, gradient=lambda t: called.append(1) or t
        )
    assert not called
    with pytest.raises(ResourceLimitError, match="n_steps"):
        hc.spectral_density(
            None, np.zeros(10**6), n_steps=1000, gradient=lambda t: called.append(1) or t
        )
    assert not called


def test_plot_spectrum_writes_a_png(rng, tmp_path):
    pytest.importorskip("matplotlib")
    from hiddenconvex.plot import plot_spectrum
    from PIL import Image

    obj, _ = _quadratic(np.concatenate([[-0.5], np.linspace(1, 3, 59)]), 3)
    theta = np.zeros(60)
    low = hc.eigenvalues(obj, theta, k=2, which="smallest", seed=0)
    top = hc.eigenvalues(obj, theta, k=2, which="largest", seed=0)
    dens = hc.spectral_density(obj, theta, n_probes=3, n_steps=10, seed=0)
    p = plot_spectrum(dens, tmp_path / "s.png", extremes=(top, low))
    with Image.open(p) as im:
        assert im.format == "PNG" and min(im.size) >= 300
    with pytest.raises(InvalidInputError, match="png"):
        plot_spectrum(dens, tmp_path / "s.pdf")
