"""Non-convex training of two-layer ReLU networks with GD, SGD or Adam (NumPy).

This is the baseline of the Figure 5 experiment of Zeger & Pilanci: the *same* objective as the convex
reformulation (:class:`hiddenconvex.ConvexReLU`, ``scaling="sum"``), minimised directly over the
weights,

.. math::

    F(U, \\alpha) = L\\Big(\\sum_{j=1}^m (X u_j)_+ \\alpha_j,\\; y\\Big)
                  + \\frac{\\beta}{2} \\sum_{j=1}^m \\big(\\|u_j\\|_2^2 + \\alpha_j^2\\big),

with ``L(f, y) = ½‖f − y‖²`` (``loss="squared"``), ``Σ_i log(1 + exp(−y_i f_i))``
(``"logistic"``, y ∈ {−1, +1}) or ``Σ_i max(0, 1 − y_i f_i)`` (``"hinge"``). With ``bias=True``
a column of ones is appended to X, so each u_j carries its neuron's bias, which is regularised like
every other weight (as in the convex program with ``bias=True``). By Theorem 1 of Pilanci & Ergen
(ICML 2020), min F equals the optimum of the convex program once m ≥ m*, so no run can end below
the convex optimum.

Minibatch scaling: a step on the minibatch B uses the unbiased estimate of the full gradient,
``(n/|B|) Σ_{i∈B} ∇ℓ_i + β·(U, α)``, so GD (B = all samples) and SGD/Adam use the same learning-rate
scale; an *epoch* is one pass over the data (⌈n/|B|⌉ steps, samples reshuffled every epoch), and the
objective F is recorded on the full data set after every epoch (index 0 = at initialisation).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, cast

import numpy as np

from . import _core
from ._progress import progress_callback
from ._typing import Init, Optimizer, TrainingLoss
from ._validation import (
    as_float_array,
    as_matrix,
    check_allocation,
    check_bool,
    check_choice,
    check_float,
    check_int,
    resolve_seed,
)
from .exceptions import InvalidInputError, InvalidTypeError, NumericalError
from .io import Result

__all__ = [
    "ReluProblem",
    "TrainingResult",
    "default_batch_size",
    "default_lr",
    "relu_network_output",
    "relu_problem",
    "train_relu_network",
]

OPTIMIZERS: tuple[Optimizer, ...] = ("gd", "sgd", "adam")
LOSSES: tuple[TrainingLoss, ...] = ("squared", "logistic", "hinge")
INITS: tuple[Init, ...] = ("he", "small")

_ADAM_B1 = 0.9
_ADAM_B2 = 0.999
_ADAM_EPS = 1e-8


# ---------------------------------------------------------------------------------------------
# losses (sum scaling), vectorised over a leading run axis
# ---------------------------------------------------------------------------------------------
def _loss_rows(loss: str, f: np.ndarray, y: np.ndarray, grad: bool) -> tuple[Any, Any]:
    """Σ_i ℓ(f_i, y_i) over the last axis (and ∂ℓ/∂f_i), from the core's loss module."""
    f2 = np.ascontiguousarray(f, dtype=np.float64).reshape(-1, f.shape[-1])
    y2 = np.ascontiguousarray(np.broadcast_to(y, f.shape), dtype=np.float64).reshape(f2.shape)
    sums, g = _core.loss_rows(cast(Any, loss), f2, y2, grad=grad)
    return sums.reshape(f.shape[:-1]), (None if g is None else g.reshape(f.shape))


