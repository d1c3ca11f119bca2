"""Loss slices and figures: values against direct evaluation, filter normalisation against its
definition (Li et al. 2018), witness chords against the midpoint report, PNGs opened with Pillow."""

from __future__ import annotations

import _reference_midpoint as ref
import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex import plot


def _net(rng):
    X = rng.standard_normal((30, 3))
    net = hc.MLP(X, rng.standard_normal(30), [4, 3], activation="relu")
    return net, net.init(7)


def _png_ok(path, min_size=(300, 200)):
    Image = pytest.importorskip("PIL.Image")
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        arr = np.asarray(im.convert("L"))
        assert arr.std() > 5  # not a blank canvas


def test_slice_1d_matches_direct_evaluation(rng):
    net, th = _net(rng)
    d = rng.standard_normal(net.dim)
    ts = np.linspace(-2, 2, 17)
    s = hc.slice_1d(net, th, d, ts)
    want = [net(th + t * d) for t in ts]
    np.testing.assert_array_equal(s.values, want)
    assert s.values[8] == net(th)
    # Callable path, scalar and vectorised.
    s2 = hc.slice_1d(lambda v: net(v), th, d, ts, dim=net.dim)
    np.testing.assert_array_equal(s2.values, s.values)
    s3 = hc.slice_1d(net.values, th, d, ts, dim=net.dim, vectorized=True)
    np.testing.assert_array_equal(s3.values, s.values)
    assert "1-D slice" in s.summary()


def test_slice_2d_matches_direct_evaluation_and_a_quadratic(rng):
    f = lambda T: np.sum(T * T, axis=1)  # noqa: E731
    th = np.array([1.0, -2.0, 0.5])
    d1, d2 = np.array([1.0, 0, 0]), np.array([0, 1.0, 1.0])
    al, be = np.linspace(-1, 1, 7), np.linspace(-2, 2, 5)
    s = hc.slice_2d(f, th, d1, d2, (al, be), dim=3, vectorized=True)
    assert s.values.shape == (7, 5)
    A, B = np.meshgrid(al, be, indexing="ij")
    exact = (1 + A) ** 2 + (-2 + B) ** 2 + (0.5 + B) ** 2
    np.testing.assert_allclose(s.values, exact, rtol=1e-14)
    net, t0 = _net(rng)
    u, v = rng.standard_normal((2, net.dim))
    s = hc.slice_2d(net, t0, u, v, 5, extent=0.5)
    assert s.values[2, 3] == net(t0 + s.alphas[2] * u + s.betas[3] * v)


def test_random_direction_filter_normalisation(rng):
    net, th = _net(rng)
    d = hc.random_direction(net, th, seed=3)
    np.testing.assert_array_equal(d, hc.random_direction(net, th, seed=3))
    p, q = net.unflatten(d), net.unflatten(th)
    for Wd, Wt, bd in zip(p["weights"], q["weights"], p["biases"], strict=True):
        np.testing.assert_allclose(np.linalg.norm(Wd, axis=1), np.linalg.norm(Wt, axis=1))
        assert np.all(bd == 0.0)  # biases left out
    d_b = hc.random_direction(net, th, seed=3, include_biases=True)
    pb = net.unflatten(d_b)
    assert np.any(pb["biases"][0] != 0.0) or np.all(q["biases"][0] == 0.0)
    raw = hc.random_direction(net, th, seed=3, normalization=None)
    assert np.all(raw != 0.0)
    g = hc.random_direction(
        lambda v: 0.0, np.array([3.0, 4.0, 1.0]), seed=1, groups=[[0, 1]], dim=3
    )
    assert np.linalg.norm(g[:2]) == pytest.approx(5.0) and g[2] == 0.0
    lin = hc.LeastSquares(rng.standard_normal((5, 4)), rng.standard_normal(5), bias=True)
    wl = np.array([1.0, 2.0, 2.0, 0.0, 5.0])
    dl = hc.random_direction(lin, wl, seed=0)
    assert np.linalg.norm(dl[:4]) == pytest.approx(3.0) and dl[4] == 0.0
    with pytest.raises(hc.InvalidInputError, match="normalization"):
        hc.random_direction(lambda v: 0.0, np.zeros(3), dim=3, seed=0)
    with pytest.raises(hc.InvalidInputError, match="normalization"):
        hc.random_direction(net, th, normalization="layer")


