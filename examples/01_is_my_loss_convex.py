"""Is this loss convex? Logistic regression (yes) vs a two-layer ReLU network (no, certified).

Run: python examples/01_is_my_loss_convex.py
"""

import hiddenconvex as hc
import numpy as np
from hiddenconvex.objectives import LogisticRegression, TwoLayerReLU

rng = np.random.default_rng(0)
X = rng.standard_normal((100, 3))
y = np.where(np.linalg.norm(X[:, :2], axis=1) > 1.2, 1.0, -1.0)

# A convex model: no midpoint violation, PSD Hessians.
logreg = LogisticRegression(X, y, bias=True)
report = hc.midpoint_test(logreg, n_pairs=5000, seed=0)
print(report.verdict)
H = hc.hessian(logreg, rng.standard_normal((4, logreg.dim)))
print("Hessian verdicts:", H.counts())

# A two-layer ReLU network (weight decay β, the convex program's scaling), trained by Adam ...
beta = 1e-2
run = hc.train_relu_network(X, y, 6, beta, optimizer="adam", epochs=300, seed=0)
net = TwoLayerReLU(X, y, 6, beta=beta)
theta = net.flatten(run.U, run.alpha)
# ... is not convex: swapping two hidden units gives a pair with equal loss whose midpoint is worse.
witness = hc.midpoint_test(net, pairs=hc.permutation_pairs(net, theta))
print(witness.verdict)
assert witness.certified and report.n_violations == 0
