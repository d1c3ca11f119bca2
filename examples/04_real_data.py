"""Convex training vs SGD/Adam at equal width on a real data set (scikit-learn's iris, shipped
with scikit-learn: no download), after PCA to 2 dimensions so every pattern is enumerated.

Run: python examples/04_real_data.py
"""

import hiddenconvex as hc
from hiddenconvex.datasets import list_datasets, load_dataset

name = "iris" if "iris" in list_datasets() else "circle"  # scikit-learn is an optional extra
ds = load_dataset(name, pca=2, seed=0)  # standardised with the training split's statistics
result = hc.compare_on_data(ds, bias=False, seeds=2, epochs=200)
print(result.summary())
result.plot("real_data.png")
