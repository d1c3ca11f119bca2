"""Train a ReLU network by SGD on the convex program's objective; save and reload the run.

Run: python examples/05_train_and_save.py
"""

import hiddenconvex as hc
import numpy as np
from hiddenconvex.datasets import load_dataset

ds = load_dataset("sine", seed=0)  # 1-D regression
run = hc.train_relu_network(
    ds.X_train, ds.y_train, 20, 0.1, optimizer="sgd", batch_size=8, epochs=200, bias=True, seed=3
)
print(run.summary())
mse = np.mean((run.predict(ds.X_test) - ds.y_test) ** 2)
print(f"test MSE (standardised target): {mse:.4f}")
run.save("run.json")  # human-readable; .npz keeps arrays binary; never pickle
again = hc.load("run.json")
assert np.array_equal(again.objective, run.objective) and again.seed == 3
