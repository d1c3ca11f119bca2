"""Slow, obvious references for the story tests: exact activation patterns by LP feasibility
(scipy's HiGHS) and the convex ReLU program by cvxpy + Clarabel, independent of the package."""

from __future__ import annotations

import itertools

import numpy as np


def lp_patterns(X: np.ndarray) -> np.ndarray:
    """Every open chamber pattern 1[Xu > 0] of the central arrangement, by one LP per sign vector
    (feasibility of s_i x_i·u ≥ 1). Only for n ≤ 12."""
    from scipy.optimize import linprog

    n, d = X.shape
    assert n <= 12
    out = []
    for bits in itertools.product((0, 1), repeat=n):
        s = 2.0 * np.array(bits) - 1.0
        res = linprog(
            np.zeros(d),
            A_ub=-(s[:, None] * X),
            b_ub=-np.ones(n),
            bounds=[(None, None)] * d,
            method="highs",
        )
        if res.status == 0:
            out.append(bits)
    return np.array(out, dtype=bool)


class CvxpyConvexReLU:
    """The convex program of Theorem 1 (sum scaling, squared loss) over given patterns, by cvxpy:
    min ½‖Σ_i D_i X (v_i − w_i) − y‖² + β Σ_i (‖v_i‖ + ‖w_i‖), (2D_i − I) X v_i ≥ 0, same for w_i.
    Exposes the attributes compare_convex_nonconvex reads from a fitted ConvexReLU."""

    patterns = "exact"

    def __init__(self, beta: float, patterns: np.ndarray) -> None:
        self.beta = beta
        self.D = np.asarray(patterns, dtype=float)

    def fit(self, X: np.ndarray, y: np.ndarray) -> CvxpyConvexReLU:
        import cvxpy as cp

        n, d = X.shape
        P = self.D.shape[0]
        Dm = self.D.T  # (n, P)
        M = 2 * Dm - 1
        V = cp.Variable((d, P))
        W = cp.Variable((d, P))
        pred = cp.sum(cp.multiply(Dm, X @ (V - W)), axis=1)
        obj = 0.5 * cp.sum_squares(pred - y) + self.beta * (
            cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
        )
        cons = [cp.multiply(M, X @ V) >= 0, cp.multiply(M, X @ W) >= 0]
        prob = cp.Problem(cp.Minimize(obj), cons)
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
        self.objective_ = float(prob.value)
        self.duality_gap_ = 1e-9 * max(1.0, abs(self.objective_))
        self.V_ = np.asarray(V.value)
        self.W_ = np.asarray(W.value)
        nv = np.linalg.norm(self.V_, axis=0)
        nw = np.linalg.norm(self.W_, axis=0)
        thr = 1e-6 * max(nv.max(), nw.max(), 1e-300)
        us, als = [], []
        for norms, B, sign in ((nv, self.V_, 1.0), (nw, self.W_, -1.0)):
            for i in np.flatnonzero(norms > thr):
                us.append(B[:, i] / np.sqrt(norms[i]))
                als.append(sign * np.sqrt(norms[i]))
        self.U_ = np.array(us).T.reshape(d, -1)
        self.alpha_ = np.array(als)
        self.n_active_ = int(self.alpha_.size)
        self.n_patterns_ = P
        return self

    def to_network(self):
        return self.U_, self.alpha_
