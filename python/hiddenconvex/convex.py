"""Train two-layer ReLU networks through their exact convex reformulation.

The non-convex problem (scaling ``"sum"``, the paper's convention) for a network
``f(x) = Σ_j (xᵀu_j)₊ α_j`` of any width m ≥ m* is

    p* = min ½‖Σ_j (X u_j)₊ α_j − y‖² + (β/2) Σ_j (‖u_j‖² + α_j²).

Theorem 1 of Zeger & Pilanci (from Pilanci & Ergen, ICML 2020): p* equals the convex program

    min ½‖Σ_i D_i X (v_i − w_i) − y‖² + β Σ_i (‖v_i‖₂ + ‖w_i‖₂)
    s.t. (2D_i − I) X v_i ≥ 0,  (2D_i − I) X w_i ≥ 0,

over all activation patterns D_i = diag(1[X g > 0]) (the open chambers of the arrangement
``{g : x_kᵀg = 0}``; their closures cover ℝ^d, so every neuron u satisfies the cone constraint of
some open chamber and the face patterns are not needed). Recovery: u = v_i/√‖v_i‖,
α = √‖v_i‖ (and −√‖w_i‖ for w blocks). The proof only uses the rescaling of each neuron and the
cone constraints, so the equivalence holds for any convex loss ℓ in place of ½‖·‖² (Pilanci &
Ergen state it for convex losses); we offer squared, logistic, hinge and Huber losses.

:class:`ConvexGatedReLU` solves the gated relaxation (Mishkin et al., ICML 2022): the
unconstrained group Lasso ``min ℓ(Σ_i D_i X w_i) + β Σ_i ‖w_i‖`` with fixed gates g_i.

Scaling: ``scaling="sum"`` is the above; ``scaling="mean"`` is pyscnn's
``(1/n) Σ_k ℓ + λ Σ_i ‖·‖`` with ``beta`` read as λ; since mean-objective = sum-objective / n
with β = n·λ, we solve the sum problem with β = n·λ and report objectives divided by n.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import _core
from ._progress import progress_callback
from ._typing import ConvexLoss, ConvexPatterns, ConvexSolver, CoreConvexSolver, Scaling
from ._validation import (
    as_float_array,
    as_matrix,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_labels,
    data_fingerprint,
    encode_pm1,
)
from .exceptions import (
    ConvergenceWarning,
    HiddenConvexError,
    InvalidInputError,
    ResourceLimitError,
)
from .io import Result

if TYPE_CHECKING:
    from ._core import _ConvexKind, _ConvexLoss


__all__ = [
    "ConvexReLU",
    "ConvexGatedReLU",
    "ConvexFitResult",
    "relu_network_objective",
    "default_memory_limit",
    "fit_memory_estimate",
]

LOSSES: tuple[_ConvexLoss, ...] = ("squared", "logistic", "hinge", "huber")

# Smallest |objective| the relative certificate scales by (objectives below it: zero targets
# fitted exactly, certified by an absolute gap of tol * 1e-20).
GAP_TINY = 1e-20
CERTIFICATE_RULE = (
    "certified: all open chambers as patterns and network objective - dual bound "
    "<= tol * max(|network objective|, 1e-20)"
)
SCALINGS = ("sum", "mean")
SOLVERS = ("auto", "ipm", "conic", "newton", "fista", "admm", "cvxpy")


def default_memory_limit() -> int:
    """Byte budget of a convex fit when ``memory_limit`` is None: three quarters of the
    machine's physical memory (8 GiB where it cannot be read)."""
    try:
        total = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        total = 0
    return (3 * total) // 4 if total > 0 else 8 * 1024**3


#: Largest / smallest nonzero magnitude of X and y the convex solvers accept: they square X and
#: y (XᵀX, Lipschitz constants, ‖y‖²), which must stay far inside float64's range.
SOLVER_SCALE_LIMIT: float = 2.0**300


def _check_solver_scale(Xa: np.ndarray, Y: np.ndarray) -> None:
    """Refuse data whose squares overflow or underflow (a wrong "certified" optimum otherwise)."""
    for name, arr in (("X", Xa), ("y", Y)):
        a = np.abs(np.asarray(arr, dtype=np.float64))
        big = float(a.max()) if a.size else 0.0
        small = float(a[a > 0].min()) if np.any(a > 0) else 1.0
        if big > SOLVER_SCALE_LIMIT or (big > 0 and big < 1.0 / SOLVER_SCALE_LIMIT):
            raise InvalidInputError(
                f"{name}: entries of magnitude up to {big:.3g}; the convex program squares the "
                "data (XᵀX, step sizes, ‖y‖²), which leaves float64's range beyond about "
                f"{SOLVER_SCALE_LIMIT:.1e} (or below its inverse). Rescale {name} "
                "(the activation patterns do not change under scaling)."
            )
        if small < 1.0 / SOLVER_SCALE_LIMIT and big / small > 2.0**600:
            raise InvalidInputError(
                f"{name}: nonzero entries range from {small:.3g} to {big:.3g}: their squares "
                "cannot be represented together in float64."
            )


def fit_memory_estimate(solver: str, kind: str, n: int, d: int, n_patterns: int) -> int:
    """Rough upper estimate (bytes) of the working memory of one fit (one output column) by
    ``solver``: its n-row arrays over the B blocks (B = 2P for the ReLU program, P for the gated
    one; the interior-point method holds about 20 of them — cone slacks, multipliers, steps,
    residuals and the certificates' —, the first-order solvers about 10), the n × n matrices
    of the Woodbury / Newton solvers, and for cvxpy ~150 bytes per nonzero of the constraint
    matrix (measured: Clarabel needed 10 GB at 80M nonzeros).

    ``solver`` is one of the concrete solvers (not ``"auto"``), ``kind`` ``"relu"`` or
    ``"gated"``; n, d, n_patterns are integers ≥ 1 (else InvalidInputError / InvalidTypeError)."""
    solver = check_choice(solver, "solver", tuple(s for s in SOLVERS if s != "auto"))
    kind = check_choice(kind, "kind", ("relu", "gated"))
    n = check_int(n, "n", minimum=1, maximum=None)
    d = check_int(d, "d", minimum=1, maximum=None)
    n_patterns = check_int(n_patterns, "n_patterns", minimum=1, maximum=None)
    f = 8
    blocks = (2 if kind == "relu" else 1) * n_patterns
    rows = n * blocks if kind == "relu" else 0  # cone rows S_i X z_b ≥ 0
    common = f * (3 * n * n_patterns + 4 * d * blocks + n * d)
    if solver == "cvxpy":
        nnz = (4 * n * d + 2 * n) * n_patterns if kind == "relu" else n * d * n_patterns
        return common + 150 * nnz
    if solver == "ipm":
        # X_iᵀ and C_i X_iᵀ per pattern (the Woodbury assembly's operands): 2 d n P; its tiles
        # (at most 9 units of ≤ 512² partial sums)
        tiles = 9 * min(n, 512) ** 2
        return common + f * (
            20 * rows + 3 * n * n + tiles + 2 * d * n * n_patterns + 3 * blocks * (d + 1) ** 2
        )
    if solver == "newton":
        return common + f * (4 * n * n + 2 * n * n_patterns)
    if solver == "admm":
        return common + f * (10 * rows + 3 * n * n + 6 * n * blocks)
    return common + f * (10 * rows + 4 * n * blocks)  # fista