def test_witness_slice_shows_the_violation(tmp_path):
    scalar, vec = ref.one_hidden_unit(1.0, 0.0, 0.0)
    rep = hc.midpoint_test(vec, dim=2, vectorized=True, n_pairs=2000, seed=2)
    assert rep.certified
    s = hc.witness_slice(vec, rep, dim=2, vectorized=True)
    w = rep.witness
    assert s.kind == "witness"
    assert s.t_mid == pytest.approx(1 - w.t)
    assert s.f_mid == w.fm
    assert s.chord_mid == pytest.approx(w.t * w.fa + (1 - w.t) * w.fb)
    assert s.f_mid > s.chord_mid
    i0, i1 = np.argmin(np.abs(s.ts)), np.argmin(np.abs(s.ts - 1))
    assert s.chord[i0] == pytest.approx(w.fa) and s.chord[i1] == pytest.approx(w.fb)
    assert "above the chord" in s.summary()
    p = s.plot(tmp_path / "witness.png")
    _png_ok(p)
    # Round trip of a slice result.
    back = hc.load(s.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(back.values, s.values)
    assert back.f_mid == s.f_mid
    with pytest.raises(hc.InvalidInputError, match="b"):
        hc.witness_slice(vec, np.zeros(2), dim=2, vectorized=True)


def test_plots_write_valid_pngs(tmp_path, rng):
    net, th = _net(rng)
    d1 = hc.random_direction(net, th, seed=1)
    d2 = hc.random_direction(net, th, seed=2)
    _png_ok(hc.slice_1d(net, th, d1).plot(tmp_path / "a.png"))
    s2 = hc.slice_2d(net, th, d1, d2, 15)
    _png_ok(plot.plot_slice_2d(s2, tmp_path / "b.png"))
    _png_ok(plot.plot_slice_2d(s2, tmp_path / "b_log.png", log=True))
    lam = np.concatenate([rng.standard_normal(200), -0.1 * rng.random(20)])
    _png_ok(plot.plot_eigenvalues(lam.reshape(11, 20), tmp_path / "c.png", tol=0.05))
    rep = hc.midpoint_test(net, n_pairs=500, seed=1, center=th, scales=(1.0,))
    _png_ok(plot.plot_gap_histogram(rep, tmp_path / "d.png"))
    with pytest.raises(hc.InvalidInputError, match="png"):
        plot.plot_eigenvalues(lam, tmp_path / "c.jpg")
    with pytest.raises(hc.InvalidInputError, match="eigenvalues"):
        plot.plot_eigenvalues(np.array([np.nan]), tmp_path / "e.png")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f: hc.slice_1d(f, np.zeros(3), np.zeros(4), dim=3, vectorized=True), "direction"),
        (lambda f: hc.slice_1d(f, np.zeros(2), np.zeros(3), dim=3, vectorized=True), "theta"),
        (
            lambda f: hc.slice_1d(f, np.zeros(3), np.ones(3), [0, np.nan], dim=3, vectorized=True),
            "ts",
        ),
        (lambda f: hc.slice_2d(f, np.zeros(3), np.ones(3), np.ones(3), 1, dim=3), "grid"),
        (lambda f: hc.slice_2d(f, np.zeros(3), np.ones(3), np.ones(3), "x", dim=3), "grid"),
        (lambda f: hc.witness_slice(f, np.zeros(3), np.ones(3), t=1.0, dim=3), "t"),
    ],
)
def test_slice_bad_input(call, match):
    with pytest.raises(hc.InvalidInputError, match=match):
        call(lambda T: np.sum(T, axis=-1))


def test_slice_with_nan_values_is_kept(tmp_path):
    f = lambda T: np.where(T[:, 0] > 0.5, np.nan, T[:, 0] ** 2)  # noqa: E731
    s = hc.slice_1d(f, np.zeros(1), np.ones(1), dim=1, vectorized=True)
    assert np.isnan(s.values[-1]) and np.isfinite(s.values[0])
    _png_ok(s.plot(tmp_path / "nan.png"))


def test_eigenvalue_plot_of_a_hessian_result(tmp_path, rng):
    d = 5
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    obj = hc.Quadratic(Q @ np.diag([-1.0, 0.5, 1.0, 2.0, 3.0]) @ Q.T)
    res = hc.hessian(obj, rng.standard_normal((4, d)))
    _png_ok(plot.plot_eigenvalues(res, tmp_path / "h.png"))
    _png_ok(plot.plot_eigenvalues(res.eigenvalues, tmp_path / "h2.png", tol=0.1))


def test_random_direction_refuses_the_zero_direction(rng):
    net, th = _net(rng)
    with pytest.raises(hc.InvalidInputError, match="theta"):
        hc.random_direction(net, np.zeros(net.dim), seed=0)
    with pytest.raises(hc.InvalidInputError, match="groups"):
        hc.random_direction(net, th, seed=0, groups=[])
    d = hc.random_direction(net, th, seed=0)
    assert np.linalg.norm(d) > 0
