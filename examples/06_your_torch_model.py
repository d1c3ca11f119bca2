"""Your own PyTorch model: is its training loss convex where you trained it?

A small torch MLP trained on scikit-learn's breast-cancer data (shipped with scikit-learn: no
download), then, through hc.from_torch: a certified non-convexity witness from swapping two hidden
units, λ_min / λ_max of the Hessian with error bars, and a filter-normalised 2-D slice.
Needs: pip install 'hiddenconvex[torch,data,plot]'.

Run: python examples/06_your_torch_model.py
"""

import hiddenconvex as hc
import numpy as np
import torch
from hiddenconvex.datasets import load_dataset
from torch import nn

ds = load_dataset("breast_cancer", seed=0)  # standardised, labels ±1
X, y = ds.X_train, (ds.y_train > 0).astype(np.float64)[:, None]

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(X.shape[1], 8), nn.ReLU(), nn.Linear(8, 1)).double()
loss = nn.BCEWithLogitsLoss()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(300):
    opt.zero_grad()
    loss(model(torch.as_tensor(X)), torch.as_tensor(y)).backward()
    opt.step()

obj = hc.from_torch(model, loss, X, y)  # float64, θ = model.named_parameters() flattened
theta = obj.theta0
print(obj, "layers:", obj.layer_names, "hidden activation:", obj.activation)

# 1. Swapping two hidden units leaves the loss unchanged; the midpoint lies above: non-convex.
rep = hc.midpoint_test(obj, pairs=hc.permutation_pairs(obj, theta))
print(rep.summary())

# 2. Curvature: FD Hessian of the autodiff gradient, with error bars (and the exact reference).
h = hc.hessian(obj, theta)
print(h.summary())
exact = np.linalg.eigvalsh(obj.exact_hessian(theta))
print(f"torch.func.hessian: λ_min = {exact[0]:.6g}, λ_max = {exact[-1]:.6g}")

# 3. A filter-normalised 2-D slice around θ.
d1 = hc.random_direction(obj, theta, seed=0)
d2 = hc.random_direction(obj, theta, seed=1)
s = hc.slice_2d(obj, theta, d1, d2, grid=21)
print(s.summary())
s.plot("torch_slice.png")
