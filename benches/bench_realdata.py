"""The real-data comparison suite (group "realdata"): convex training vs SGD/Adam at equal width.

Data sets shipped inside scikit-learn (breast cancer, diabetes, iris one-vs-rest, wine
one-vs-rest; standardised with the training split's statistics, see hiddenconvex.datasets) and the
built-in ``sine`` set. Two variants per scikit-learn set:

- "PCA 2": the top two principal directions, no bias column: Cover's count is 2·n_train, so every
  activation pattern is enumerated and the convex optimum is the certified global one;
- "all features": the standardised features with a bias column; patterns are sampled (300), so
  the convex value is an upper bound of the global optimum.

Implementations (one record each, median time to fit): ``hiddenconvex`` (ConvexReLU, default Rust
solver), ``cvxpy+Clarabel`` (ConvexReLU's cvxpy path, exact cases only, when cvxpy is installed),
``numpy-sgd`` / ``numpy-adam`` (train_relu_network, 300 epochs, width = m* of the convex solution,
default learning rates, seed 0). Extras: training objective (sum scaling, same β for all), held-out
accuracy or MSE, m*, certified. β = 1e-2·n_train. ``HIDDENCONVEX_BENCH_QUICK=1`` (``hiddenconvex
bench --quick``) keeps 100 samples per set, 100 sampled patterns and one round; the smoke run
(test suite) keeps 40 samples.
"""

from __future__ import annotations

import os
import warnings

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex import relu_network_output
from hiddenconvex.compare import _metric
from hiddenconvex.datasets import list_datasets, load_dataset
from hiddenconvex.exceptions import ConvergenceWarning

QUICK = os.environ.get("HIDDENCONVEX_BENCH_QUICK") == "1"
CASES = {
    "breast_cancer (PCA 2)": ("breast_cancer", 2, False),
    "breast_cancer (all features)": ("breast_cancer", None, True),
    "diabetes (PCA 2)": ("diabetes", 2, False),
    "diabetes (all features)": ("diabetes", None, True),
    "iris (PCA 2)": ("iris", 2, False),
    "wine (PCA 2)": ("wine", 2, False),
    "wine (all features)": ("wine", None, True),
    "sine (1-D)": ("sine", None, True),
}
# Every pattern is enumerated (so cvxpy is a meaningful peer) on the PCA-2 and 1-D cases.
EXACT_CASES = [c for c, (name, pca, _) in CASES.items() if pca is not None or name == "sine"]
EPOCHS = 300
_CACHE: dict[tuple[str, bool], dict] = {}


def _setup(case: str, smoke: bool) -> dict:
    key = (case, smoke)
    if key in _CACHE:
        return _CACHE[key]
    name, pca, bias = CASES[case]
    if name not in list_datasets():
        pytest.skip("scikit-learn is not installed")
    n = 40 if smoke else (100 if QUICK else None)
    ds = load_dataset(name, n=n, pca=pca, seed=0)
    beta = 1e-2 * ds.n_train
    exact = pca is not None or ds.n_features == 1
    opts = dict(
        loss="squared",
        bias=bias,
        patterns="exact" if exact else "sample",
        n_patterns=None if exact else (30 if smoke else (100 if QUICK else 300)),
        seed=0,
        # the time to a certified 1e-6 gap (the default 1e-8 is not reached on breast_cancer
        # PCA-2 within max_iter; see docs/limitations.md)
        tol=1e-6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = hc.ConvexReLU(beta, **opts).fit(ds.X_train, ds.y_train)
    _CACHE[key] = {"ds": ds, "beta": beta, "bias": bias, "opts": opts, "m": max(ref.n_active_, 1),
                   "exact": exact}  # fmt: skip
    return _CACHE[key]


def _convex_extras(s: dict, model) -> dict:
    ds = s["ds"]
    U, a = model.to_network()
    return {
        "objective": float(model.objective_),
        "test_metric": _metric(
            ds.task, relu_network_output(ds.X_test, U, a, bias=s["bias"]), ds.y_test
        ),
        "m_star": int(model.n_active_),
        "certified": bool(model.certified_),
        "patterns": int(model.patterns_.shape[0]),
    }


@pytest.mark.parametrize(
    "case, impl",
    [(c, "hiddenconvex") for c in CASES] + [(c, "cvxpy+Clarabel") for c in EXACT_CASES],
)
def test_realdata_convex(bench, smoke, case, impl):
    s = _setup(case, smoke)
    assert s["exact"] == (case in EXACT_CASES)
    if impl == "cvxpy+Clarabel":
        pytest.importorskip("cvxpy")
    solver = "cvxpy" if impl == "cvxpy+Clarabel" else "auto"

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return hc.ConvexReLU(s["beta"], solver=solver, **s["opts"]).fit(
                s["ds"].X_train, s["ds"].y_train
            )

    model = bench(fit, group="realdata", case=case, impl=impl, rounds=1 if smoke or QUICK else 3,
                  **{k: (lambda r, k=k: _convex_extras(s, r)[k])
                     for k in ("objective", "test_metric", "m_star", "certified", "patterns")})  # fmt: skip
    assert np.isfinite(model.objective_)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_realdata_nonconvex(bench, smoke, case, optimizer):
    s = _setup(case, smoke)
    ds = s["ds"]

    def train():
        return hc.train_relu_network(ds.X_train, ds.y_train, s["m"], s["beta"],
                                     optimizer=optimizer, epochs=10 if smoke else EPOCHS,
                                     bias=s["bias"], seed=0)  # fmt: skip

    res = bench(
        train, group="realdata", case=case, impl=f"numpy-{optimizer}", rounds=1 if smoke or QUICK else 3,
        objective=lambda r: r.final_objective,
        test_metric=lambda r: _metric(ds.task, r.predict(ds.X_test), ds.y_test),
        width=s["m"],
    )  # fmt: skip
    assert np.isfinite(res.final_objective)


@pytest.mark.parametrize("case", list(CASES))
def test_realdata_pyscnn(bench, smoke, case):
    """pyscnn (pilancilab/scnn, when installed): its ConvexReLU + AL solver, λ = β/n,
    ``unitize_data=False``, float64, objective recomputed in the sum scaling. Exact cases: gates
    realising every chamber (the same patterns as ours); sampled cases: as many Gaussian gates."""
    pytest.importorskip("scnn")
    from scnn.metrics import Metrics
    from scnn.models import ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL

    s = _setup(case, smoke)
    ds = s["ds"]
    Xa = np.hstack([ds.X_train, np.ones((ds.X_train.shape[0], 1))]) if s["bias"] else ds.X_train
    if s["exact"]:
        G = hc.chambers(Xa, method="exact").witnesses.T
    else:
        G = np.random.default_rng(0).standard_normal((Xa.shape[1], s["opts"]["n_patterns"]))
    n, beta = Xa.shape[0], s["beta"]

    def run():
        model = ConvexReLU(np.ascontiguousarray(G))
        model, _ = optimize_model(model, AL(model), Metrics(), Xa, ds.y_train,
                                  regularizer=NeuronGL1(beta / n), return_convex=True,
                                  unitize_data=False, dtype="float64")  # fmt: skip
        blocks = np.linalg.norm(np.asarray(model.parameters[0]), axis=-1).sum()
        return float(0.5 * np.sum((model(Xa).ravel() - ds.y_train) ** 2) + beta * blocks)

    obj = bench(run, group="realdata", case=case, impl="pyscnn (AL)", rounds=1,
                objective=lambda v: v, patterns=G.shape[1])  # fmt: skip
    assert np.isfinite(obj)
