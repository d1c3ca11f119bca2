"""Wedge-product Lasso: dictionary + certified Lasso, exact and sampled.

Cases: exact dictionary at n = 200, d = 3 (all 19,900 pairs; target ≤ 1 s for features plus the
Lasso to a relative gap of 1e-6) and the sampled dictionary at n = 10⁴, d = 10 (1000 random
9-subsets; target ≤ 10 s). Squared loss, ℓ2 neuron norm, β = 0.05·n (exact case) and 0.005·n
(sampled case, where 0.05·n leaves no neuron active) in the "sum" scaling, Gaussian
data and targets, seed 0. Each record stores the phase timings, the relative gap reached and the
number of active neurons. The smoke run (benchmarks disabled) shrinks both cases.
"""

from __future__ import annotations

import warnings

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex.exceptions import ConvergenceWarning

CASES = {
    "exact n=200 d=3 (19,900 pairs)": (200, 3, "exact", None, 0.05),
    "sample n=10000 d=10 (1000 subsets)": (10_000, 10, "sample", 1000, 0.005),
}
SMOKE = {
    "exact n=200 d=3 (19,900 pairs)": (20, 3, "exact", None, 0.05),
    "sample n=10000 d=10 (1000 subsets)": (200, 10, "sample", 50, 0.05),
}


@pytest.mark.parametrize("case", list(CASES))
def test_wedge_lasso(bench, smoke, case):
    n, d, features, nf, scale = (SMOKE if smoke else CASES)[case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    beta = scale * n
    est = hc.WedgeLasso(beta, features=features, n_features=nf, seed=0, tol=1e-6, max_iter=200)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(X, y)

    m = run()
    r = m.result_
    assert r.dual_objective <= r.objective + 1e-9 * max(1.0, abs(r.objective))
    bench(
        run,
        group="wedge",
        case=case,
        impl="hiddenconvex",
        rounds=3,
        relative_gap=r.relative_gap,
        n_active=r.n_active,
        n_neurons=r.n_neurons,
        dictionary_s=r.timings["dictionary"],
        lasso_s=r.timings["lasso"],
    )
