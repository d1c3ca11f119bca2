"""Slow, obvious NumPy references for the midpoint tests (oracles of tests/test_midpoint.py)."""

from __future__ import annotations

import math

import numpy as np


def jensen_gaps(f, a: np.ndarray, b: np.ndarray, ts) -> np.ndarray:
    """g[k, j] = t_j f(a_k) + (1 − t_j) f(b_k) − f(t_j a_k + (1 − t_j) b_k), one point at a time."""
    ts = list(ts)
    out = np.empty((a.shape[0], len(ts)))
    for k in range(a.shape[0]):
        fa = float(f(a[k]))
        fb = float(f(b[k]))
        for j, t in enumerate(ts):
            m = t * a[k] + (1.0 - t) * b[k]
            out[k, j] = t * fa + (1.0 - t) * fb - float(f(m))
    return out


def exact_gap(t: float, fa: float, fb: float, fm: float) -> float:
    """The gap summed exactly (rational arithmetic), rounded once."""
    from fractions import Fraction

    ft = Fraction(t)
    return float(ft * Fraction(fa) + (1 - ft) * Fraction(fb) - Fraction(fm))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), by direct summation."""
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def clopper_pearson_bisect(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson by its definition: the p where the binomial tails equal α/2 (bisection)."""
    alpha = 1.0 - confidence

    lower = 0.0
    if k > 0:
        # P(X >= k | p) increases with p: find p with P(X >= k) = α/2.
        lo, hi = 0.0, 1.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if 1.0 - binomial_cdf(k - 1, n, mid) < alpha / 2:
                lo = mid
            else:
                hi = mid
        lower = 0.5 * (lo + hi)
    upper = 1.0
    if k < n:
        # P(X <= k | p) decreases with p: find p with P(X <= k) = α/2.
        lo, hi = 0.0, 1.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if binomial_cdf(k, n, mid) > alpha / 2:
                lo = mid
            else:
                hi = mid
        upper = 0.5 * (lo + hi)
    return lower, upper


# Objectives written plainly in NumPy (vectorised over rows of Theta).
def least_squares(X: np.ndarray, y: np.ndarray):
    """f(w) = 1/(2n) ‖Xw − y‖²."""

    def f(T):
        T = np.atleast_2d(T)
        r = T @ X.T - y
        return 0.5 * np.mean(r * r, axis=1)

    return f


def logistic(X: np.ndarray, y: np.ndarray):
    """f(w) = 1/n Σ log(1 + exp(−yᵢ xᵢ·w)), y ∈ {−1, +1}."""

    def f(T):
        T = np.atleast_2d(T)
        z = -(T @ X.T) * y
        return np.mean(np.logaddexp(0.0, z), axis=1)

    return f


def hinge(X: np.ndarray, y: np.ndarray):
    """f(w) = 1/n Σ max(0, 1 − yᵢ xᵢ·w)."""

    def f(T):
        T = np.atleast_2d(T)
        return np.mean(np.maximum(0.0, 1.0 - (T @ X.T) * y), axis=1)

    return f


def two_layer_relu(X: np.ndarray, y: np.ndarray, m: int):
    """f(U, α) = 1/(2n) Σ (Σ_j relu(xᵢ·u_j) α_j − yᵢ)², θ = [U (m×d) row-major, α (m)]."""
    n, d = X.shape

    def f(T):
        T = np.atleast_2d(T)
        U = T[:, : m * d].reshape(-1, m, d)
        al = T[:, m * d :]
        h = np.maximum(0.0, np.einsum("nd,bmd->bnm", X, U))
        r = np.einsum("bnm,bm->bn", h, al) - y
        return 0.5 * np.mean(r * r, axis=1)

    def unit_indices():
        return [
            {"in": np.arange(j * d, (j + 1) * d), "out": np.array([m * d + j])} for j in range(m)
        ]

    return f, unit_indices


def one_hidden_unit(x0: float, b0: float, b1: float):
    """ℓ(w0, w1) = (x0 − relu(w1·relu(w0·x0 + b0) + b1))², scalar and vectorised."""

    def scalar(w):
        h = max(0.0, w[0] * x0 + b0)
        return (x0 - max(0.0, w[1] * h + b1)) ** 2

    def vec(W):
        h = np.maximum(0.0, W[:, 0] * x0 + b0)
        return (x0 - np.maximum(0.0, W[:, 1] * h + b1)) ** 2

    return scalar, vec
