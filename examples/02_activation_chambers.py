"""Every activation pattern of a data set, exactly: Cover's count, and what sampling misses.

Run: python examples/02_activation_chambers.py
"""

import hiddenconvex as hc
import numpy as np

X = np.random.default_rng(1).standard_normal((40, 4))
exact = hc.chambers(X, method="exact")
sampled = hc.chambers(X, method="sample", n_samples=100_000, seed=0)
print(exact.summary())
print(f"Cover's count: {hc.cover_count(40, 4):,}")
print(
    f"Gaussian sampling with 100,000 gates found {sampled.count:,} ({100 * sampled.coverage:.1f}%)"
)
# each witness gate realises its pattern; the zonotope has one vertex per chamber
assert np.array_equal(X @ exact.witnesses.T > 0, exact.patterns.T)
assert exact.zonotope_vertices().shape == (exact.count, 4)
assert exact.count == hc.cover_count(40, 4)
