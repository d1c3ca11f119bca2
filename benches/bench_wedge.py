"""Wedge-product Lasso: dictionary + certified Lasso, exact and sampled, over a grid of β and n.

Targets: the exact dictionary at n = 200, d = 3 (all 19,900 pairs) plus the Lasso certified at
the default relative duality gap (1e-8) in ≤ 1 s at every β of the grid, and the sampled
dictionary at n = 10⁴, d = 10 (1000 random 9-subsets) in ≤ 10 s at every β. Grid: n ∈ {100, 200}
(exact, d = 3) and n = 10⁴ (sampled, d = 10), β = s·n with s ∈ {0.05, 0.005, 0.0005} — the small
end is the hard one: hundreds of nearly parallel active features (the fit approaches
interpolation) and linearly dependent candidate supports. Squared loss, ℓ2 neuron norm, the
"sum" scaling, Gaussian data and targets, seed 0. Each record stores the phase timings, the
relative gap reached and the numbers of active and dictionary neurons. The smoke run
(benchmarks disabled) shrinks every case.
"""

from __future__ import annotations

import warnings

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex.exceptions import ConvergenceWarning

# case name -> (n, d, features, n_features, beta / n)
GRID = (0.05, 0.005, 0.0005)
CASES = {
    f"exact n={n} d=3 ({n * (n - 1) // 2:,} pairs) beta={s:g}n": (n, 3, "exact", None, s)
    for n in (100, 200)
    for s in GRID
}
CASES.update(
    {
        f"sample n=10000 d=10 (1000 subsets) beta={s:g}n": (10_000, 10, "sample", 1000, s)
        for s in GRID
    }
)


def _smoke(case: str) -> tuple:
    n, d, features, nf, s = CASES[case]
    return (20, d, features, None, s) if features == "exact" else (200, d, features, 50, s)


@pytest.mark.parametrize("case", list(CASES))
def test_wedge_lasso(bench, smoke, case):
    n, d, features, nf, scale = _smoke(case) if smoke else CASES[case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    beta = scale * n
    est = hc.WedgeLasso(beta, features=features, n_features=nf, seed=0, tol=1e-8, max_iter=200)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(X, y)

    m = run()
    r = m.result_
    assert r.dual_objective <= r.objective + 1e-9 * max(1.0, abs(r.objective))
    assert r.relative_gap <= 1e-8
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
