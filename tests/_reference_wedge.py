"""Independent oracles for the wedge Lasso: the convex reformulation of two-layer ReLU training
under a general neuron norm (cvxpy + Clarabel over every open chamber), exact rational
determinants, and slow obvious cross products. Kept free of hiddenconvex imports."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def cvxpy_relu_norm(X, y, patterns, beta, norm="l2", free_bias=False):
    """p* = min ½‖Σ_i D_i X̃ (v_i − w_i) + c − y‖² + β Σ_i (‖v_i[:d]‖ + ‖w_i[:d]‖)
    s.t. (2D_i − I) X̃ v_i ≥ 0, (2D_i − I) X̃ w_i ≥ 0 — the Pilanci–Ergen program with the
    neuron norm ``norm`` on the weights; with ``free_bias`` X̃ = [X, 1], the bias entry is not
    penalised and a free offset c is added. Returns the optimal value."""
    import cvxpy as cp

    n, d = X.shape
    Xa = np.hstack([X, np.ones((n, 1))]) if free_bias else X
    r = Xa.shape[1]
    P = patterns.shape[0]
    V = cp.Variable((r, P))
    W = cp.Variable((r, P))
    M = patterns.T.astype(float)
    S = 2 * M - 1
    pred = cp.sum(cp.multiply(M, Xa @ (V - W)), axis=1)
    c = cp.Variable() if free_bias else 0.0
    p = 1 if norm == "l1" else 2
    reg = cp.sum(cp.norm(V[:d, :], p, axis=0)) + cp.sum(cp.norm(W[:d, :], p, axis=0))
    cons = [cp.multiply(S, Xa @ V) >= 0, cp.multiply(S, Xa @ W) >= 0]
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(pred + c - y) + beta * reg), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return float(prob.value)


def det_fraction(rows) -> Fraction:
    """Exact determinant of a square matrix of floats (each float is an exact rational)."""
    a = [[Fraction(float(v)) for v in row] for row in rows]
    k = len(a)
    det = Fraction(1)
    for p in range(k):
        piv = next((i for i in range(p, k) if a[i][p] != 0), None)
        if piv is None:
            return Fraction(0)
        if piv != p:
            a[p], a[piv] = a[piv], a[p]
            det = -det
        det *= a[p][p]
        for i in range(p + 1, k):
            f = a[i][p] / a[p][p]
            for j in range(p, k):
                a[i][j] -= f * a[p][j]
    return det


def cross_product_loop(rows: np.ndarray) -> np.ndarray:
    """Generalised cross product of k = r − 1 rows in R^r by cofactor expansion (slow, obvious):
    c_j = (−1)^j det(rows without column j), so that x·c = det[x; rows]."""
    k, r = rows.shape
    out = np.zeros(r)
    for j in range(r):
        minor = np.delete(rows, j, axis=1)
        out[j] = (-1) ** j * (np.linalg.det(minor) if k else 1.0)
    return out


def cvxpy_lasso(values, y, beta, intercept=False):
    """Optimum of the Lasso over a wedge dictionary's signed values V (m × n): columns
    (V_j)₊ and (−V_j)₊, min ½‖y − Az − c‖² + β‖z‖₁ (c free only with ``intercept``), by cvxpy +
    Clarabel. Returns the optimal value."""
    import cvxpy as cp

    A = np.hstack([np.maximum(values, 0.0).T, np.maximum(-values, 0.0).T])
    z = cp.Variable(A.shape[1])
    c = cp.Variable() if intercept else 0.0
    obj = 0.5 * cp.sum_squares(y - A @ z - c) + beta * cp.norm1(z)
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return float(prob.value)
