"""The core's one loss module, seen from Python.

Oracles: NumPy closed forms of each loss and its derivative (written here, independently of the
core), evaluated on grids that include the kinks and extreme arguments; the native objectives and
the convex/wedge network objectives against the same closed forms. One Rust type serves all of
them, so the same loss gives the same numbers through every entry point.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex import _core
from scipy.special import expit

EXTREMES = [0.0, 1e-300, 1e-17, 1e-8, 0.3, 1.0, 1.7, 36.0, 40.0, 700.0, 745.0, 1e10, 1e200]


def _grid() -> np.ndarray:
    f = np.concatenate([np.linspace(-6.0, 6.0, 97), np.asarray(EXTREMES), -np.asarray(EXTREMES)])
    return np.concatenate([f, [1.0 - 2.0**-53, 1.0 + 2.0**-52, -1.0 - 2.0**-52]])


def _oracle(loss: str, f: np.ndarray, y: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ, ℓ') by closed forms (labels ±1 for logistic and hinge)."""
    with np.errstate(over="ignore"):
        return _closed_form(loss, f, y, delta)


def _closed_form(
    loss: str, f: np.ndarray, y: np.ndarray, delta: float
) -> tuple[np.ndarray, np.ndarray]:
    if loss == "squared":
        return 0.5 * (f - y) ** 2, f - y
    if loss == "logistic":
        z = y * f
        return np.logaddexp(0.0, -z), -y * expit(-z)
    if loss == "hinge":
        m = 1.0 - y * f
        return np.where(m > 0, m, 0.0), np.where(m > 0, -y, 0.0)
    if loss == "huber":
        r = f - y
        a = np.abs(r)
        value = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
        return value, np.clip(r, -delta, delta)
    raise AssertionError(loss)


def _targets(loss: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    if loss in ("logistic", "hinge"):
        return rng.choice([-1.0, 1.0], size=n)
    return rng.choice([0.0, 1.0, -2.5, 0.3, 1e3], size=n)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge", "huber"])
@pytest.mark.parametrize("delta", [1.0, 0.05])
def test_loss_rows_match_closed_forms_at_extreme_arguments(loss: str, delta: float) -> None:
    f = _grid()
    rows = []
    for y in _targets(loss, 5):
        rows.append(np.full_like(f, y))
    Y = np.asarray(rows)
    F = np.broadcast_to(f, Y.shape).copy()
    sums, grad = _core.loss_rows(loss, F, Y, huber_delta=delta, grad=True)
    assert grad is not None
    want, dwant = _oracle(loss, F, Y, delta)
    finite = np.isfinite(want)
    # pointwise: the row sums of one-column slices are the pointwise values
    for r in range(Y.shape[0]):
        for k in range(f.size):
            v, _ = _core.loss_rows(loss, F[r : r + 1, k : k + 1], Y[r : r + 1, k : k + 1],
                                   huber_delta=delta)  # fmt: skip
            if finite[r, k]:
                assert v[0] == pytest.approx(want[r, k], rel=4e-16 * 8, abs=1e-300), (r, f[k])
            else:
                assert v[0] == want[r, k]
    np.testing.assert_allclose(grad, dwant, rtol=4e-16 * 8, atol=1e-300)
    ok = np.all(finite, axis=1)
    np.testing.assert_allclose(sums[ok], want[ok].sum(axis=1), rtol=1e-13)


def test_loss_names_and_parameters_are_checked() -> None:
    f = np.zeros((1, 3))
    with pytest.raises(hc.InvalidInputError, match="loss: expected one of 'squared', 'logistic', "
                       "'hinge', 'huber', got \"squared_hinge\""):  # fmt: skip
        _core.loss_rows("squared_hinge", f, f)  # type: ignore[arg-type]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(hc.InvalidInputError, match="huber_delta"):
            _core.loss_rows("huber", f, f, huber_delta=bad)
    with pytest.raises(hc.InvalidInputError, match="y"):
        _core.loss_rows("squared", f, np.zeros((3, 1)))
    X = np.ones((3, 2))
    with pytest.raises(hc.InvalidInputError, match="loss: expected one of"):
        hc.LinearModel(X, np.ones(3), loss="huber")  # type: ignore[arg-type]


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge", "squared_hinge"])
def test_native_objective_loss_matches_closed_form(loss: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (
        np.where(rng.standard_normal(30) > 0, 1.0, -1.0)
        if loss != "squared"
        else rng.normal(size=30)
    )
    obj = hc.LinearModel(X, y, loss=loss, bias=False)  # type: ignore[arg-type]
    for scale in (0.1, 3.0, 300.0):
        th = scale * rng.standard_normal(3)
        f = X @ th
        if loss == "squared_hinge":
            m = np.maximum(1.0 - y * f, 0.0)
            want, dwant = np.sum(m * m), X.T @ (-2.0 * y * m)
        else:
            lv, dl = _oracle(loss, f, y, 1.0)
            want, dwant = float(np.sum(lv)), X.T @ dl
        v, g = obj.value_and_gradient(th)
        assert v == pytest.approx(want, rel=1e-13, abs=1e-300)
        np.testing.assert_allclose(g, dwant, rtol=1e-12, atol=1e-12 * np.abs(dwant).max())
        if loss != "squared_hinge":
            # the same loss through the convex solvers' entry point gives the same sum
            s, _ = _core.loss_rows(loss, f[None, :], y[None, :])  # type: ignore[arg-type]
            assert s[0] == pytest.approx(v, rel=1e-13, abs=1e-300)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge", "huber"])
def test_relu_network_objective_matches_closed_form(loss: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((25, 2))
    y = _targets(loss, 25) if loss != "squared" else rng.normal(size=25)
    U, a, beta = rng.standard_normal((2, 4)), rng.standard_normal(4), 0.3
    f = np.maximum(X @ U, 0.0) @ a
    lv, _ = _oracle(loss, f, y, 0.5)
    reg = 0.5 * beta * (np.sum(U * U) + np.sum(a * a))
    got = hc.relu_network_objective(X, y, U, a, beta, loss=loss, huber_delta=0.5)  # type: ignore[arg-type]
    assert got == pytest.approx(float(np.sum(lv)) + reg, rel=1e-14)
    got = hc.relu_network_objective(X, y, U, a, beta, loss=loss, huber_delta=0.5, scaling="mean")  # type: ignore[arg-type]
    assert got == pytest.approx(float(np.sum(lv)) / 25 + reg, rel=1e-14)


def test_wedge_network_objective_matches_closed_form() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    U, a, beta = rng.standard_normal((3, 5)), rng.standard_normal(5), 0.2
    f = np.maximum(X @ U, 0.0) @ a + 0.25
    want = 0.5 * float(np.sum((f - y) ** 2)) + 0.5 * beta * (
        float(np.sum(np.linalg.norm(U, axis=0) ** 2)) + float(np.sum(a * a))
    )
    got = hc.wedge_network_objective(X, y, U, a, beta, intercept=0.25)
    assert got == pytest.approx(want, rel=1e-14)
