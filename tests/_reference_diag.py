"""Slow, obvious NumPy references for the objectives and Hessians (independent of the Rust core).

Everything here is written from the formulas in the docstrings of ``hiddenconvex.objectives``,
with explicit loops over samples where that is clearer, and hand-written backpropagation.
"""

from __future__ import annotations

import numpy as np


def loss_and_derivative(loss: str, f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if loss == "squared":
        return 0.5 * (f - y) ** 2, f - y
    z = y * f
    if loss == "logistic":
        return np.logaddexp(0.0, -z), -y / (1.0 + np.exp(z))
    m = 1.0 - z
    if loss == "hinge":
        return np.maximum(m, 0.0), np.where(m > 0, -y, 0.0)
    if loss == "squared_hinge":
        return np.maximum(m, 0.0) ** 2, np.where(m > 0, -2.0 * y * m, 0.0)
    raise ValueError(loss)


ACT = {
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda z: 1.0 / (1.0 + np.exp(-z))),
    "sigmoid": (
        lambda z: 1.0 / (1.0 + np.exp(-z)),
        lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2,
    ),
}


def labels_pm1(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return 2.0 * y - 1.0 if set(np.unique(y)) <= {0.0, 1.0} else y


def linear_value_grad(X, y, loss, bias, l2, theta):
    d = X.shape[1]
    w = theta[:d]
    b = theta[d] if bias else 0.0
    yy = y if loss == "squared" else labels_pm1(y)
    f = X @ w + b
    lv, dl = loss_and_derivative(loss, f, yy)
    val = lv.sum() + 0.5 * l2 * w @ w
    g = np.concatenate([X.T @ dl + l2 * w, [dl.sum()] if bias else []])
    return val, g


def two_layer_relu_value(X, y, U, alpha, b, beta, loss="squared"):
    """½ Σ_i (Σ_j (x_i·u_j + b_j)₊ α_j − y_i)² + (β/2)(‖U‖² + ‖α‖²), by explicit loops."""
    n, d = X.shape
    m = U.shape[1]
    total = 0.0
    for i in range(n):
        f = 0.0
        for j in range(m):
            pre = sum(X[i, k] * U[k, j] for k in range(d)) + (0.0 if b is None else b[j])
            f += max(pre, 0.0) * alpha[j]
        if loss == "squared":
            total += 0.5 * (f - y[i]) ** 2
        else:
            total += np.logaddexp(0.0, -labels_pm1(y)[i] * f)
    return total + 0.5 * beta * (np.sum(U**2) + np.sum(alpha**2))


def mlp_value_grad(X, Y, weights, biases, activation, loss, weight_decay):
    """Value and gradients (lists like ``weights``/``biases``) by vectorised backprop."""
    g, dg = ACT[activation]
    Y = Y if Y.ndim == 2 else Y[:, None]
    if loss != "squared":
        Y = labels_pm1(Y)
    hs = [X]
    zs = []
    L = len(weights)
    for k in range(L):
        z = hs[-1] @ weights[k].T + (0.0 if biases[k] is None else biases[k])
        zs.append(z)
        hs.append(g(z) if k < L - 1 else z)
    lv, dl = loss_and_derivative(loss, hs[-1], Y)
    val = lv.sum() + 0.5 * weight_decay * sum(np.sum(W**2) for W in weights)
    gw = [None] * L
    gb = [None] * L
    delta = dl
    for k in reversed(range(L)):
        if k < L - 1:
            delta = delta * dg(zs[k])
        gw[k] = delta.T @ hs[k] + weight_decay * weights[k]
        gb[k] = None if biases[k] is None else delta.sum(axis=0)
        delta = delta @ weights[k]
    return val, gw, gb


def icnn_forward(x, V, Wx, b, activation, nonneg):
    """f(x) for one input by the ICNN recursion (raw parameters V, Wx, b as lists)."""
    g = ACT[activation][0]
    p = (lambda v: np.logaddexp(0.0, v)) if nonneg == "softplus" else (lambda v: np.maximum(v, 0))
    L = len(Wx)
    z = None
    for k in range(L):
        u = Wx[k] @ x + b[k]
        if k > 0:
            u = u + p(V[k]) @ z
        z = g(u) if k < L - 1 else u
    return float(z[0])


def icnn_value(X, y, V, Wx, b, activation, nonneg, loss, weight_decay):
    yy = y if loss == "squared" else labels_pm1(y)
    f = np.array([icnn_forward(x, V, Wx, b, activation, nonneg) for x in X])
    lv, _ = loss_and_derivative(loss, f, yy)
    reg = sum(np.sum(v**2) for v in V[1:]) + sum(np.sum(w**2) for w in Wx)
    return lv.sum() + 0.5 * weight_decay * reg


def central_gradient(f, theta, h=1e-6):
    theta = np.asarray(theta, dtype=float)
    g = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h * max(1.0, abs(theta[i]))
        g[i] = (f(theta + e) - f(theta - e)) / (2 * e[i])
    return g


def logistic_hessian(X, y, w, l2=0.0):
    """Xᵀ diag(p(1−p)) X + l2 I for labels ±1 (no bias)."""
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return X.T @ (X * (p * (1 - p))[:, None]) + l2 * np.eye(X.shape[1])
