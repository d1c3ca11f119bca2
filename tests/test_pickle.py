"""Pickling for transport between processes: every objective, result and fitted estimator.

Oracle: the object before pickling. A round trip must give an object that evaluates, predicts
and reports exactly as the original (bit for bit), also after crossing into a fresh interpreter
(``ProcessPoolExecutor`` with the ``spawn`` start method). Files on disk stay pickle-free.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing as mp
import pickle

import hiddenconvex as hc
import numpy as np
import pytest

RNG = np.random.default_rng(7)
X = RNG.standard_normal((14, 3))
Y_REG = X[:, 0] - 0.5 * X[:, 1] ** 2
Y_CLS = (X[:, 0] + 0.3 * X[:, 2] > 0).astype(float)


def _objectives() -> dict[str, hc.Objective]:
    A = RNG.standard_normal((4, 4))
    icnn = hc.ICNN(X, Y_REG, [3, 2], activation="softplus", nonneg="clip", weight_decay=0.1)
    return {
        "Quadratic": hc.Quadratic(A, b=np.arange(4.0), c=2.5),
        "LinearModel": hc.LinearModel(X, Y_CLS, loss="squared_hinge", bias=True, l2=0.3),
        "LeastSquares": hc.LeastSquares(X, Y_REG, bias=True),
        "LogisticRegression": hc.LogisticRegression(X, Y_CLS, l2=0.1),
        "HingeLoss": hc.HingeLoss(X, Y_CLS, squared=True),
        "MLP": hc.MLP(X, np.c_[Y_REG, Y_CLS], hidden=(4, 3), activation="tanh", weight_decay=0.01),
        "TwoLayerReLU": hc.TwoLayerReLU(X, Y_REG, 5, beta=0.2, bias=True),
        "TwoLayerReLU-logistic": hc.TwoLayerReLU(X, Y_CLS, 3, loss="logistic"),
        "ICNN": icnn,
        "ICNNInput": icnn.as_input_function(icnn.init(seed=1)),
    }


OBJECTIVES = _objectives()


def _same_evaluations(a: hc.Objective, b: hc.Objective) -> None:
    assert type(a) is type(b)
    assert (a.dim, a.name, a.has_gradient, repr(a)) == (b.dim, b.name, b.has_gradient, repr(b))
    pts = np.random.default_rng(3).standard_normal((6, a.dim))
    np.testing.assert_array_equal(a.values(pts), b.values(pts))
    if a.has_gradient:
        np.testing.assert_array_equal(a.gradients(pts), b.gradients(pts))
    assert a.value_and_scale(pts[0]) == b.value_and_scale(pts[0])


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_native_objective_round_trip(name: str) -> None:
    obj = OBJECTIVES[name]
    copy = pickle.loads(pickle.dumps(obj))
    _same_evaluations(obj, copy)
    # the Python-side layout survives too (flatten/unflatten, unit indices)
    if hasattr(obj, "unit_indices") and isinstance(obj, hc.MLP):
        for u, v in zip(obj.unit_indices(0), copy.unit_indices(0), strict=True):
            np.testing.assert_array_equal(u, v)


def test_pickled_objective_is_independent_and_deep_copies() -> None:
    import copy

    obj = OBJECTIVES["TwoLayerReLU"]
    for other in (copy.copy(obj), copy.deepcopy(obj)):
        _same_evaluations(obj, other)


def vectorised_sum_of_squares(theta: np.ndarray) -> np.ndarray:
    return np.sum(theta * theta, axis=1)


def test_callable_objective_round_trip() -> None:
    obj = hc.CallableObjective(vectorised_sum_of_squares, 3, vectorized=True)
    copy = pickle.loads(pickle.dumps(obj))
    pts = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(obj.values(pts), copy.values(pts))
    np.testing.assert_array_equal(copy.values(pts), np.sum(pts**2, axis=1))
    assert repr(obj) == repr(copy)


def test_callable_objective_of_an_unpicklable_callable_fails_clearly() -> None:
    obj = hc.CallableObjective(lambda t: float(t @ t), 3)
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        pickle.dumps(obj)


def _assert_same(a: object, b: object, path: str = "") -> None:
    if isinstance(a, hc.Result):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _assert_same(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), path
    else:
        assert a == b, (path, a, b)


def _results() -> dict[str, hc.Result]:
    obj = OBJECTIVES["TwoLayerReLU"]
    theta = obj.init(seed=2)
    model = hc.ConvexReLU(beta=0.05, solver="fista", tol=1e-6).fit(X, Y_REG)
    return {
        "Chambers": hc.chambers(X, method="exact"),
        "Chambers-sample": hc.chambers(X, method="sample", n_samples=500, seed=1),
        "MidpointReport": hc.midpoint_test(obj, n_pairs=200, seed=5),
        "MidpointPart": hc.midpoint_test(obj, n_pairs=200, seed=5, pair_range=(50, 300)),
        "HessianResult": hc.hessian(obj, theta),
        "Slice1D": hc.slice_1d(
            obj, theta, hc.random_direction(obj, theta, seed=1), np.linspace(-1, 1, 11)
        ),
        "TrainingResult": hc.train_relu_network(X, Y_REG, 3, beta=0.1, epochs=5, seed=0),
        "ConvexFitResult": model.result_,
    }


RESULTS = _results()


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_result_round_trip(name: str) -> None:
    res = RESULTS[name]
    copy = pickle.loads(pickle.dumps(res))
    _assert_same(res, copy)
    assert copy.summary() == res.summary()


@pytest.mark.parametrize("cls", [hc.ConvexReLU, hc.ConvexGatedReLU])
def test_fitted_estimator_round_trip(cls: type) -> None:
    model = cls(beta=0.05, tol=1e-6).fit(X, Y_REG)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.predict(X), copy.predict(X))
    assert copy.get_params() == model.get_params()
    _assert_same(model.result_, copy.result_)
    # an unfitted estimator pickles as its parameters
    fresh = pickle.loads(pickle.dumps(cls(beta=0.3, loss="logistic")))
    assert fresh.get_params() == cls(beta=0.3, loss="logistic").get_params()


# ---- across processes (a fresh interpreter: spawn) -----------------------------------------
def _evaluate(obj: hc.Objective, pts: np.ndarray) -> np.ndarray:
    return obj.values(pts)


def _predict(model: object, Xq: np.ndarray) -> np.ndarray:
    return model.predict(Xq)  # type: ignore[attr-defined]


def _echo(obj: object) -> object:
    return obj


@pytest.fixture(scope="module")
def spawn_pool():
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        yield pool


def test_objectives_evaluate_identically_in_a_spawned_process(spawn_pool) -> None:
    pts = np.random.default_rng(11).standard_normal((4, 1))
    for name, obj in OBJECTIVES.items():
        p = np.random.default_rng(11).standard_normal((4, obj.dim))
        got = spawn_pool.submit(_evaluate, obj, p).result(timeout=300)
        np.testing.assert_array_equal(got, obj.values(p), err_msg=name)
    assert pts.shape == (4, 1)


def test_results_and_estimators_cross_a_spawned_process(spawn_pool) -> None:
    model = hc.ConvexReLU(beta=0.05, tol=1e-6).fit(X, Y_REG)
    got = spawn_pool.submit(_predict, model, X).result(timeout=300)
    np.testing.assert_array_equal(got, model.predict(X))
    for name in ("Chambers", "MidpointReport", "TrainingResult"):
        back = spawn_pool.submit(_echo, RESULTS[name]).result(timeout=300)
        _assert_same(RESULTS[name], back, name)


def test_files_on_disk_stay_pickle_free(tmp_path) -> None:
    res = RESULTS["MidpointReport"]
    path = res.save(tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as z:  # raises if anything needed pickle
        assert "__header__" in z.files
    _assert_same(res, hc.load(path))