def _loss_value(loss: str, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Σ_i ℓ(f_i, y_i) over the last axis."""
    return np.asarray(_loss_rows(loss, f, y, False)[0])


def _loss_grad(loss: str, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂ℓ/∂f_i (a subgradient for the hinge: −y_i where y_i f_i < 1, else 0)."""
    return np.asarray(_loss_rows(loss, f, y, True)[1])


def _augment(X: np.ndarray, bias: bool) -> np.ndarray:
    if not bias:
        return X
    return np.hstack([X, np.ones((X.shape[0], 1))])


def relu_network_output(X: Any, U: Any, alpha: Any, *, bias: bool = False) -> np.ndarray:
    """Output ``f(x) = Σ_j (x̃ᵀu_j)₊ α_j`` of a two-layer ReLU network at the rows of ``X``.

    The network of this module, of :class:`hiddenconvex.ConvexReLU` and of
    :func:`hiddenconvex.relu_network_objective`: ``x̃ = [x, 1]`` when ``bias`` (U then has
    ``d + 1`` rows), else ``x̃ = x``; raw scores (take the sign for ±1 labels).

    Parameters
    ----------
    X : array_like, shape (n, d)
    U : array_like, shape (d or d + 1, m)
        First-layer weights, one neuron per column (``m = 0``: the zero network).
    alpha : array_like, shape (m,)
        Second-layer weights.
    bias : bool
        Whether U's last row multiplies a ones column.

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    InvalidInputError
        Shapes that do not match, NaN/inf.
    """
    Xa = _augment(as_matrix(X, "X"), check_bool(bias, "bias"))
    Uv = as_float_array(U, "U", ndim=2, allow_empty=True)
    av = as_float_array(alpha, "alpha", ndim=1, allow_empty=True)
    if Uv.shape[0] != Xa.shape[1]:
        raise InvalidInputError(
            f"X: expected {Uv.shape[0] - int(bias)} columns, got {Xa.shape[1] - int(bias)}"
        )
    if av.shape[0] != Uv.shape[1]:
        raise InvalidInputError(f"alpha: expected {Uv.shape[1]} entries, got {av.shape[0]}")
    if Uv.shape[1] == 0:
        return np.zeros(Xa.shape[0])
    return np.asarray(np.maximum(Xa @ Uv, 0.0) @ av)


# Hidden-layer entries (runs × rows × neurons) per piece of rows in the full-batch passes: 2**20
# float64 values (8 MiB), a few ms of work between two points where Python sees Ctrl-C.
_PIECE_VALUES = 1 << 20


def _rows_per_piece(runs: int, m: int) -> int:
    return max(1, _PIECE_VALUES // max(1, runs * m))


def _objective_batch(
    Xa: np.ndarray, y: np.ndarray, U: np.ndarray, a: np.ndarray, beta: float, loss: str
) -> np.ndarray:
    """F for a stack of runs: U (S, d, m), a (S, m) → (S,)."""
    n = Xa.shape[0]
    f = np.empty((U.shape[0], n))
    # the hidden layer in pieces of rows (each a few MB, so Ctrl-C is seen between them)
    for lo in range(0, n, _rows_per_piece(U.shape[0], U.shape[2])):
        hi = min(n, lo + _rows_per_piece(U.shape[0], U.shape[2]))
        H = np.maximum(Xa[lo:hi] @ U, 0.0)  # (S, rows, m)
        f[:, lo:hi] = np.einsum("snm,sm->sn", H, a)
    reg = 0.5 * beta * (np.sum(U * U, axis=(1, 2)) + np.sum(a * a, axis=1))
    return np.asarray(_loss_value(loss, f, y[None, :]) + reg)


def _gradient_batch(
    Xb: np.ndarray,
    yb: np.ndarray,
    U: np.ndarray,
    a: np.ndarray,
    beta: float,
    loss: str,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(∇_U, ∇_α) of scale·Σ_{i∈B} ℓ_i + β/2 ‖·‖² for runs stacked on axis 0.

    ``Xb`` is (n, d) shared by every run (full batch) or (S, b, d) (a minibatch per run); ``yb``
    matches it without the feature axis.
    """
    b = Xb.shape[-2]
    step = _rows_per_piece(U.shape[0], U.shape[2])
    if b > step:
        # a large batch in pieces of rows (bounded memory, Ctrl-C seen between pieces): the
        # predictions first, then the gradient's sums piece by piece
        f = np.empty((U.shape[0], b))
        for lo in range(0, b, step):
            Xp = Xb[..., lo : lo + step, :]
            f[:, lo : lo + step] = np.einsum("sbm,sm->sb", np.maximum(Xp @ U, 0.0), a)
        g = scale * _loss_grad(loss, f, yb if yb.ndim == 2 else yb[None, :])  # (S, b)
        grad_a = beta * a
        grad_U = beta * U
        for lo in range(0, b, step):
            Xp = Xb[..., lo : lo + step, :]
            Z = Xp @ U
            gp = g[:, lo : lo + step]
            grad_a = grad_a + np.einsum("sbm,sb->sm", np.maximum(Z, 0.0), gp)
            GZ = (Z > 0.0) * (gp[:, :, None] * a[:, None, :])
            sub = "bd,sbm->sdm" if Xb.ndim == 2 else "sbd,sbm->sdm"
            grad_U = grad_U + np.einsum(sub, Xp, GZ)
        return grad_U, grad_a
    Z = Xb @ U  # (S, b, m)
    H = np.maximum(Z, 0.0)
    f = np.einsum("sbm,sm->sb", H, a)
    g = scale * _loss_grad(loss, f, yb if yb.ndim == 2 else yb[None, :])  # (S, b)
    grad_a = np.einsum("sbm,sb->sm", H, g) + beta * a
    GZ = (Z > 0.0) * (g[:, :, None] * a[:, None, :])
    if Xb.ndim == 2:
        grad_U = np.einsum("bd,sbm->sdm", Xb, GZ)
    else:
        grad_U = np.einsum("sbd,sbm->sdm", Xb, GZ)
    return grad_U + beta * U, grad_a


def _check_problem(
    X: Any, y: Any, beta: Any, loss: Any, bias: Any
) -> tuple[np.ndarray, np.ndarray, float, TrainingLoss]:
    Xv = as_matrix(X, "X")
    yv = as_float_array(y, "y", ndim=(1, 2))
    if yv.ndim == 2:
        if yv.shape[1] != 1:
            raise InvalidInputError(
                f"y: expected a vector of length {Xv.shape[0]} (scalar output), got shape {yv.shape}"
            )
        yv = yv[:, 0].copy()
    if yv.shape[0] != Xv.shape[0]:
        raise InvalidInputError(f"y: expected length {Xv.shape[0]} (rows of X), got {yv.shape[0]}")
    beta_v = check_float(beta, "beta", minimum=0.0)
    loss_v = check_choice(loss, "loss", LOSSES)
    if not isinstance(bias, (bool, np.bool_)):
        raise InvalidTypeError(f"bias: expected a bool, got {type(bias).__name__}")
    if loss_v != "squared" and not np.all(np.isin(yv, (-1.0, 1.0))):
        raise InvalidInputError(f"y: the {loss_v} loss needs labels in {{-1, +1}}")
    return _augment(Xv, bool(bias)), yv, beta_v, loss_v


@dataclasses.dataclass(frozen=True)
class ReluProblem:
    """A validated two-layer ReLU training problem: the data and the objective F of this module.

    Built by :func:`relu_problem`. ``X`` already carries the ones column when ``bias`` is true
    (so U has ``X.shape[1]`` rows); ``y`` is a vector (±1 labels for the logistic/hinge loss).
    Its methods are the trainer's API for code that trains many networks on one problem, such as
    :func:`hiddenconvex.compare_convex_nonconvex`.
    """

    X: np.ndarray
    y: np.ndarray
    beta: float
    loss: TrainingLoss
    bias: bool

    def objectives(self, U: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """F at a stack of networks: U of shape (S, d, m), α of shape (S, m) → (S,)."""
        return _objective_batch(self.X, self.y, U, alpha, self.beta, self.loss)

    def train(
        self,
        m: int,
        *,
        seeds: list[int],
        optimizer: Optimizer = "gd",
        lr: float | None = None,
        epochs: int = 1000,
        batch_size: int | None = None,
        init: Init | tuple[Any, Any] | list[Any] = "he",
        progress: Any = None,
        desc: str | None = None,
        line_search: bool | None = None,
    ) -> list[TrainingResult]:
        """Train one network of width ``m`` per seed, all at once (stacked arrays).

        Run k equals ``train_relu_network(X, y, m, beta, ..., seed=seeds[k])`` with this
        problem's data, loss and bias. Options as in :func:`train_relu_network`; ``desc`` labels
        the progress bar. ``line_search`` (full-batch GD only) defaults, as there, to Armijo
        backtracking when ``lr`` is not given.
        """
        opt = check_choice(optimizer, "optimizer", OPTIMIZERS)
        n, d = self.X.shape
        m_v = check_int(m, "m", minimum=1)
        if lr is None:
            Xraw = self.X[:, :-1] if self.bias else self.X
            lr_v = default_lr(opt, Xraw, bias=self.bias, loss=self.loss)
        else:
            lr_v = check_float(lr, "lr", minimum=0.0, strict_minimum=True)
        if batch_size is None:
            bs = default_batch_size(opt, n)
        else:
            bs = check_int(batch_size, "batch_size", minimum=1)
            if opt == "gd" and bs != n:
                raise InvalidInputError(f"batch_size: gradient descent uses the full batch ({n})")
            bs = min(bs, n)
        seeds_v = [check_int(s, "seeds", minimum=0) for s in seeds]
        if not seeds_v:
            raise InvalidInputError("seeds: must not be empty")
        return _train_runs(
            self.X,
            self.y,
            m_v,
            self.beta,
            optimizer=opt,
            lr=lr_v,
            epochs=check_int(epochs, "epochs", minimum=1),
            batch_size=bs,
            seeds=seeds_v,
            loss=self.loss,
            init=_check_init(init, d, m_v),
            bias=self.bias,
            progress=progress,
            desc=desc if desc is not None else f"{opt} m={m_v}",
            line_search=(opt == "gd" and lr is None)
            if line_search is None
            else check_bool(line_search, "line_search"),
        )


def relu_problem(
    X: Any, y: Any, beta: float, *, loss: TrainingLoss = "squared", bias: bool = False
) -> ReluProblem:
    """Validate a two-layer ReLU training problem once (see :class:`ReluProblem`).

    Raises
    ------
    InvalidInputError
        Bad shapes, NaN/inf, β < 0, an unknown loss, labels outside {−1, +1} for the
        logistic/hinge loss.
    InvalidTypeError
        ``bias`` not a bool.
    """
    Xa, yv, beta_v, loss_v = _check_problem(X, y, beta, loss, bias)
    return ReluProblem(X=Xa, y=yv, beta=beta_v, loss=loss_v, bias=bool(bias))


@dataclasses.dataclass(repr=False)
class TrainingResult(Result):
    """One non-convex training run of a two-layer ReLU network.

    Attributes
    ----------
    objective : ndarray (epochs + 1,)
        Full-batch objective F after each epoch (index 0: at initialisation).
    times : ndarray (epochs + 1,)
        Wall-clock seconds since the start, at each record (when several runs are trained together
        by :func:`hiddenconvex.compare_convex_nonconvex`, the batch time divided by the run count).
    U : ndarray (d, m) or (d + 1, m)
        Final first-layer weights, one column per neuron (last row = biases when ``bias``).
    alpha : ndarray (m,)
        Final second-layer weights.
    grad_norm : float
        ‖∇F‖₂ at the final weights (full batch; a subgradient for the hinge loss).
    seed : int
        The seed used (initialisation and minibatch order); rerunning with it reproduces the run.
    """

    objective: np.ndarray
    times: np.ndarray
    U: np.ndarray
    alpha: np.ndarray
    grad_norm: float
    seed: int
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    steps: int
    m: int
    beta: float
    loss: str
    bias: bool
    init: str
    n_samples: int
    time_s: float
    line_search: bool = False

    @property
    def final_objective(self) -> float:
        """F at the end of training."""
        return float(self.objective[-1])

    @property
    def best_objective(self) -> float:
        """The smallest recorded F."""
        return float(np.min(self.objective))

    def predict(self, X: Any) -> np.ndarray:
        """Network output Σ_j (X u_j)₊ α_j (raw scores; take the sign for ±1 labels); see
        :func:`relu_network_output`."""
        return relu_network_output(X, self.U, self.alpha, bias=self.bias)

    def summary(self) -> str:
        bs = "full batch" if self.batch_size == self.n_samples else f"batch {self.batch_size}"
        return "\n".join(
            [
                f"two-layer ReLU network, m = {self.m}, trained by {self.optimizer} "
                f"(lr = {self.lr:.3g}, {bs}, {self.epochs} epochs = {self.steps} steps, "
                f"seed {self.seed})",
                f"objective (sum scaling, {self.loss} loss, beta = {self.beta:g}): "
                f"{self.objective[0]:.6g} -> {self.final_objective:.6g}  "
                f"(||grad|| = {self.grad_norm:.2e})",
                f"time: {self.time_s:.3f} s",
            ]
        )


def default_batch_size(optimizer: Optimizer, n: int) -> int:
    """The batch size used when ``batch_size=None``: all ``n`` samples for GD, else min(n, 32)."""
    return n if optimizer == "gd" else min(n, 32)


_default_batch_size = default_batch_size


def default_lr(
    optimizer: Optimizer, X: Any, *, bias: bool = False, loss: TrainingLoss = "squared"
) -> float:
    """The learning rate used when ``lr=None``.

    GD: ``0.25 / ‖X̃‖₂²``, SGD: ``0.125 / ‖X̃‖₂²`` (X̃ = X with the bias column if any; ×4 for the
    logistic loss, whose curvature is ≤ ¼ that of the squared loss). These are stable, with the
    unbiased minibatch scaling, for weights of the size the optimum has at unit-scale data (they
    were chosen by measurement on the standardised data sets of :mod:`hiddenconvex.datasets`).
    Adam: ``1e-2`` (its step does not depend on the gradient's scale).
    """
    opt = check_choice(optimizer, "optimizer", OPTIMIZERS)
    if opt == "adam":
        return 1e-2
    Xa = _augment(as_matrix(X, "X"), bias)
    s = float(np.linalg.norm(Xa, 2)) ** 2
    c = 0.25 if opt == "gd" else 0.125
    if loss == "logistic":
        c *= 4.0
    return c / max(s, 1e-300)


#: Most halvings of the backtracking line search in one step (2^-60 of the trial step).
LS_MAX_HALVINGS = 60


def _armijo_step(
    Xa: np.ndarray,
    y: np.ndarray,
    U: np.ndarray,
    a: np.ndarray,
    gU: np.ndarray,
    ga: np.ndarray,
    F: np.ndarray,
    step: np.ndarray,
    beta: float,
    loss: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One backtracking GD step per run (vectorised over runs); see :func:`_train_runs`."""
    g2 = np.sum(gU * gU, axis=(1, 2)) + np.sum(ga * ga, axis=1)
    done = g2 == 0.0
    t = np.where(done, step, 2.0 * step)
    newU, newa, newF = U.copy(), a.copy(), F.copy()
    for _ in range(LS_MAX_HALVINGS):
        todo = np.flatnonzero(~done)
        if todo.size == 0:
            break
        Ut = U[todo] - t[todo, None, None] * gU[todo]
        at = a[todo] - t[todo, None] * ga[todo]
        Ft = _objective_batch(Xa, y, Ut, at, beta, loss)
        ok = np.isfinite(Ft) & (Ft <= F[todo] - 0.5 * t[todo] * g2[todo])
        acc = todo[ok]
        newU[acc], newa[acc], newF[acc] = Ut[ok], at[ok], Ft[ok]
        done[acc] = True
        t[todo[~ok]] *= 0.5
    # runs that found no decrease keep their point and restart from the last accepted step
    t = np.where(done, t, step)
    return newU, newa, newF, t


def _init_weights(
    rng: np.random.Generator, d: int, m: int, init: str
) -> tuple[np.ndarray, np.ndarray]:
    if init == "he":
        U = rng.standard_normal((d, m)) * np.sqrt(2.0 / d)
        a = rng.standard_normal(m) / np.sqrt(m)
    else:  # "small"
        U = rng.standard_normal((d, m)) * 1e-3
        a = rng.standard_normal(m) * 1e-3
    return U, a


def _train_runs(
    Xa: np.ndarray,
    y: np.ndarray,
    m: int,
    beta: float,
    *,
    optimizer: str,
    lr: float,
    epochs: int,
    batch_size: int,
    seeds: list[int],
    loss: str,
    init: Any,
    bias: bool = False,
    progress: Any = None,
    desc: str = "training",
    line_search: bool = False,
) -> list[TrainingResult]:
    """Train ``len(seeds)`` runs at once (stacked on a leading axis; each run has its own
    generator ``default_rng(seed)``: initialisation first, then one permutation per epoch), so run
    k equals ``train_relu_network(..., seed=seeds[k])``.

    ``line_search`` (full-batch GD only): each run's step starts at twice its last accepted step
    (``lr`` at first) and is halved until the Armijo condition
    F(w − t∇F) ≤ F(w) − ½ t ‖∇F‖² holds (at most :data:`LS_MAX_HALVINGS` times; a run that finds
    no decrease keeps its point), so F never increases and GD cannot diverge."""
    n, d = Xa.shape
    S = len(seeds)
    rngs = [np.random.default_rng(s) for s in seeds]
    if isinstance(init, str):
        pairs = [_init_weights(r, d, m, init) for r in rngs]
        U = np.stack([p[0] for p in pairs])
        a = np.stack([p[1] for p in pairs])
        init_name = init
    else:
        U0, a0 = init
        U = np.repeat(U0[None], S, axis=0)
        a = np.repeat(a0[None], S, axis=0)
        init_name = "given"
    obj = np.empty((S, epochs + 1))
    times = np.empty(epochs + 1)
    steps = 0
    adam = optimizer == "adam"
    if adam:
        mU = np.zeros_like(U)
        vU = np.zeros_like(U)
        ma = np.zeros_like(a)
        va = np.zeros_like(a)
    full = batch_size >= n
    t0 = time.perf_counter()
    obj[:, 0] = _objective_batch(Xa, y, U, a, beta, loss)
    times[0] = 0.0
    ls = bool(line_search) and full and not adam
    step = np.full(S, float(lr))
    F = obj[:, 0].copy()
    with (
        progress_callback(progress, desc, unit="epoch") as cb,
        np.errstate(over="ignore", invalid="ignore"),  # divergence is detected below
    ):
        for ep in range(1, epochs + 1):
            if full:
                batches: list[Any] = [None]
            else:
                perms = np.stack([r.permutation(n) for r in rngs])
                batches = [perms[:, k : k + batch_size] for k in range(0, n, batch_size)]
            for idx in batches:
                if idx is None:
                    gU, ga = _gradient_batch(Xa, y, U, a, beta, loss, 1.0)
                else:
                    gU, ga = _gradient_batch(Xa[idx], y[idx], U, a, beta, loss, n / idx.shape[1])
                steps += 1
                if ls:
                    U, a, F, step = _armijo_step(Xa, y, U, a, gU, ga, F, step, beta, loss)
                elif adam:
                    mU = _ADAM_B1 * mU + (1 - _ADAM_B1) * gU
                    vU = _ADAM_B2 * vU + (1 - _ADAM_B2) * gU * gU
                    ma = _ADAM_B1 * ma + (1 - _ADAM_B1) * ga
                    va = _ADAM_B2 * va + (1 - _ADAM_B2) * ga * ga
                    c1 = 1.0 - _ADAM_B1**steps
                    c2 = 1.0 - _ADAM_B2**steps
                    U = U - lr * (mU / c1) / (np.sqrt(vU / c2) + _ADAM_EPS)
                    a = a - lr * (ma / c1) / (np.sqrt(va / c2) + _ADAM_EPS)
                else:
                    U = U - lr * gU
                    a = a - lr * ga
            obj[:, ep] = F if ls else _objective_batch(Xa, y, U, a, beta, loss)
            times[ep] = (time.perf_counter() - t0) / S
            bad = ~np.isfinite(obj[:, ep])
            if np.any(bad):
                k = int(np.argmax(bad))
                raise NumericalError(
                    f"training diverged (objective not finite at epoch {ep}, seed {seeds[k]}, "
                    f"{optimizer}, lr = {lr:.3g}): lower lr"
                )
            if cb is not None:
                cb(ep, epochs)
    gU, ga = _gradient_batch(Xa, y, U, a, beta, loss, 1.0)
    gnorm = np.sqrt(np.sum(gU * gU, axis=(1, 2)) + np.sum(ga * ga, axis=1))
    total = (time.perf_counter() - t0) / S
    return [
        TrainingResult(
            objective=obj[k].copy(),
            times=times.copy(),
            U=U[k].copy(),
            alpha=a[k].copy(),
            grad_norm=float(gnorm[k]),
            seed=int(seeds[k]),
            optimizer=optimizer,
            lr=float(lr),
            epochs=int(epochs),
            batch_size=int(min(batch_size, n)),
            steps=int(steps),
            m=int(m),
            beta=float(beta),
            loss=loss,
            bias=bool(bias),
            init=init_name,
            n_samples=int(n),
            time_s=float(total),
            line_search=ls,
        )
        for k in range(S)
    ]


def training_memory_estimate(n: int, d: int, m: int, epochs: int, runs: int = 1) -> int:
    """Bytes held while training ``runs`` networks of width m on n × d data for ``epochs``: the
    weights, Adam moments and gradients (~8 (d + 1) m per run), the hidden activations and their
    masks (~4 n m per run) and the objective curves (epochs + 1 per run)."""
    return 8 * runs * (8 * (d + 1) * m + 4 * n * m + (epochs + 1)) + 8 * (epochs + 1)


def check_training_memory(n: int, d: int, m: int, epochs: int, runs: int = 1) -> None:
    """Refuse (ResourceLimitError) a training run whose arrays exceed the memory budget."""
    check_allocation(
        training_memory_estimate(n, d, m, epochs, runs),
        f"training {runs} network(s) of width m = {m} for epochs = {epochs} on {n} x {d} data",
        hint="lower m or epochs",
    )


def _check_training(
    X: Any,
    y: Any,
    m: Any,
    beta: Any,
    optimizer: Any,
    lr: Any,
    epochs: Any,
    batch_size: Any,
    bias: Any,
    loss: Any,
    init: Any,
) -> tuple[np.ndarray, np.ndarray, int, float, Optimizer, float, int, int, TrainingLoss, Any]:
    Xa, yv, beta_v, loss_v = _check_problem(X, y, beta, loss, bias)
    n, d = Xa.shape
    m_v = check_int(m, "m", minimum=1)
    opt = check_choice(optimizer, "optimizer", OPTIMIZERS)
    epochs_v = check_int(epochs, "epochs", minimum=1)
    check_training_memory(n, d, m_v, epochs_v)
    if batch_size is None:
        bs = _default_batch_size(opt, n)
    else:
        bs = check_int(batch_size, "batch_size", minimum=1)
        if opt == "gd" and bs != n:
            raise InvalidInputError(
                f"batch_size: gradient descent uses the full batch ({n}); got {bs} "
                "(use optimizer='sgd' for minibatches)"
            )
        bs = min(bs, n)
    if lr is None:
        lr_v = default_lr(opt, X, bias=bool(bias), loss=loss_v)
    else:
        lr_v = check_float(lr, "lr", minimum=0.0, strict_minimum=True)
    init_v = _check_init(init, d, m_v)
    return Xa, yv, m_v, beta_v, opt, lr_v, epochs_v, bs, loss_v, init_v


def _check_init(init: Any, d: int, m: int) -> Any:
    """``"he"``, ``"small"`` or a pair (U (d, m), α (m,))."""
    if isinstance(init, str):
        return check_choice(init, "init", INITS)
    if isinstance(init, (tuple, list)) and len(init) == 2:
        U0 = as_float_array(init[0], "init[0] (U)", ndim=2)
        a0 = as_float_array(init[1], "init[1] (alpha)", ndim=1)
        if U0.shape != (d, m) or a0.shape != (m,):
            raise InvalidInputError(
                f"init: expected (U, alpha) of shapes ({d}, {m}) and ({m},), "
                f"got {U0.shape} and {a0.shape}"
            )
        return (U0, a0)
    raise InvalidTypeError(
        f"init: expected one of 'he', 'small' or a pair (U, alpha), got {type(init).__name__}"
    )


def train_relu_network(
    X: Any,
    y: Any,
    m: int,
    beta: float,
    *,
    optimizer: Optimizer = "gd",
    lr: float | None = None,
    epochs: int = 1000,
    batch_size: int | None = None,
    seed: int | None = None,
    bias: bool = False,
    loss: TrainingLoss = "squared",
    init: Init | tuple[Any, Any] | list[Any] = "he",
    progress: Any = None,
) -> TrainingResult:
    """Train a two-layer ReLU network of width ``m`` by GD, SGD or Adam on the non-convex objective.

    Minimises, over U = [u_1 … u_m] and α,

        F(U, α) = L(Σ_j (X u_j)₊ α_j, y) + (β/2) Σ_j (‖u_j‖² + α_j²)

    — exactly the objective of :class:`hiddenconvex.ConvexReLU` with ``scaling="sum"``
    (and of :func:`hiddenconvex.relu_network_objective`) (the paper's
    ½‖·‖² for the squared loss, *not* pyscnn's 1/(2n)), so the two optima can be compared number
    for number.

    Parameters
    ----------
    X : array_like (n, d)
        Data (float64 after coercion; NaN/inf rejected).
    y : array_like (n,)
        Targets (real for ``"squared"``, labels in {−1, +1} for ``"logistic"``/``"hinge"``).
    m : int
        Width (number of hidden ReLU neurons), ≥ 1.
    beta : float
        Weight-decay strength β ≥ 0.
    optimizer : {"gd", "sgd", "adam"}
        Full-batch gradient descent, minibatch SGD (no momentum) or Adam (β₁ = 0.9, β₂ = 0.999,
        ε = 1e-8, bias-corrected; the weight decay is part of the gradient, i.e. L2, not AdamW).
    lr : float, optional
        Step size; default :func:`hiddenconvex.nonconvex.default_lr` (``0.25/‖X̃‖₂²`` for GD, ``0.125/‖X̃‖₂²`` for SGD,
        ``1e-2`` for Adam). With the default, GD backtracks (Armijo): each step starts at twice
        the last accepted one and is halved until F(w − t∇F) ≤ F(w) − ½t‖∇F‖², so F never
        increases and GD cannot diverge (the curvature grows with the width m, which a fixed
        step cannot know); ``TrainingResult.line_search`` is then True and ``lr`` the first
        trial step. A given ``lr`` is used as a fixed step.
    epochs : int
        Passes over the data; F is recorded on the full data after each.
    batch_size : int, optional
        Minibatch size for SGD/Adam (default ``min(n, 32)``; GD always uses all n samples). A step
        on a minibatch B uses the unbiased gradient estimate ``(n/|B|) Σ_{i∈B} ∇ℓ_i + β·(U, α)``,
        so the learning rate means the same for every batch size and one epoch (⌈n/|B|⌉ steps)
        is one data pass.
    seed : int, optional
        Seeds ``numpy.random.default_rng(seed)``, used first for the initialisation, then for one
        permutation of the samples per epoch. ``None`` draws a seed, recorded in the result.
    bias : bool
        Append a column of ones to X (each neuron's bias, regularised like the other weights).
    loss : {"squared", "logistic", "hinge"}
        ``½‖f − y‖²``, ``Σ log(1 + exp(−y f))`` or ``Σ max(0, 1 − y f)`` (subgradient).
    init : {"he", "small"} or (U0, alpha0)
        ``"he"``: u_j ~ N(0, 2/d̃ I), α_j ~ N(0, 1/m); ``"small"``: both N(0, 10⁻⁶); or given arrays
        of shapes (d̃, m) and (m,).
    progress : bool or callable, optional
        A tqdm bar over epochs (``True``) or a callback ``f(done, total)``.

    Returns
    -------
    TrainingResult
        The objective curve, the final U and α, the seed, timings; ``predict(X)``.

    Raises
    ------
    InvalidInputError
        Bad shapes, NaN/inf, β < 0, m < 1, lr ≤ 0, an unknown optimizer/loss/init, a batch size
        with GD, labels outside {−1, +1} for the logistic/hinge loss.
    NumericalError
        When the objective becomes non-finite (the step size is too large).

    Notes
    -----
    Pure NumPy, single-threaded apart from BLAS. The forward pass costs O(n d m) per epoch.
    """
    Xa, yv, m_v, beta_v, opt, lr_v, ep, bs, loss_v, init_v = _check_training(
        X, y, m, beta, optimizer, lr, epochs, batch_size, bias, loss, init
    )
    s = resolve_seed(seed)
    (res,) = _train_runs(
        Xa,
        yv,
        m_v,
        beta_v,
        optimizer=opt,
        lr=lr_v,
        epochs=ep,
        batch_size=bs,
        seeds=[s],
        loss=loss_v,
        init=init_v,
        bias=bool(bias),
        progress=progress,
        desc=f"{opt} m={m_v}",
        line_search=lr is None and opt == "gd",
    )
    return res