def _loss_value(loss: str, pred: np.ndarray, y: np.ndarray, delta: float) -> float:
    """Σ_k ℓ(pred_k; y_k) over all entries, from the core's loss module."""
    f = np.ascontiguousarray(pred, dtype=np.float64).reshape(1, -1)
    t = np.ascontiguousarray(y, dtype=np.float64).reshape(1, -1)
    sums, _ = _core.loss_rows(cast(Any, loss), f, t, huber_delta=delta)
    return float(sums[0])


def relu_network_objective(
    X: Any,
    y: Any,
    U: Any,
    alpha: Any,
    beta: float,
    *,
    loss: ConvexLoss = "squared",
    scaling: Scaling = "sum",
    bias: bool = False,
    huber_delta: float = 1.0,
) -> float:
    """Objective of the two-layer ReLU network ``f(x) = Σ_j ([x, 1]ᵀu_j)₊ α_j``.

    ``sum``: Σ_k ℓ(f(x_k); y_k) + (β/2) Σ_j (‖u_j‖² + ‖α_j‖²); ``mean``: (1/n) Σ_k ℓ + (β/2) Σ_j
    (…) with β read as λ (pyscnn's convention). With ``bias=True`` U has d + 1 rows (last: the
    neuron's bias, penalised like the weights). ``y`` of shape (n, c) takes α of shape (m, c).
    For logistic / hinge losses ``y`` holds ±1 labels.
    """
    X = as_matrix(X)
    if bias:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    U = as_float_array(U, "U", ndim=2, allow_empty=True)
    a = as_float_array(alpha, "alpha", ndim=(1, 2), allow_empty=True)
    yv = as_float_array(y, "y", ndim=(1, 2))
    check_choice(loss, "loss", LOSSES)
    check_choice(scaling, "scaling", SCALINGS)
    if U.shape[0] != X.shape[1]:
        raise InvalidInputError(f"U: expected {X.shape[1]} rows, got {U.shape[0]}")
    H = np.maximum(X @ U, 0.0)
    pred = H @ a
    if pred.shape != yv.shape:
        raise InvalidInputError(
            f"y: shape {yv.shape} does not match the network output {pred.shape}"
        )
    fit = _loss_value(loss, pred, yv, huber_delta)
    reg = 0.5 * beta * (float(np.sum(U * U)) + float(np.sum(a * a)))
    if scaling == "mean":
        return fit / X.shape[0] + reg
    return fit + reg


@dataclass(repr=False)
class ConvexFitResult(Result):
    """Provenance and certificate of one convex fit (saved with ``save``; ``hc.load`` reads it).

    Objectives are in the estimator's scaling. ``dual_objective`` is a rigorous lower bound on
    the convex optimum over the patterns used; ``duality_gap = objective − dual_objective``.
    ``certified`` is True when the patterns are all open chambers (exact) and the gap between
    the *recovered network's* objective (an upper bound on p*) and the dual bound is within
    tolerance: then the network is a certified global optimum of the non-convex problem.
    """

    kind: str
    loss: str
    scaling: str
    beta: float
    objective: float
    network_objective: float
    dual_objective: float
    duality_gap: float
    max_constraint_violation: float
    n_iter: int
    converged: bool
    n_active: int
    n_patterns: int
    patterns_exact: bool
    certified: bool
    solver: str
    tol: float
    seed: int | None
    timings: dict[str, float] = field(default_factory=dict)
    beta_max: float | None = None
    certificate_rule: str = ""
    reason: str = ""
    log: list[str] = field(default_factory=list)
    blocks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    dual_point: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def summary(self) -> str:
        what = "ReLU (cone-constrained)" if self.kind == "relu" else "gated ReLU (group Lasso)"
        lines = [
            f"Convex {what} program, loss={self.loss}, scaling={self.scaling}, beta={self.beta:g}",
            f"  patterns        : {self.n_patterns:,} ({'all chambers' if self.patterns_exact else 'sampled'})",
            f"  objective       : {self.objective:.12g}",
            f"  dual bound      : {self.dual_objective:.12g}  (gap {self.duality_gap:.3e})",
            f"  violation       : {self.max_constraint_violation:.3e}",
            f"  active neurons  : {self.n_active}",
            f"  iterations      : {self.n_iter} ({self.solver}), converged={self.converged}",
        ]
        if self.kind == "relu":
            lines.append(f"  network obj.    : {self.network_objective:.12g}")
        if self.certified:
            lines.append(
                "  => certified global optimum of the non-convex network problem "
                f"(network objective − dual bound ≤ {self.tol:g} relative)"
            )
        elif self.kind == "relu":
            reason = "patterns were sampled" if not self.patterns_exact else "gap above tolerance"
            lines.append(f"  => not a certificate of global optimality ({reason})")
            if self.reason:
                lines.append(f"     {self.reason}")
        if self.beta_max is not None:
            lines.append(
                f"  beta_max        : {self.beta_max:.6g} (zero network optimal for beta >= it)"
            )
        return "\n".join(lines)


