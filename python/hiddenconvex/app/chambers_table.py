"""The chamber table of ``hiddenconvex demo``: exact enumeration vs Cover's count vs sampling."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..chambers import chambers, cover_count

__all__ = ["demo_table"]


def demo_table(quick: bool = False, seed: int = 0) -> tuple[list[dict[str, Any]], str]:
    """Chamber part of ``hiddenconvex demo``: exact enumeration vs Cover's count vs sampling.

    Built-in data: Gaussian points (n, d) = (40, 5) and (100, 4), the resonance arrangement of R^5
    (all nonzero 0/1 vectors) and the threshold arrangement ({0,1}^4 with bias). For each, the
    exact chambers, Cover's count for the rank, and the coverage of Gaussian-gate sampling with
    ``n_samples`` gates (10^4 with ``quick``, else 10^6), with timings.

    Returns
    -------
    rows : list of dict
        One dict per data set (name, n, d, rank, exact, cover, exact_s, samples, found,
        coverage, sample_s).
    text : str
        The rows as an aligned table.
    """
    import itertools

    rng = np.random.default_rng(seed)
    cube = np.array(list(itertools.product((0, 1), repeat=4)), dtype=np.float64)
    res = np.array([v for v in itertools.product((0, 1), repeat=5) if any(v)], dtype=np.float64)
    data = [
        ("gaussian 40x5", rng.standard_normal((40, 5)), False),
        ("gaussian 100x4", rng.standard_normal((100, 4)), False),
        ("resonance R^5", res, False),
        ("threshold {0,1}^4 + bias", cube, True),
    ]
    n_samples = 10_000 if quick else 1_000_000
    rows: list[dict[str, Any]] = []
    for name, X, b in data:
        ex = chambers(X, method="exact", bias=b)
        sm = chambers(X, method="sample", bias=b, n_samples=n_samples, seed=seed)
        rows.append(
            {
                "name": name,
                "n": X.shape[0],
                "d": ex.X.shape[1],
                "rank": ex.rank,
                "exact": ex.count,
                "cover": cover_count(X.shape[0], ex.rank),
                "exact_s": ex.elapsed,
                "samples": n_samples,
                "found": sm.count,
                "coverage": sm.count / ex.count,
                "sample_s": sm.elapsed,
            }
        )
    head = (
        f"{'data':<26}{'n':>5}{'d':>3}{'rank':>5}{'chambers':>11}{'Cover':>11}{'exact s':>9}"
        f"{'samples':>10}{'found':>9}{'coverage':>10}{'sample s':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['name']:<26}{r['n']:>5}{r['d']:>3}{r['rank']:>5}{r['exact']:>11,}"
            f"{r['cover']:>11,}{r['exact_s']:>9.3f}{r['samples']:>10,}{r['found']:>9,}"
            f"{100 * r['coverage']:>9.1f}%{r['sample_s']:>10.3f}"
        )
    return rows, "\n".join(lines)
