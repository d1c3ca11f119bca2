"""The Literal types of the string options (hiddenconvex._typing) list exactly the values each
function accepts at run time, and result files are checked against them on load."""

from __future__ import annotations

import importlib
import json
from typing import get_args

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex import _typing as T
from hiddenconvex import convex, datasets, nonconvex, objectives, spectra, wedge
from hiddenconvex.io import ResultFileError

# the module, not the function hc.hessian of the same name
hessian = importlib.import_module("hiddenconvex.hessian")


@pytest.mark.parametrize(
    ("alias", "runtime"),
    [
        (T.TrainingLoss, nonconvex.LOSSES),
        (T.Optimizer, nonconvex.OPTIMIZERS),
        (T.Init, nonconvex.INITS),
        (T.ConvexLoss, convex.LOSSES),
        (T.Scaling, convex.SCALINGS),
        (T.ConvexSolver, convex.SOLVERS),
        (T.CoreConvexSolver, tuple(s for s in convex.SOLVERS if s != "cvxpy")),
        (T.Task, datasets.TASKS),
        (T.WedgeNorm, wedge.NORMS),
        (T.WedgeFeatures, wedge.FEATURES),
        (T.SpectrumWhich, spectra._WHICH),
        (T.SpectrumMethod, spectra._METHODS),
        (T.HessianMethod, hessian._METHODS),
        (T.ObjectiveLoss, objectives._LOSSES),
        (T.HiddenActivation, objectives._ACTIVATIONS),
        (T.ICNNActivation, objectives._ICNN_ACTIVATIONS),
        (T.NonNeg, objectives._NONNEG),
    ],
)
def test_alias_lists_the_accepted_values(alias, runtime):
    assert get_args(alias) == tuple(runtime)


def test_every_alias_is_exported():
    names = {n for n in dir(T) if not n.startswith("_") and n[0].isupper()}
    assert names - {"Literal"} == set(T.__all__)


def test_option_error_lists_the_alias_values():
    X = np.random.default_rng(0).standard_normal((8, 2))
    y = np.ones(8)
    with pytest.raises(hc.InvalidInputError) as e:
        hc.train_relu_network(X, y, 2, 1e-3, optimizer="rmsprop")
    for v in get_args(T.Optimizer):
        assert repr(v) in str(e.value)


def test_load_checks_option_fields(tmp_path):
    X = np.random.default_rng(1).standard_normal((6, 2))
    d = hc.wedge_dictionary(X, norm="l1")
    p = tmp_path / "dict.json"
    d.save(p)
    assert hc.load(p).norm == "l1"
    doc = json.loads(p.read_text())
    doc["fields"]["norm"] = "l3"
    p.write_text(json.dumps(doc))
    with pytest.raises(
        ResultFileError, match="field 'norm' of WedgeDictionary should be WedgeNorm"
    ):
        hc.load(p)