def _gates_sample(X: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct nonempty patterns of ``n`` Gaussian gates and a gate realising each: the Rust
    sampler of :func:`hiddenconvex.chambers` (``method="sample"``; ChaCha8 streams of ``seed``,
    the same at any thread count), without the all-zero pattern unless it is the only one."""
    from .chambers import chambers

    s = chambers(X, method="sample", n_samples=n, seed=seed)
    D = np.asarray(s.patterns, bool)
    G = np.asarray(s.witnesses, float)
    keep = D.any(axis=1)
    if keep.any():
        D, G = D[keep], G[keep]
    return D, G


def _network_fit(Xa: np.ndarray, D: np.ndarray, z: np.ndarray, relu: bool) -> np.ndarray:
    """Output of the network recovered from the blocks z: Σ_b σ_b (X z_b)₊ (ReLU program) or
    Σ_i D_i X z_i (gated program, D the (P, n) patterns)."""
    # only the nonzero blocks (m* ≤ n + 1 of them): a product the size of the network, not of
    # the 2P blocks — small enough that BLAS runs it on one thread (waking its thread pool would
    # leave it spinning on a core while the next solve runs)
    act = np.flatnonzero(np.any(z != 0.0, axis=0))
    out = Xa @ z[:, act]
    if relu:
        P = D.shape[0]
        sgn = np.where(act >= P, -1.0, 1.0)
        return np.maximum(out, 0.0) @ sgn
    return np.sum(D[act % D.shape[0]].T * out, axis=1)


_BLAS: list[Any] = []  # the cached threadpoolctl controller (or None when unavailable)


def _one_blas_thread() -> Any:
    """Context limiting BLAS to one thread (threadpoolctl, when available): the pruning's small
    SVD ran 0.35 s on a loaded 2-core machine with OpenBLAS's threads competing and ~1 ms on
    one thread."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except ImportError:  # pragma: no cover - optional
            _BLAS.append(None)
    ctl = _BLAS[0]
    if ctl is None:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")


def _prune(Xa: np.ndarray, D: np.ndarray, z: np.ndarray, relu: bool) -> np.ndarray:
    """Carathéodory pruning (Pilanci & Ergen 2020) of the *recovered network*: while more than
    n + 1 blocks are active, move their norms t_j along a direction δ with Σ δ_j c_j = 0 and
    Σ δ_j = 0 until one reaches 0, where c_j = σ_j (X z_j)₊/‖z_j‖ is the unit-norm output of
    neuron j (the network's own output, not D_i X z_j: a block that slightly violates its cone
    would otherwise be magnified and change the network). The network prediction Σ t_j c_j and
    the penalty β Σ t_j are unchanged up to rounding, so the network objective is unchanged
    (``fit`` re-evaluates it and keeps the unpruned blocks if rounding moved it beyond
    tolerance). Gated program: c_j = D_i X z_j / ‖z_j‖ (its exact output)."""
    n = Xa.shape[0]
    z = z.copy()
    P = D.shape[0]
    nrm = np.linalg.norm(z, axis=0)
    act = np.flatnonzero(nrm > 0)
    m = len(act)
    if m <= n + 1:
        return z
    # The (n + 1) × m matrix [c_j; 1] of the active blocks: its null vectors δ (Σ δ_j c_j = 0,
    # Σ δ_j = 0) move the norms without changing the network (see _prune_null_space).
    t0 = nrm[act]
    out = Xa @ z[:, act]
    if relu:
        sgn = np.where(act >= P, -1.0, 1.0)
        cols = sgn * np.maximum(out, 0.0) / t0
    else:
        cols = D[act % P].T * out / t0
    C = np.vstack([cols, np.ones(m)])
    if m - (n + 1) > n:
        # many more blocks than n + 1 (a conic solution's support): 2(n + 1) blocks at a time —
        # also the bound on memory: one SVD of all m blocks would hold an m × m basis
        return _prune_windowed(z, act, C, t0, n)
    t = _prune_null_space(C, t0, n)
    z[:, act] = z[:, act] * (t / t0)
    return z


def _prune_null_space(C: np.ndarray, t0: np.ndarray, n: int) -> np.ndarray:
    """The norms t ≥ 0 after :func:`_prune`'s steps on the blocks of C ((n + 1) × m, the
    columns [c_j; 1]): one SVD gives m − (n + 1) null vectors δ (Σ δ_j c_j = 0, Σ δ_j = 0); each
    step moves along one of them until a norm reaches 0, then eliminates that block's coordinate
    from the remaining basis (one rank-one update, O(m k) for k vectors left)."""
    m = C.shape[1]
    _, _, vt = np.linalg.svd(C, full_matrices=True)
    N = vt[n + 1 :].T.copy()  # m × k
    t = t0.copy()
    alive = np.ones(m, dtype=bool)
    while N.shape[1] > 0 and int(alive.sum()) > n + 1:
        delta = N[:, 0].copy()
        delta[~alive] = 0.0
        scale = np.max(np.abs(delta))
        if scale == 0.0:
            N = N[:, 1:]
            continue
        if np.max(delta) <= 1e-14 * scale:
            delta = -delta
        pos = alive & (delta > 1e-14 * scale)
        ratio = np.where(pos, t / np.where(pos, delta, 1.0), np.inf)
        k = int(np.argmin(ratio))
        t = np.maximum(t - ratio[k] * delta, 0.0)
        t[k] = 0.0
        gone = alive & (t == 0.0)
        alive &= ~gone
        # eliminate the removed coordinates from the basis (pivot: the entry of largest
        # magnitude, so the multipliers are at most 1)
        for j in np.flatnonzero(gone):
            if N.shape[1] == 0:
                break
            q = int(np.argmax(np.abs(N[j])))
            if N[j, q] == 0.0:
                continue
            piv = N[:, q].copy()
            N = np.delete(N, q, axis=1)
            N -= np.outer(piv, N[j] / piv[j])
            N[j] = 0.0
    return t


# _prune takes 2(n + 1) blocks at a time (one SVD per window) when more than 2n + 1 blocks are
# active, rather than eliminating along the null space of all active blocks at once (a rank-one
# update of an m × (m − n − 1) basis per removed block: 5 s for m = 783 blocks at n = 40, and an
# m × m SVD basis in memory). Up to n + 2 = 200 the core already returns pruned blocks
# (rust/core/src/convex/prune.rs, the same steps without NumPy's per-step overhead), so _prune
# has nothing left to do there.


def _prune_windowed(
    z: np.ndarray, act: np.ndarray, C: np.ndarray, t0: np.ndarray, n: int
) -> np.ndarray:
    """The steps of :func:`_prune` on a window of 2(n + 1) active blocks (the largest first):
    :func:`_prune_null_space` leaves at most n + 1 of the window's blocks nonzero (one SVD of
    the window's (n + 1) × 2(n + 1) matrix [c_j; 1] per window), the next blocks join and the
    window is pruned again. The prediction and the penalty are unchanged up to rounding, as in
    :func:`_prune` (one SVD per n + 1 removed blocks: at n = 40, 680 blocks pruned 4× faster
    than with one QR of an (n + 2)-block window per removed block)."""
    t = t0.copy()
    order = list(np.argsort(-t0, kind="stable"))  # the largest blocks first
    w = 2 * (n + 1)
    window = order[:w]
    queue = order[w:][::-1]
    while True:
        tw = _prune_null_space(C[:, window], t[window], n)
        t[window] = tw
        window = [j for j, v in zip(window, tw, strict=True) if v > 0.0]
        if not queue:
            break
        # at least one block joins (a window its null space could not shrink grows by one)
        for _ in range(min(max(w - len(window), 1), len(queue))):
            window.append(queue.pop())
    z[:, act] = z[:, act] * (t / t0)
    return z


def _verified_prune(
    Xa: np.ndarray, D: np.ndarray, o: dict[str, Any], relu: bool, y: np.ndarray, loss: str,
    beta: float, delta: float, tol: float,
) -> dict[str, Any]:  # fmt: skip
    """Prune o["z"] (see :func:`_prune`) and re-evaluate what the recovered network attains.

    The pruned blocks are accepted only if the network objective did not grow by more than
    tol/10 relative; otherwise the unpruned blocks are kept. In both
    cases ``network_objective`` is recomputed from the blocks returned (NumPy formula), so the
    certificate in ``fit`` compares what the network actually attains with the dual bound."""
    z0 = o["z"]

    def net_obj(z: np.ndarray) -> float:
        pred = _network_fit(Xa, D, z, relu)
        return _loss_value(loss, pred, y, delta) + beta * float(np.linalg.norm(z, axis=0).sum())

    before = net_obj(z0)
    slack = 0.1 * tol * max(abs(before), GAP_TINY)
    with _one_blas_thread():
        zp = _prune(Xa, D, z0, relu)
    after = net_obj(zp)
    if not (after <= before + slack):
        zp, after = z0, before
    o = dict(o)
    o["z"] = np.ascontiguousarray(zp)
    o["network_objective"] = after
    if not relu:
        o["objective"] = after
    return o


class _ConvexBase:
    _kind: _ConvexKind = "relu"
    classes_: np.ndarray | None

    def __init__(
        self,
        beta: float = 1e-3,
        *,
        loss: ConvexLoss = "squared",
        patterns: ConvexPatterns | Any = "exact",
        n_patterns: int | None = None,
        bias: bool = False,
        scaling: Scaling = "sum",
        solver: ConvexSolver = "auto",
        tol: float = 1e-8,
        max_iter: int = 20000,
        huber_delta: float = 1.0,
        seed: int | None = None,
        progress: Any = None,
        memory_limit: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.beta = beta
        self.loss = loss
        self.patterns = patterns
        self.n_patterns = n_patterns
        self.bias = bias
        self.scaling = scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.huber_delta = huber_delta
        self.seed = seed
        self.progress = progress
        self.memory_limit = memory_limit
        self.verbose = verbose

    # -- scikit-learn protocol -------------------------------------------------------------
    _param_names = (
        "beta",
        "loss",
        "patterns",
        "n_patterns",
        "bias",
        "scaling",
        "solver",
        "tol",
        "max_iter",
        "huber_delta",
        "seed",
        "progress",
        "memory_limit",
        "verbose",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._param_names}

    def set_params(self, **params: Any) -> _ConvexBase:
        """Set constructor parameters (scikit-learn convention)."""
        for k, v in params.items():
            if k not in self._param_names:
                raise InvalidInputError(
                    f"{k}: not a parameter of {type(self).__name__} "
                    f"(expected one of {', '.join(self._param_names)})"
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(beta={self.beta!r}, loss={self.loss!r}, patterns={self.patterns if isinstance(self.patterns, str) else '<...>'!r})"

    # -- data ---------------------------------------------------------------------------
    def _augment(self, X: Any) -> np.ndarray:
        Xa = as_matrix(X, "X")
        if check_bool(self.bias, "bias"):
            Xa = np.hstack([Xa, np.ones((Xa.shape[0], 1))])
        return Xa

    def _targets(self, y: Any, n: int) -> np.ndarray:
        if self.loss in ("logistic", "hinge") and np.asarray(y).ndim == 1:
            raw = check_labels(y, "y")
            if raw.shape[0] != n:
                raise InvalidInputError(f"y: has {raw.shape[0]} rows but X has {n}")
            if raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
                raise InvalidInputError("y: contains NaN or inf")
            self._vector = False
            return self._encode_classes(raw, n)
        yv = as_float_array(y, "y", ndim=(1, 2))
        if yv.shape[0] != n:
            raise InvalidInputError(f"y: has {yv.shape[0]} rows but X has {n}")
        Y = yv.reshape(n, -1)
        self._vector = yv.ndim == 2
        if self.loss in ("logistic", "hinge"):
            raw = np.asarray(y)
            if raw.ndim == 2:
                bad = ~np.isin(raw, (-1, 1))
                if bad.any():
                    raise InvalidInputError(
                        "y: for classification losses a 2-D y must hold ±1 (one-vs-all columns)"
                    )
                self.classes_ = None
                return Y
            return self._encode_classes(raw, n)
        self.classes_ = None
        return Y

    def _encode_classes(self, raw: np.ndarray, n: int) -> np.ndarray:
        """Labels of a classification loss: two classes → one ±1 column (the larger is +1), more →
        one-vs-all ±1 columns; ``classes_`` keeps the original labels."""
        classes = np.unique(raw)
        if len(classes) == 2:
            self.classes_ = classes
            return encode_pm1(raw, classes[1]).reshape(n, 1)
        if len(classes) < 2:
            raise InvalidInputError("y: needs at least two classes for a classification loss")
        self.classes_ = classes
        self._vector = True
        return np.stack([encode_pm1(raw, c) for c in classes], axis=1)

    def _resolve_patterns(
        self, Xa: np.ndarray, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray | None, bool]:
        p = self.patterns
        n = Xa.shape[0]
        if isinstance(p, str):
            check_choice(p, "patterns", ("exact", "sample"))
            if p == "exact":
                from .chambers import chambers

                # the enumeration is refused (before it runs) when the chambers alone would
                # exceed the fit's memory_limit
                limit = (
                    None
                    if self.memory_limit is None
                    else check_int(self.memory_limit, "memory_limit", minimum=1)
                )
                ch = chambers(Xa, method="exact", bias=False, memory_limit=limit)
                return np.asarray(ch.patterns, bool), np.asarray(ch.witnesses, float), True
            k = (
                100
                if self.n_patterns is None
                else check_int(self.n_patterns, "n_patterns", minimum=1)
            )
            # checked before sampling: the sample itself (gates, X @ G, patterns) and the
            # cheapest solver's working memory for k patterns
            d = Xa.shape[1]
            need = max(k * (8 * d + 10 * n), fit_memory_estimate("fista", self._kind, n, d, k))
            limit = (
                default_memory_limit()
                if self.memory_limit is None
                else check_int(self.memory_limit, "memory_limit", minimum=1)
            )
            if need > limit:
                raise ResourceLimitError(
                    f"n_patterns: sampling and solving with {k} patterns needs about "
                    f"{need / 2**30:.3g} GiB ({need} bytes, estimate) for n = {n}, d = {d}, over "
                    f"memory_limit = {limit / 2**30:.3g} GiB; use a smaller n_patterns"
                )
            D, G = _gates_sample(Xa, k, int(seed if seed is not None else 0))
            return D, G, False
        if hasattr(p, "patterns") and hasattr(p, "witnesses"):
            D = np.asarray(p.patterns, bool)
            G = np.asarray(p.witnesses, float)
            exact = getattr(p, "method", "") == "exact" and getattr(p, "coverage", 0) == 1.0
            if G.shape[1] != Xa.shape[1]:
                raise InvalidInputError(
                    f"patterns: the Chambers gates have dimension {G.shape[1]} but X"
                    f"{' with its bias column' if self.bias else ''} has {Xa.shape[1]} columns"
                )
            if D.shape[1] != n:
                raise InvalidInputError(f"patterns: built for {D.shape[1]} points, X has {n}")
            return D, G, exact
        arr = np.asarray(p)
        if arr.dtype != bool:
            raise InvalidInputError(
                "patterns: expected 'exact', 'sample', a Chambers result or a bool array (P, n)"
            )
        if arr.ndim != 2 or arr.shape[1] != n or arr.shape[0] == 0:
            raise InvalidInputError(
                f"patterns: expected a non-empty bool array of shape (P, {n}), got {arr.shape}"
            )
        return np.ascontiguousarray(arr), None, False

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self, X: Any, y: Any, *, warm_start: dict[int, dict[str, Any]] | None = None
    ) -> _ConvexBase:
        """Solve the convex program on (X, y). Returns self.

        Raises
        ------
        InvalidInputError
            Bad shapes, NaN/inf, β < 0, no patterns, unknown loss / solver / scaling; X or y
            with entries beyond 2^±300 in magnitude (their squares leave float64's range).
        ResourceLimitError
            ``patterns="exact"`` on data whose chambers cannot fit the default budget or
            ``memory_limit`` (refused in O(n·d), before enumerating); a fit whose working-memory
            estimate exceeds ``memory_limit`` (refused before allocating).
        ConvergenceWarning
            (warning) when the run stopped before the certified gap reached ``tol``.
        """
        t0 = time.perf_counter()
        beta = check_float(self.beta, "beta", minimum=0.0)
        self._loss = check_choice(self.loss, "loss", LOSSES)
        check_choice(self.scaling, "scaling", SCALINGS)
        solver = check_choice(self.solver, "solver", SOLVERS)
        tol = check_float(self.tol, "tol", minimum=0.0, strict_minimum=True)
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        delta = check_float(self.huber_delta, "huber_delta", minimum=0.0, strict_minimum=True)
        from ._validation import resolve_seed

        seed = (
            resolve_seed(self.seed)
            if isinstance(self.patterns, str) and self.patterns == "sample"
            else (None if self.seed is None else resolve_seed(self.seed))
        )
        Xa = self._augment(X)
        n = Xa.shape[0]
        Y = self._targets(y, n)
        _check_solver_scale(Xa, Y)
        D, G, exact = self._resolve_patterns(Xa, seed)
        t1 = time.perf_counter()
        beta_sum = beta * n if self.scaling == "mean" else beta
        limit = (
            default_memory_limit()
            if self.memory_limit is None
            else check_int(self.memory_limit, "memory_limit", minimum=1)
        )
        if solver == "cvxpy":
            need = fit_memory_estimate(solver, self._kind, n, Xa.shape[1], int(D.shape[0]))
            if need > limit:
                raise ResourceLimitError(
                    f"{type(self).__name__}.fit: solver 'cvxpy' needs about "
                    f"{need / 2**30:.2f} GiB of working memory for n = {n}, d = {Xa.shape[1]}, "
                    f"{D.shape[0]} patterns (estimate), over memory_limit = "
                    f"{limit / 2**30:.2f} GiB; use fewer patterns, another solver, or raise "
                    f"memory_limit"
                )
        outs: list[Any] = []  # the core's solutions, then the cvxpy path's dicts
        with progress_callback(self.progress, f"{type(self).__name__}.fit") as cb:
            for col in range(Y.shape[1]):
                yc = np.ascontiguousarray(Y[:, col])
                if solver == "cvxpy":
                    outs.append(self._fit_cvxpy(Xa, yc, D, beta_sum, delta))
                    continue
                ws = (warm_start or {}).get(col, {}) if warm_start else {}
                outs.append(
                    _core.convex_solve(
                        Xa,
                        yc,
                        D,
                        beta_sum,
                        kind=self._kind,
                        loss=self._loss,
                        huber_delta=delta,
                        solver=cast(CoreConvexSolver, solver),
                        tol=tol,
                        max_iter=max_iter,
                        check_every=25 if self._kind == "relu" else 10,
                        progress=cb,
                        gates=None if G is None else np.ascontiguousarray(G, dtype=float),
                        memory_limit=limit,
                        verbose=bool(self.verbose),
                        **ws,
                    )
                )
        outs = [
            _verified_prune(
                Xa,
                D,
                o,
                self._kind == "relu",
                np.ascontiguousarray(Y[:, c]),
                self.loss,
                beta_sum,
                delta,
                tol,
            )  # fmt: skip
            for c, o in enumerate(outs)
        ]
        t2 = time.perf_counter()
        div = float(n) if self.scaling == "mean" else 1.0
        self.X_fit_shape_ = Xa.shape
        self.data_fingerprint_ = data_fingerprint(Xa, Y)
        self.patterns_ = D
        self.gates_ = G
        self.blocks_ = [o["z"] for o in outs]
        obj = sum(o["objective"] for o in outs) / div
        net = sum(o["network_objective"] for o in outs) / div
        dual = sum(o["dual"] for o in outs) / div
        self.objective_ = obj
        self.network_objective_ = net
        self.dual_objective_ = dual
        self.duality_gap_ = obj - dual
        self.dual_point_ = np.stack([o["dual_point"] for o in outs], axis=1) / div
        if not self._vector:
            self.dual_point_ = self.dual_point_[:, 0]
        self.cone_multipliers_ = [o["cone_multipliers"] / div for o in outs]
        self.max_constraint_violation_ = max(o["violation"] for o in outs)
        self.n_iter_ = int(sum(o["n_iter"] for o in outs))
        self.converged_ = all(o["converged"] for o in outs)
        norms = [np.linalg.norm(z, axis=0) for z in self.blocks_]
        self.n_active_ = int(sum(int(np.sum(nrm > 0)) for nrm in norms))
        self.warm_start_ = {
            c: {
                k: o[k]
                for k in ("warm_z", "warm_a", "warm_b", "warm_c", "warm_rho")
                if o.get(k) is not None
            }
            for c, o in enumerate(outs)
        }
        self.timings_ = {"patterns_s": t1 - t0, "solve_s": t2 - t1, "total_s": t2 - t0}
        for o in outs:
            for k, v in (o.get("timings") or {}).items():
                self.timings_[f"{k}_s"] = self.timings_.get(f"{k}_s", 0.0) + float(v)
        bmaxes = [o.get("beta_max") for o in outs]
        self.beta_max_ = (
            None if any(b is None for b in bmaxes) else max(float(b) for b in bmaxes) / div
        )
        log = [line for o in outs for line in (o.get("log") or [])]
        reason = "; ".join(o["reason"] for o in outs if o.get("reason"))
        if not exact and self._kind == "relu":
            reason = (reason + "; " if reason else "") + (
                "the patterns were sampled: the dual bound holds for the program over these "
                "patterns only"
            )
        if self.verbose:
            for line in log:
                print(f"[{type(self).__name__}] {line}")
        self.seed_ = seed
        # The certificate is about the network actually returned: its objective (an upper bound
        # on p*, whatever the cone violations) minus the dual bound (a lower bound on p*).
        certified = bool(
            exact and self._kind == "relu" and (net - dual) <= tol * max(abs(net), GAP_TINY)
        )
        self.certified_ = certified
        self.result_ = ConvexFitResult(
            kind=self._kind,
            loss=self.loss,
            scaling=self.scaling,
            beta=beta,
            objective=obj,
            network_objective=net,
            dual_objective=dual,
            duality_gap=obj - dual,
            max_constraint_violation=self.max_constraint_violation_,
            n_iter=self.n_iter_,
            converged=self.converged_,
            n_active=self.n_active_,
            n_patterns=int(D.shape[0]),
            patterns_exact=exact,
            certified=certified,
            solver=str(outs[0].get("solver", solver)),
            tol=tol,
            seed=seed,
            timings=dict(self.timings_),
            beta_max=self.beta_max_,
            certificate_rule=CERTIFICATE_RULE,
            reason=reason,
            log=log,
            blocks=np.concatenate(self.blocks_, axis=1),
            dual_point=np.asarray(self.dual_point_),
        )
        if not self.converged_:
            why = "; ".join(o["reason"] for o in outs if o.get("reason"))
            warnings.warn(
                f"{type(self).__name__} stopped after {self.n_iter_} iterations before reaching "
                f"tol={tol:g}: duality gap {self.duality_gap_:.3e} (objective {obj:.10g}, dual "
                f"bound {dual:.10g}), max constraint violation "
                f"{self.max_constraint_violation_:.3e}"
                f"{' — ' + why if why else ''}. Raise max_iter or loosen tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _fit_cvxpy(
        self, Xa: np.ndarray, y: np.ndarray, D: np.ndarray, beta: float, delta: float
    ) -> dict[str, Any]:
        try:
            import cvxpy as cp
        except ImportError as exc:  # pragma: no cover
            raise HiddenConvexError(
                "solver='cvxpy' needs cvxpy (pip install cvxpy clarabel)"
            ) from exc
        M = D.T.astype(float)
        d, P = Xa.shape[1], M.shape[1]
        relu = self._kind == "relu"
        V = cp.Variable((d, P))
        W: Any = cp.Variable((d, P)) if relu else None
        pred = cp.sum(cp.multiply(M, Xa @ V - (Xa @ W if relu else 0)), axis=1)
        if self.loss == "squared":
            fit = 0.5 * cp.sum_squares(pred - y)
        elif self.loss == "logistic":
            fit = cp.sum(cp.logistic(-cp.multiply(y, pred)))
        elif self.loss == "hinge":
            fit = cp.sum(cp.pos(1 - cp.multiply(y, pred)))
        else:
            fit = 0.5 * cp.sum(cp.huber(pred - y, delta))
        reg = cp.sum(cp.norm(V, 2, axis=0))
        cons = []
        if relu:
            reg = reg + cp.sum(cp.norm(W, 2, axis=0))
            S = 2 * M - 1
            cons = [cp.multiply(S, Xa @ V) >= 0, cp.multiply(S, Xa @ W) >= 0]
        prob = cp.Problem(cp.Minimize(fit + beta * reg), cons)
        prob.solve(solver="CLARABEL")
        z_raw = np.ascontiguousarray(V.value if not relu else np.hstack([V.value, W.value]))
        # An independent, rigorous dual bound at Clarabel's point (λ = ℓ'(prediction), μ by NNLS)
        cert = _core.convex_certify(
            Xa, np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(D), beta, z_raw,
            kind=self._kind, loss=self._loss, huber_delta=delta,
        )  # fmt: skip
        z = np.where(np.abs(z_raw) < 1e-9 * max(1.0, np.abs(z_raw).max()), 0.0, z_raw)
        z[:, np.linalg.norm(z, axis=0) < 1e-8] = 0.0
        val = float(prob.value)
        ok = prob.status == "optimal"
        return {
            "z": np.ascontiguousarray(z),
            "objective": val,
            "network_objective": val,
            "dual": min(float(cert["dual"]), val),
            "dual_point": np.asarray(cert["dual_point"]),
            "cone_multipliers": np.zeros((len(y), 0)),
            "violation": 0.0,
            "n_iter": 0,
            "converged": ok,
        }

    # -- model ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "blocks_"):
            raise HiddenConvexError(f"{type(self).__name__} is not fitted yet: call fit(X, y)")

    def _forward(self, Xa: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The model output of one fitted block matrix ``z`` on the augmented data ``Xa``."""
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        """Network output for X (before thresholding for classification losses)."""
        self._check_fitted()
        Xa = self._augment(X)
        if Xa.shape[1] != self.X_fit_shape_[1]:
            raise InvalidInputError(
                f"X: expected {self.X_fit_shape_[1] - int(bool(self.bias))} columns"
            )
        outs = [self._forward(Xa, z) for z in self.blocks_]
        out = np.stack(outs, axis=1)
        return out if self._vector else out[:, 0]

    def predict(self, X: Any) -> np.ndarray:
        """Predictions: the network output (regression) or class labels (logistic / hinge)."""
        f = self.decision_function(X)
        if self.loss in ("logistic", "hinge"):
            if self.classes_ is None:
                return np.where(f >= 0, 1.0, -1.0)
            if f.ndim == 1:
                return self.classes_[(f >= 0).astype(int)]
            return self.classes_[np.argmax(f, axis=1)]
        return f

    def score(self, X: Any, y: Any) -> float:
        """R² (regression losses) or accuracy (classification losses)."""
        p = self.predict(X)
        if self.loss in ("logistic", "hinge") and p.ndim == 1:
            yv = check_labels(y, "y")
        elif self.loss in ("logistic", "hinge"):
            yv = as_float_array(y, "y", ndim=2)
        else:
            yv = as_float_array(y, "y", ndim=(1, 2))
        if yv.shape != p.shape:
            raise InvalidInputError(
                f"y: expected shape {p.shape} (one entry per row of X), got {yv.shape}"
            )
        if self.loss in ("logistic", "hinge"):
            return float(np.mean(p == yv))
        ss_res = float(np.sum((yv - p) ** 2))
        ss_tot = float(np.sum((yv - yv.mean(axis=0)) ** 2))
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0

    def summary(self) -> str:
        """A readable report of the fit and its certificate."""
        self._check_fitted()
        return self.result_.summary()

    def regularization_path(
        self,
        X: Any,
        y: Any,
        betas: Any,
        *,
        client: Any = None,
        segment: int | None = None,
        progress: Any = None,
    ) -> list[ConvexFitResult]:
        """Fit along a list of β (warm starts from one to the next); returns one result each.

        The estimator ends fitted at the last β. ``beta`` is restored afterwards.

        With ``segment`` (β per segment) or a Dask ``client`` (then ``segment`` defaults to
        :func:`hiddenconvex.distributed.default_segment`: 4 β, fewer for paths of under 32 β),
        the β are split into segments of consecutive values, warm-started inside a segment and
        fitted independently of each other, on the cluster's workers with ``client`` (see
        :mod:`hiddenconvex.distributed`).
        The results depend on ``segment`` only, not on where the segments ran. ``progress``
        counts segments.
        """
        bs = as_float_array(betas, "betas", ndim=1)
        if np.any(bs < 0):
            raise InvalidInputError("betas: must all be >= 0")
        if client is not None or segment is not None:
            from .distributed import regularization_path as _segmented_path

            return _segmented_path(
                self, X, y, bs, client=client, segment=segment, progress=progress
            )
        old = self.beta
        out = []
        warm = None
        try:
            for b in bs:
                self.beta = float(b)
                self.fit(X, y, warm_start=warm)
                warm = self.warm_start_ if self.solver != "cvxpy" else None
                out.append(self.result_)
        finally:
            self.beta = old
        return out


class ConvexReLU(_ConvexBase):
    """Two-layer ReLU network trained through its exact convex reformulation.

    Solves min ℓ(Σ_i D_i X (v_i − w_i)) + β Σ_i (‖v_i‖ + ‖w_i‖) s.t. (2D_i − I) X v_i ≥ 0,
    (2D_i − I) X w_i ≥ 0 (see the module docstring for Theorem 1 and the scaling conventions).

    Parameters
    ----------
    beta : float
        Weight decay β ≥ 0 (λ in pyscnn's convention when ``scaling="mean"``).
    loss : {"squared", "logistic", "hinge", "huber"}
        Data-fit loss. Classification losses take any two labels (mapped to ±1 by sorted
        order; more classes → one-vs-all columns).
    patterns : "exact", "sample", Chambers or bool array (P, n)
        ``"exact"``: all open chambers of X (with the bias column) from :func:`hiddenconvex.chambers`
        — needed for the global certificate; ``"sample"``: distinct patterns of ``n_patterns``
        Gaussian gates (default 100) drawn with ``seed`` (an upper bound on p*, like pyscnn).
    bias : bool
        Append a ones column: neurons compute (xᵀu + b)₊ and b is penalised like u.
    scaling : {"sum", "mean"}
        ``"sum"``: Σℓ + β… (the paper); ``"mean"``: (1/n)Σℓ + λ… (pyscnn); objectives reported in it.
    solver : {"auto", "ipm", "conic", "newton", "fista", "admm", "cvxpy"}
        ``"auto"`` (resolved in the Rust core, see ``docs/convex-solvers.md``): with the gates
        known, β ≥ β_max returns the zero network exactly; otherwise the interior-point method
        (large programs, smooth losses) followed by the conic endgame — Clarabel on a working
        set of patterns, its dual point priced on every pattern, column generation until the
        full program's gap closes (hinge, and every loss when d ≤ 3 and n ≤ 200, start
        there from z = 0; for d ≤ 3 each pattern's cone keeps only its facet rows) — and a
        FISTA finish
        only if still open; ``result_.solver`` names the chain that ran. Without gates (bare
        pattern array) FISTA (smooth) or ADMM (hinge). ``"ipm"``: primal-dual interior-point
        method (Mehrotra, Nesterov-Todd scaling, Woodbury-reduced Newton systems, working-set
        loop) then the same endgame. ``"conic"``: the endgame alone. ``"fista"``: accelerated
        proximal gradient with exact cone projections. ``"admm"``: Woodbury-factored ADMM (any
        loss). ``"cvxpy"``: Clarabel through cvxpy (the test oracle). ``"newton"`` solves the
        gated program only (see :class:`ConvexGatedReLU`).
    tol : float
        Relative tolerance of the certificate: ``certified_`` means exact patterns and
        (objective of the network returned) − dual bound ≤ tol·max(|network objective|, tiny)
        (``result_.certificate_rule``). Default 1e-8. A run that cannot certify within
        ``max_iter`` warns (``ConvergenceWarning``) with the gap reached and the reason
        (``result_.reason``). A tighter tol never returns a worse point.
    max_iter : int
        Iteration budget (per output column).
    seed : int or None
        Seed of the sampled gates (``patterns="sample"``); the seed used is ``seed_``.
    progress : None, bool or callable
        Progress reporting ``f(done, total)`` (iterations).
    memory_limit : int or None
        Byte budget of the fit's working memory (per output column); a fit whose estimate
        exceeds it raises ``ResourceLimitError`` before anything is allocated (checked in the
        core), and so does ``patterns="exact"`` when the chambers alone exceed it. The optional
        dense stages — the face-Newton polish (a dense kk × kk Hessian, kk up to d per active
        block) and the conic endgame (Clarabel's KKT system) — get what the limit leaves after
        the estimate: a stage that does not fit is skipped (never an error; the certificate is
        unaffected) and ``result_.log`` says so. None: :func:`default_memory_limit` (3/4 of
        physical memory).
    verbose : bool
        Print the solver chain's log (one line per stage and column-generation round; also in
        ``result_.log``); with ``verbose=True`` the log also holds the interior-point method's
        per-iteration lines and phase timings.

    Attributes
    ----------
    objective_, network_objective_, dual_objective_, duality_gap_, dual_point_,
    cone_multipliers_, max_constraint_violation_, n_iter_, converged_, n_active_ (m*),
    certified_, timings_, patterns_, blocks_ (d × 2P per output), result_ (ConvexFitResult).

    Notes
    -----
    Solvers run in Rust with the GIL released, Ctrl-C aware, deterministic (results do not depend
    on the thread count: products are split in fixed column chunks). Vector outputs y (n, c) are
    fitted one-vs-all: c independent programs, i.e. a network whose hidden neurons each feed one
    output (block-diagonal second layer), with the summed objective.
    """

    _kind = "relu"

    def _forward(self, Xa: np.ndarray, z: np.ndarray) -> np.ndarray:
        P = z.shape[1] // 2
        H = np.maximum(Xa @ z, 0.0)
        return H[:, :P].sum(axis=1) - H[:, P:].sum(axis=1)

    def to_network(self) -> tuple[np.ndarray, np.ndarray]:
        """(U of shape (d, m), α of shape (m,) or (m, c)): u = v/√‖v‖, α = ±√‖v‖, zero blocks
        removed. With ``bias=True`` U has d + 1 rows (the last is each neuron's bias)."""
        self._check_fitted()
        Us, As = [], []
        c = len(self.blocks_)
        for col, z in enumerate(self.blocks_):
            P = z.shape[1] // 2
            nrm = np.linalg.norm(z, axis=0)
            for b in np.flatnonzero(nrm > 0):
                s = np.sqrt(nrm[b])
                Us.append(z[:, b] / s)
                a = np.zeros(c)
                a[col] = s if b < P else -s
                As.append(a)
        d = self.X_fit_shape_[1]
        U = np.array(Us).T if Us else np.zeros((d, 0))
        A = np.array(As) if As else np.zeros((0, c))
        return U, (A if self._vector else A[:, 0])

    def network_objective(self, X: Any, y: Any) -> float:
        """The non-convex objective of :meth:`to_network` on (X, y), same loss and scaling
        (NumPy formula; equals ``objective_`` at the optimum by Theorem 1)."""
        U, a = self.to_network()
        Y = self._targets(y, as_matrix(X).shape[0])
        yy = Y if self._vector else Y[:, 0]
        return relu_network_objective(
            X,
            yy,
            U,
            a,
            float(self.beta),
            loss=self.loss,
            scaling=self.scaling,
            bias=bool(self.bias),
            huber_delta=float(self.huber_delta),
        )


class ConvexGatedReLU(_ConvexBase):
    """Gated ReLU network h(x) = Σ_i 1[xᵀg_i > 0] xᵀw_i trained by the convex group Lasso
    min ℓ(Σ_i D_i X w_i) + β Σ_i ‖w_i‖ with fixed gates (Mishkin et al., ICML 2022).

    Same parameters and attributes as :class:`ConvexReLU`. ``solver="auto"`` (smooth losses,
    β > 0, n ≤ 4000 and n² ≤ 1000·d·P, see ``docs/solvers.md``) is ``"newton"``: projected Newton
    on the variational form
    β‖w‖ = min_{c>0} ‖w‖²/(2c) + β²c/2, which for the squared loss leaves the smooth convex
    program min_{c ≥ 0} ½ yᵀ(I + K(c))⁻¹y + (β²/2) Σ_i c_i over one scalar per pattern, with
    K(c) = Σ_i c_i D_i X Xᵀ D_i = (X Xᵀ) ⊙ (M diag(c) Mᵀ) and blocks w_i = c_i (D_i X)ᵀ(I + K)⁻¹y
    (Bertsekas' projected Newton with Levenberg–Marquardt damping; the Newton system lives on the
    nonzero c_i plus the patterns whose dual constraint fails; O(n³) per step, ~10–30 steps).
    Other smooth losses: proximal Newton on the weighted squared model of the loss around that
    solver. Every point is certified on the full program; a stalled run is finished by FISTA.
    Other smooth-loss programs with β > 0 (many samples against d·P: cheap, few FISTA
    iterations) get FISTA; with β = 0 the primal-dual interior-point method when a step is cheap
    (Σ_i n_i²·d ≤ 10⁸), else FISTA; ADMM for hinge. The dual certificate is exact for this program whatever the
    patterns. Predicting on new data needs the gates (``"exact"``, ``"sample"`` or a Chambers
    result); with a bare pattern array only the training data can be predicted.
    """

    _kind = "gated"

    def _forward(self, Xa: np.ndarray, z: np.ndarray) -> np.ndarray:
        if self.gates_ is None:
            if Xa.shape[0] != self.patterns_.shape[1]:
                raise InvalidInputError(
                    "X: the gates are unknown (patterns given as an array): only the training "
                    "data can be predicted"
                )
            M = self.patterns_.T
        else:
            M = Xa @ self.gates_.T > 0
        return np.sum(M * (Xa @ z), axis=1)

    def to_network(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(U (d, m), α (m,) or (m, c), gates (d, m) or None) of the gated network with zero
        blocks removed: u = w/√‖w‖, α = √‖w‖."""
        self._check_fitted()
        Us, As, Gs = [], [], []
        c = len(self.blocks_)
        for col, z in enumerate(self.blocks_):
            nrm = np.linalg.norm(z, axis=0)
            for b in np.flatnonzero(nrm > 0):
                s = np.sqrt(nrm[b])
                Us.append(z[:, b] / s)
                a = np.zeros(c)
                a[col] = s
                As.append(a)
                if self.gates_ is not None:
                    Gs.append(self.gates_[b])
        d = self.X_fit_shape_[1]
        U = np.array(Us).T if Us else np.zeros((d, 0))
        A = np.array(As) if As else np.zeros((0, c))
        G = (np.array(Gs).T if Gs else np.zeros((d, 0))) if self.gates_ is not None else None
        return U, (A if self._vector else A[:, 0]), G
