"""Independent oracles for the convex programs: cvxpy formulations (Clarabel / SCS) and a slow,
obvious NumPy network objective. Kept free of hiddenconvex imports."""

from __future__ import annotations

import numpy as np


def sampled_patterns(X: np.ndarray, n_gates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct patterns 1[X g >= 0] of Gaussian gates g: (patterns (P, n) bool, gates (P, d))."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((X.shape[1], n_gates))
    D = (X @ G >= 0).T
    _, idx = np.unique(D, axis=0, return_index=True)
    idx = np.sort(idx)
    return D[idx], G[:, idx].T


def loss_value(loss: str, pred: np.ndarray, y: np.ndarray, delta: float = 1.0) -> float:
    if loss == "squared":
        return float(0.5 * np.sum((pred - y) ** 2))
    if loss == "logistic":
        return float(np.sum(np.logaddexp(0.0, -y * pred)))
    if loss == "hinge":
        return float(np.sum(np.maximum(0.0, 1.0 - y * pred)))
    if loss == "huber":
        r = np.abs(pred - y)
        return float(np.sum(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))))
    raise ValueError(loss)


def network_objective_loop(X, y, U, alpha, beta, loss="squared", delta=1.0) -> float:
    """½‖Σ_j (X u_j)₊ α_j − y‖² + (β/2) Σ_j (‖u_j‖² + α_j²), one neuron at a time."""
    pred = np.zeros(X.shape[0])
    reg = 0.0
    for j in range(U.shape[1]):
        pred += np.maximum(X @ U[:, j], 0.0) * alpha[j]
        reg += U[:, j] @ U[:, j] + alpha[j] ** 2
    return loss_value(loss, pred, y, delta) + 0.5 * beta * reg


def _cp_loss(cp, loss, pred, y, delta=1.0):
    if loss == "squared":
        return 0.5 * cp.sum_squares(pred - y)
    if loss == "logistic":
        return cp.sum(cp.logistic(-cp.multiply(y, pred)))
    if loss == "hinge":
        return cp.sum(cp.pos(1 - cp.multiply(y, pred)))
    if loss == "huber":
        return 0.5 * cp.sum(cp.huber(pred - y, delta))
    raise ValueError(loss)


def cvxpy_relu(X, y, patterns, beta, loss="squared", solver="CLARABEL", delta=1.0, **kw):
    """The cone-constrained program, vectorised: returns (optimal value, V, W)."""
    import cvxpy as cp

    M = patterns.T.astype(float)  # n × P
    S = 2 * M - 1
    d, P = X.shape[1], M.shape[1]
    V = cp.Variable((d, P))
    W = cp.Variable((d, P))
    XV, XW = X @ V, X @ W
    pred = cp.sum(cp.multiply(M, XV - XW), axis=1)
    obj = _cp_loss(cp, loss, pred, y, delta) + beta * (
        cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
    )
    cons = [cp.multiply(S, XV) >= 0, cp.multiply(S, XW) >= 0]
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver=solver, **kw)
    return float(prob.value), V.value, W.value


def cvxpy_gated(X, y, patterns, beta, loss="squared", solver="CLARABEL", delta=1.0, **kw):
    """The gated group Lasso: returns (optimal value, W)."""
    import cvxpy as cp

    M = patterns.T.astype(float)
    d, P = X.shape[1], M.shape[1]
    W = cp.Variable((d, P))
    pred = cp.sum(cp.multiply(M, X @ W), axis=1)
    obj = _cp_loss(cp, loss, pred, y, delta) + beta * cp.sum(cp.norm(W, 2, axis=0))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=solver, **kw)
    return float(prob.value), W.value
