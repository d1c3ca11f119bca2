"""Slow, obvious references for the chambers tests: LP feasibility with SciPy's HiGHS.

A sign vector s ∈ {0,1}^n is an open chamber of {u : x_i·u = 0} iff the strict system
``(2 s_i − 1) x_i·u > 0`` (nonzero rows) has a solution, i.e. (by scaling u) iff
``(2 s_i − 1) x_i·u >= 1`` is feasible; zero rows must have s_i = 0. We grow sign vectors row by
row and keep the feasible prefixes (a prefix of a chamber is a chamber of the prefix rows).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog


def strictly_feasible(rows: np.ndarray, signs: np.ndarray) -> np.ndarray | None:
    """A u with sign(rows @ u) == signs (±1, strictly), or None. Rows are nonzero."""
    d = rows.shape[1]
    if rows.shape[0] == 0:
        return np.ones(d)
    A = -(signs[:, None] * rows)
    res = linprog(
        np.zeros(d),
        A_ub=A,
        b_ub=-np.ones(len(signs)),
        bounds=[(None, None)] * d,
        method="highs",
    )
    if res.status == 0:
        return np.asarray(res.x)
    return None


def lp_chambers(X: np.ndarray) -> np.ndarray:
    """All open-chamber patterns (sorted bool array) by incremental LP feasibility."""
    X = np.asarray(X, dtype=np.float64)
    n, _ = X.shape
    nonzero = np.any(X != 0, axis=1)
    prefixes: list[tuple[int, ...]] = [()]
    for i in range(n):
        grown: list[tuple[int, ...]] = []
        for p in prefixes:
            options = (0, 1) if nonzero[i] else (0,)
            for b in options:
                q = (*p, b)
                idx = [j for j in range(i + 1) if nonzero[j]]
                signs = np.array([2 * q[j] - 1 for j in idx], dtype=np.float64)
                if strictly_feasible(X[idx], signs) is not None:
                    grown.append(q)
        prefixes = grown
    out = np.array(sorted(prefixes), dtype=bool).reshape(len(prefixes), n)
    return out


def brute_force_faces(X: np.ndarray) -> set[tuple[int, ...]]:
    """Patterns 1[X u >= 0] over all faces, by LP: for each ternary sign vector check feasibility
    of x_i·u >= 1 (+), <= -1 (−), = 0 (0). Tiny n only (3^n LPs)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    out: set[tuple[int, ...]] = set()
    for signs in itertools.product((-1, 0, 1), repeat=n):
        s = np.array(signs, dtype=np.float64)
        strict = s != 0
        A_ub = -(s[strict, None] * X[strict])
        A_eq = X[~strict]
        res = linprog(
            np.zeros(d),
            A_ub=A_ub if strict.any() else None,
            b_ub=-np.ones(int(strict.sum())) if strict.any() else None,
            A_eq=A_eq if (~strict).any() else None,
            b_eq=np.zeros(int((~strict).sum())) if (~strict).any() else None,
            bounds=[(None, None)] * d,
            method="highs",
        )
        if res.status == 0:
            out.add(tuple(int(v >= 0) for v in signs))
    return out


def resonance(d: int) -> np.ndarray:
    """All nonzero 0/1 vectors of R^d (the resonance arrangement)."""
    return np.array([v for v in itertools.product((0, 1), repeat=d) if any(v)], dtype=np.float64)


def braid(k: int) -> np.ndarray:
    """Rows e_i − e_j, i < j, of R^k (the braid arrangement: k! chambers)."""
    eye = np.eye(k)
    return np.array([eye[i] - eye[j] for i in range(k) for j in range(i + 1, k)])


def cube(k: int) -> np.ndarray:
    """All of {0,1}^k (with bias: the threshold arrangement)."""
    return np.array(list(itertools.product((0, 1), repeat=k)), dtype=np.float64)
