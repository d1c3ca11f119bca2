"""Convex vs non-convex training of two-layer ReLU networks (Figure 5 of Zeger & Pilanci, as functions).

:func:`compare_convex_nonconvex` solves the convex reformulation once (:class:`~hiddenconvex.ConvexReLU`,
exact activation patterns when they can be enumerated) and trains many GD/SGD/Adam runs of the
*same* objective (:func:`~hiddenconvex.train_relu_network`, sum scaling) at several widths, then
reports where every run ended relative to the convex optimum p*. With exact patterns and a duality
gap within tolerance p* is the certified global minimum of the non-convex problem, so no run can end
below ``p* − tol`` (``tol`` = max(duality gap, 1e-6·|p*|)); runs ending above are stuck at
a worse stationary point or not yet converged (their final gradient norm says which).

:func:`compare_on_data` does the held-out version on a train/test split (training objective,
test accuracy or MSE, time), and :func:`realdata_suite` runs it on the built-in and scikit-learn
data sets (what ``hiddenconvex bench`` and ``hiddenconvex report`` print).
"""

from __future__ import annotations

import dataclasses
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._typing import ComparePatterns, ConvexSolver, Init, Optimizer, TrainingLoss
from ._validation import (
    as_matrix,
    check_allocation,
    check_choice,
    check_float,
    check_int,
    data_fingerprint,
    resolve_seed,
)
from .exceptions import (
    ConvergenceWarning,
    InvalidInputError,
    InvalidTypeError,
    ResourceLimitError,
)
from .io import Result
from .nonconvex import (
    OPTIMIZERS,
    ReluProblem,
    check_training_memory,
    default_batch_size,
    default_lr,
    relu_network_output,
    relu_problem,
)
from .plot import save_figure

__all__ = [
    "ComparisonResult",
    "DataComparison",
    "SuiteResult",
    "compare_convex_nonconvex",
    "compare_on_data",
    "realdata_suite",
]

CERT_RTOL = 1e-5
"""Exact patterns and a duality gap ≤ CERT_RTOL·|p*| (or the estimator's own ``certified_``)
certify the global optimum."""

_WIDTH_RE = re.compile(r"^\s*(\d*\.?\d*)\s*\*?\s*m\*\s*$")


# ---------------------------------------------------------------------------------------------
# the convex side
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _ConvexSide:
    objective: float
    gap: float
    m_star: int
    certified: bool
    patterns: str  # "exact" or "sampled"
    n_patterns: int
    label: str
    U: np.ndarray
    alpha: np.ndarray
    time_s: float
    note: str


def _n_patterns_of(model: Any) -> int:
    res = getattr(model, "result_", None)
    if res is not None and getattr(res, "n_patterns", None):
        return int(res.n_patterns)
    for name in ("n_patterns_", "patterns_"):
        v = getattr(model, name, None)
        if isinstance(v, (int, np.integer)) and v > 0:
            return int(v)
        if isinstance(v, np.ndarray) and v.ndim == 2:
            return int(v.shape[0])
    return 0


#: Relative agreement required between a duck-typed pre-fitted model's objective_ and the
#: objective of its network on the comparison's data (Theorem 1: they are equal at the optimum).
PREFIT_RTOL = 1e-5


def _check_prefitted(
    model: Any, X: np.ndarray, y: np.ndarray, beta: float, *, loss: TrainingLoss, bias: bool
) -> None:
    """Refuse a pre-fitted ``convex=`` model that did not solve this comparison's problem.

    A :class:`~hiddenconvex.ConvexReLU` is checked exactly: β, loss, scaling, bias and a
    fingerprint of the (X, y) it was fitted on. Another object must offer the estimator protocol
    (``objective_``, ``n_active_``, ``to_network()``); its ``beta``/``loss``/``bias``/``scaling``
    attributes are checked when present, and its network must attain ``objective_`` on this data
    (within :data:`PREFIT_RTOL`), which a model fitted on other data does not."""
    from .convex import ConvexGatedReLU, ConvexReLU

    if (
        isinstance(model, ConvexGatedReLU)
        or not (hasattr(type(model), "fit") or hasattr(model, "objective_"))
        or not callable(getattr(model, "to_network", None))
    ):
        raise InvalidTypeError(
            "convex: expected a fitted hiddenconvex.ConvexReLU (or an object with objective_, "
            f"n_active_ and to_network()), got {type(model).__name__}"
        )
    if not hasattr(model, "objective_") or not hasattr(model, "n_active_"):
        raise InvalidInputError(
            f"convex: the {type(model).__name__} is not fitted (call fit(X, y) first)"
        )
    res = getattr(model, "result_", None)
    m_beta = getattr(res, "beta", getattr(model, "beta", beta))
    m_loss = getattr(res, "loss", getattr(model, "loss", loss))
    m_scaling = getattr(res, "scaling", getattr(model, "scaling", "sum"))
    diffs = []
    if float(m_beta) != float(beta):
        diffs.append(f"beta (model {float(m_beta)!r}, comparison {float(beta)!r})")
    if m_loss != loss:
        diffs.append(f"loss (model {m_loss!r}, comparison {loss!r})")
    if m_scaling != "sum":
        diffs.append(f"scaling (model {m_scaling!r}, the comparison uses 'sum')")
    prob = relu_problem(X, y, beta, loss=loss, bias=bias)
    Xa = prob.X
    m_bias = bool(getattr(model, "bias", bias))
    fit_shape = tuple(getattr(model, "X_fit_shape_", ()))
    if m_bias != bool(bias) or (fit_shape and fit_shape[1] != Xa.shape[1]):
        diffs.append(f"bias (model {m_bias}, comparison {bool(bias)})")
    if not diffs and isinstance(model, ConvexReLU):
        if model.data_fingerprint_ != data_fingerprint(Xa, y.reshape(-1, 1)):
            if fit_shape != Xa.shape:
                diffs.append(f"X (model fitted on shape {fit_shape}, comparison {Xa.shape})")
            else:
                diffs.append("X or y (the model was fitted on other data)")
    elif not diffs:
        U, alpha = model.to_network()[:2]
        U = np.asarray(U, dtype=np.float64)
        alpha = np.asarray(alpha, dtype=np.float64).reshape(-1)
        if U.ndim != 2 or U.shape[0] != Xa.shape[1]:
            diffs.append(f"X (the model's network takes {U.shape[0]} inputs, X has {Xa.shape[1]})")
        else:
            p = float(model.objective_)
            q = float(prob.objectives(U[None], alpha[None])[0])
            if not abs(q - p) <= PREFIT_RTOL * max(1.0, abs(p)):
                diffs.append(
                    f"X or y (its network's objective on this data is {q:.6g}, its objective_ "
                    f"{p:.6g})"
                )
    if diffs:
        raise InvalidInputError(
            "convex: the given model was fitted on another problem; it differs in "
            + "; ".join(diffs)
            + ". Refit it on this X, y (or pass convex=None)"
        )


def _solve_convex(
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    *,
    loss: TrainingLoss,
    bias: bool,
    patterns: str,
    n_patterns: int,
    max_exact_patterns: int,
    seed: int,
    convex: Any,
    progress: Any,
    solver: str = "auto",
    max_iter: int | None = None,
    tol: float | None = None,
) -> _ConvexSide:
    from . import convex as _convex

    note = ""
    model = convex
    t0 = time.perf_counter()
    kind = patterns
    if model is None:
        if patterns == "exact" or patterns == "auto":
            from .chambers import cover_count

            Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X
            n, r = X.shape[0], int(np.linalg.matrix_rank(Xa))
            bound = int(cover_count(n, r))
            if bound > max_exact_patterns:
                if patterns == "exact":
                    raise ResourceLimitError(
                        f"patterns: exact enumeration would give up to {bound} activation "
                        f"patterns (Cover's count for n={n} points of rank {r}), more than "
                        f"max_exact_patterns={max_exact_patterns}; use patterns='sample' or 'auto'"
                        ", or reduce the rank (PCA)"
                    )
                kind = "sample"
                note = (
                    f"exact enumeration skipped (up to {bound} patterns > "
                    f"max_exact_patterns={max_exact_patterns}); {n_patterns} sampled patterns"
                )
            else:
                kind = "exact"
        extra: dict[str, Any] = {} if max_iter is None else {"max_iter": max_iter}
        if tol is not None:
            extra["tol"] = tol
        est = _convex.ConvexReLU(
            beta,
            loss=loss,
            patterns=kind,
            n_patterns=n_patterns if kind == "sample" else None,
            bias=bias,
            solver=solver,
            seed=seed,
            progress=progress,
            **extra,
        )
        # a ConvergenceWarning is not lost: it goes into the result's note and label
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = est.fit(X, y)
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                msg = str(w.message).split(". Raise")[0]
                note = f"{note}; {msg}" if note else msg
            else:  # pragma: no cover - other warnings pass through
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    else:
        _check_prefitted(model, X, y, beta, loss=loss, bias=bias)
        pk = getattr(model, "patterns", "exact")
        kind = pk if isinstance(pk, str) else "exact"
        if not isinstance(pk, str):
            res = getattr(model, "result_", None)
            kind = "exact" if getattr(res, "patterns_exact", True) else "sample"
    elapsed = time.perf_counter() - t0
    objective = float(model.objective_)
    gap = float(getattr(model, "duality_gap_", np.nan))
    m_star = int(model.n_active_)
    U, alpha = model.to_network()
    U = np.asarray(U, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64).reshape(-1)
    flag = getattr(model, "certified_", None)
    if isinstance(flag, (bool, np.bool_)):
        certified = kind == "exact" and bool(flag)
    else:
        certified = (
            kind == "exact" and np.isfinite(gap) and gap <= max(CERT_RTOL * abs(objective), 1e-10)
        )
    if kind == "exact":
        label = (
            "convex optimum, exact patterns (certified global optimum)"
            if certified
            else f"convex optimum, exact patterns (duality gap {gap:.1e}: not certified)"
        )
    else:
        label = "convex program on sampled patterns (upper bound, not certified)"
    return _ConvexSide(
        objective=objective,
        gap=gap,
        m_star=m_star,
        certified=bool(certified),
        patterns="exact" if kind == "exact" else "sampled",
        n_patterns=_n_patterns_of(model),
        label=label,
        U=U,
        alpha=alpha,
        time_s=float(
            elapsed if convex is None else getattr(model, "timings_", {}).get("total_s", 0.0)
        ),
        note=note,
    )


# ---------------------------------------------------------------------------------------------
# Figure 5
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(repr=False)
class ComparisonResult(Result):
    """Convex optimum vs many non-convex runs (see :func:`compare_convex_nonconvex`).

    Arrays are indexed ``[width, optimizer, seed]`` (``curves`` also by epoch, 0 = init).
    ``network_U`` (d̃, m*) and ``network_alpha`` (m*,) are the network recovered from the convex
    solution (``to_network()``); ``recovered_objective`` is its non-convex objective F.
    """

    convex_objective: float
    convex_gap: float
    convex_certified: bool
    convex_label: str
    convex_patterns: str
    convex_n_patterns: int
    convex_time_s: float
    convex_note: str
    recovered_objective: float
    m_star: int
    beta: float
    loss: str
    bias: bool
    widths: list[int]
    optimizers: list[Optimizer]
    seeds: list[int]
    lrs: dict[str, float]
    batch_sizes: dict[str, int]
    epochs: int
    tol: float
    above_rtol: float
    curves: np.ndarray
    final: np.ndarray
    grad_norms: np.ndarray
    run_times: np.ndarray
    network_U: np.ndarray
    network_alpha: np.ndarray
    stuck_gtol: float = 1e-3

    # -- derived views ------------------------------------------------------------------------
    @property
    def excess(self) -> np.ndarray:
        """final − p* for every run (W, O, S)."""
        return np.asarray(self.final - self.convex_objective)

    @property
    def above(self) -> np.ndarray:
        """Runs that ended above p* by more than ``above_rtol·|p*| + tol``."""
        thr = self.above_rtol * abs(self.convex_objective) + self.tol
        return np.asarray(self.excess > thr)

    @property
    def below(self) -> np.ndarray:
        """Runs that ended below p* − tol (impossible when p* is certified)."""
        return np.asarray(self.excess < -self.tol)

    @property
    def stuck(self) -> np.ndarray:
        """Runs above p* whose final gradient norm is ≤ ``stuck_gtol``: (near-)stationary at a
        worse point, not merely unconverged."""
        return np.asarray(self.above & (self.grad_norms <= self.stuck_gtol))

    @property
    def n_runs(self) -> int:
        return int(self.final.size)

    @property
    def fraction_above(self) -> float:
        return float(np.mean(self.above))

    @property
    def convex_below_every_run(self) -> bool:
        """Whether p* − tol ≤ every run's final objective."""
        return not bool(np.any(self.below))

    def table(self) -> list[dict[str, Any]]:
        """One row per (width, optimizer): runs above p*, median / max excess, best run."""
        rows = []
        for i, w in enumerate(self.widths):
            for j, opt in enumerate(self.optimizers):
                ex = self.excess[i, j]
                rows.append(
                    {
                        "width": int(w),
                        "optimizer": opt,
                        "runs": int(ex.size),
                        "above": int(np.sum(self.above[i, j])),
                        "stuck": int(np.sum(self.stuck[i, j])),
                        "below": int(np.sum(self.below[i, j])),
                        "best": float(np.min(self.final[i, j])),
                        "median_excess": float(np.median(ex)),
                        "max_excess": float(np.max(ex)),
                        "max_rel_excess": float(
                            np.max(ex) / max(abs(self.convex_objective), 1e-300)
                        ),
                    }
                )
        return rows

    def summary(self) -> str:
        p = self.convex_objective
        lines = [
            f"convex vs non-convex two-layer ReLU training ({self.loss} loss, beta = {self.beta:g}, "
            f"sum scaling)",
            f"  {self.convex_label}: p* = {p:.8g} (duality gap {self.convex_gap:.1e}, "
            f"{self.convex_n_patterns} patterns, m* = {self.m_star}, {self.convex_time_s:.2f} s)",
            f"  recovered network's non-convex objective: {self.recovered_objective:.8g}",
        ]
        if self.convex_note:
            lines.append(f"  note: {self.convex_note}")
        lines.append(
            f"  {self.n_runs} runs ({len(self.seeds)} seeds x widths {self.widths} x "
            f"{'/'.join(self.optimizers)}, {self.epochs} epochs): "
            f"{int(np.sum(self.above))} ended above p* (by > {self.above_rtol:g} relative), "
            f"{int(np.sum(self.below))} below p* - tol"
        )
        lines.append(
            f"  {'width':>6} {'optimizer':>9} {'above':>7} {'stuck':>6} {'best':>12} "
            f"{'median excess':>14} {'max excess':>11}"
        )
        for r in self.table():
            lines.append(
                f"  {r['width']:>6} {r['optimizer']:>9} {r['above']:>3}/{r['runs']:<3} "
                f"{r['stuck']:>6} {r['best']:>12.6g} {r['median_excess']:>14.3g} "
                f"{r['max_excess']:>11.3g}"
            )
        lines.append(
            f"  (stuck: above p* with final ||grad F|| <= {self.stuck_gtol:g}, i.e. at a worse "
            "stationary point rather than still descending)"
        )
        return "\n".join(lines)

    def plot(self, path: str | Path, *, title: str | None = None) -> Path:
        """Objective vs epochs (data passes) for every run, p* as a horizontal line, and the gap
        F − p* on a log scale. Writes a PNG and returns its path."""
        from .plot import pyplot

        plt = pyplot()
        colors = {"gd": "#1f77b4", "sgd": "#2ca02c", "adam": "#d62728"}
        styles = ["-", "--", ":", "-."]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
        ep = np.arange(self.epochs + 1)
        p = self.convex_objective
        gaps = self.curves - p
        pos = gaps[gaps > 0]
        floor = float(pos.min()) / 3 if pos.size else max(abs(p), 1e-300) * 1e-12
        handles = []
        for i, w in enumerate(self.widths):
            for j, opt in enumerate(self.optimizers):
                c = colors.get(opt, f"C{j + 3}")
                ls = styles[i % len(styles)]
                for k in range(len(self.seeds)):
                    cur = self.curves[i, j, k]
                    ax1.plot(ep, cur, color=c, ls=ls, lw=0.7, alpha=0.35)
                    gap = np.maximum(cur - p, floor)
                    ax2.plot(ep, gap, color=c, ls=ls, lw=0.7, alpha=0.35)
                med = np.median(self.curves[i, j], axis=0)
                ax1.plot(ep, med, color=c, ls=ls, lw=2.2)
                ax2.plot(ep, np.maximum(med - p, floor), color=c, ls=ls, lw=2.2)
                n_above = int(np.sum(self.above[i, j]))
                n_stuck = int(np.sum(self.stuck[i, j]))
                (h,) = ax1.plot(
                    [],
                    [],
                    color=c,
                    ls=ls,
                    lw=1.6,
                    label=f"{opt.upper() if opt != 'adam' else 'Adam'}, m = {w} "
                    f"({n_above}/{len(self.seeds)} above, {n_stuck} stuck)",
                )
                handles.append(h)
        if self.convex_certified:
            line_label = "convex optimum p* (certified global)"
        elif self.convex_patterns == "exact":
            line_label = "convex optimum p* (exact patterns, gap not certified)"
        else:
            line_label = "convex program value (sampled patterns: upper bound)"
        hl = ax1.axhline(p, color="black", ls="--", lw=1.8, label=line_label)
        ax1.set_yscale("log")
        ax1.set_xlabel("epoch (data passes)")
        ax1.set_ylabel("training objective F(U, α)")
        ax1.set_title("non-convex runs vs the convex optimum")
        ax1.legend(
            handles=[hl, *handles],
            fontsize=8,
            loc="upper right",
            framealpha=0.9,
            title="thin: one seed each · thick: median",
            title_fontsize=8,
        )
        for ax in (ax1, ax2):
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(0, self.epochs)
        ax1.grid(True, which="major", alpha=0.3)
        ax2.set_yscale("log")
        ax2.set_xlabel("epoch (data passes)")
        ax2.set_ylabel("F − p*")
        ax2.set_title("gap to the convex optimum")
        ax2.set_ylim(bottom=floor)
        ax2.grid(True, which="major", alpha=0.3)
        fig.suptitle(
            title
            or f"Two-layer ReLU, β = {self.beta:g}: {int(np.sum(self.above))}/{self.n_runs} runs "
            f"ended above p* = {p:.4g}",
            fontsize=12,
        )
        return save_figure(fig, path, dpi=130)


def _parse_widths(widths: Any, m_star: int) -> list[int]:
    if widths is None:
        widths = ["m*", "2m*"]
    if isinstance(widths, (int, np.integer, str)):
        widths = [widths]
    out = []
    for w in widths:
        if isinstance(w, str):
            mt = _WIDTH_RE.match(w)
            if mt is None:
                raise InvalidInputError(
                    f"widths: expected ints or 'm*', '2m*', ... (multiples of m*), got {w!r}"
                )
            k = float(mt.group(1)) if mt.group(1) else 1.0
            out.append(max(1, int(round(k * m_star))))
        else:
            out.append(check_int(w, "widths", minimum=1))
    return out


def _parse_seeds(seeds: Any, seed: int) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        k = check_int(seeds, "seeds", minimum=1)
        return [seed + i for i in range(k)]
    if isinstance(seeds, Sequence) and not isinstance(seeds, str) and len(seeds) > 0:
        return [check_int(s, "seeds", minimum=0, maximum=2**64 - 1) for s in seeds]
    raise InvalidTypeError(f"seeds: expected a count or a list of seeds, got {seeds!r}")


def _per_optimizer(value: Any, name: str, optimizers: Sequence[str]) -> dict[str, Any]:
    if isinstance(value, dict):
        unknown = set(value) - set(optimizers)
        if unknown:
            raise InvalidInputError(f"{name}: keys {sorted(unknown)} are not in optimizers")
        return {o: value.get(o) for o in optimizers}
    return {o: value for o in optimizers}


def compare_convex_nonconvex(
    X: Any,
    y: Any,
    beta: float,
    *,
    widths: Any = None,
    seeds: int | Sequence[int] = 10,
    optimizers: Sequence[Optimizer] = ("gd", "adam"),
    epochs: int = 2000,
    lr: float | dict[str, float] | None = None,
    batch_size: int | dict[str, int] | None = None,
    loss: TrainingLoss = "squared",
    bias: bool = False,
    patterns: ComparePatterns = "auto",
    n_patterns: int = 500,
    max_exact_patterns: int = 5000,
    init: Init = "he",
    seed: int = 0,
    above_rtol: float = 1e-3,
    stuck_gtol: float = 1e-3,
    solver: ConvexSolver = "auto",
    tol: float | None = None,
    convex: Any = None,
    progress: Any = None,
    client: Any = None,
) -> ComparisonResult:
    """The Figure 5 experiment: the convex optimum against many GD/SGD/Adam runs.

    Solves the convex reformulation (Theorem 1 of Pilanci & Ergen, ICML 2020) of

        min_{U, α} F(U, α) = L(Σ_j (X u_j)₊ α_j, y) + (β/2) Σ_j (‖u_j‖² + α_j²)   (sum scaling)

    with :class:`~hiddenconvex.ConvexReLU`, then trains ``seeds`` runs of each optimizer at each
    width with :func:`~hiddenconvex.train_relu_network` on the same F.

    Parameters
    ----------
    X, y, beta, loss, bias
        The problem, as in :func:`~hiddenconvex.train_relu_network`.
    widths : sequence of int or str, optional
        Network widths; strings ``"m*"``, ``"2m*"``, ``"1.5m*"`` are multiples of m*, the number
        of neurons of the convex solution. Default ``["m*", "2m*"]``.
    seeds : int or sequence of int
        How many runs per (width, optimizer) (seeds ``seed, seed + 1, …``), or the seeds. Run k
        with seed s equals ``train_relu_network(..., seed=s)``.
    optimizers : sequence of {"gd", "sgd", "adam"}
    epochs : int
        Data passes per run (F recorded on the full data after each).
    lr, batch_size : value or dict per optimizer, optional
        Defaults as in :func:`~hiddenconvex.train_relu_network`.
    patterns : {"auto", "exact", "sample"}
        ``"exact"`` enumerates every activation pattern (raises
        :class:`~hiddenconvex.ResourceLimitError` when Cover's bound exceeds
        ``max_exact_patterns``); ``"auto"`` falls back to ``n_patterns`` sampled patterns then,
        and says so (``convex_label``, ``convex_note``): the sampled optimum is only an upper
        bound of the global one.
    seed : int
        Seeds the pattern sampling and the first run.
    above_rtol : float
        A run "ended above" p* when final − p* > above_rtol·|p*| + tol.
    stuck_gtol : float
        A run above p* with final ‖∇F‖₂ ≤ stuck_gtol counts as *stuck* (at a worse stationary
        point) rather than unconverged.
    solver : str
        The :class:`~hiddenconvex.ConvexReLU` solver (``"auto"``, ``"admm"``, ``"al"``,
        ``"cvxpy"``).
    tol : float, optional
        The convex solver's certified gap tolerance, relative to max(1, |objective|) (default:
        :class:`~hiddenconvex.ConvexReLU`'s). Tiny objectives (as in the toy problem, p* ≈ 7e-4)
        want a smaller one for a relative certificate.
    convex : fitted ConvexReLU, optional
        Reuse an already fitted estimator (same X, y, β, loss, bias) instead of solving again.
    progress : bool or callable, optional
        tqdm bars (``True``) for the convex solve and each batch of runs.
    client : dask.distributed.Client, optional
        Train the (width, optimizer) batches of runs on a Dask cluster's workers (see
        :mod:`hiddenconvex.distributed`); the convex solve runs here. Identical results.

    Returns
    -------
    ComparisonResult
        Curves, final objectives, gradient norms and times of every run; p*, its certificate and
        m*; ``summary()``, ``table()``, ``plot(path)``.

    Raises
    ------
    InvalidInputError
        Bad inputs (see :func:`~hiddenconvex.train_relu_network`), unknown widths or optimizers.
    ResourceLimitError
        ``patterns="exact"`` with more than ``max_exact_patterns`` patterns.
    """
    Xm = as_matrix(X, "X")
    prob = relu_problem(Xm, y, beta, loss=loss, bias=bias)
    Xa, yv, beta_v, loss_v = prob.X, prob.y, prob.beta, prob.loss
    n = Xa.shape[0]
    opts = [check_choice(o, "optimizers", OPTIMIZERS) for o in optimizers]
    if not opts:
        raise InvalidInputError("optimizers: must not be empty")
    ep = check_int(epochs, "epochs", minimum=1)
    pk = check_choice(patterns, "patterns", ("auto", "exact", "sample"))
    n_pat = check_int(n_patterns, "n_patterns", minimum=1)
    max_exact = check_int(max_exact_patterns, "max_exact_patterns", minimum=1)
    seed_v = resolve_seed(seed)
    seed_list = _parse_seeds(seeds, seed_v)
    # curves alone (before the convex solve; widths are known only after it)
    check_training_memory(n, Xa.shape[1], 1, ep, len(seed_list) * len(opts))
    above_v = check_float(above_rtol, "above_rtol", minimum=0.0)
    lrs_in = _per_optimizer(lr, "lr", opts)
    bss_in = _per_optimizer(batch_size, "batch_size", opts)

    cs = _solve_convex(
        Xm,
        yv,
        beta_v,
        loss=loss_v,
        bias=bool(bias),
        patterns=pk,
        n_patterns=n_pat,
        max_exact_patterns=max_exact,
        seed=seed_v,
        convex=convex,
        progress=progress,
        solver=solver,
        tol=None if tol is None else check_float(tol, "tol", minimum=0.0, strict_minimum=True),
    )
    p = cs.objective
    if cs.U.shape[1] > 0:
        recovered = float(prob.objectives(cs.U[None], cs.alpha[None])[0])
    else:
        recovered = float(prob.objectives(np.zeros((1, Xa.shape[1], 1)), np.zeros((1, 1)))[0])
    ws = _parse_widths(widths, max(cs.m_star, 1))
    lrs: dict[str, float] = {}
    bss: dict[str, int] = {}
    for o in opts:
        lrs[o] = (
            default_lr(o, Xm, bias=bool(bias), loss=loss_v)
            if lrs_in[o] is None
            else check_float(lrs_in[o], "lr", minimum=0.0, strict_minimum=True)
        )
        b = bss_in[o]
        if o == "gd" and b is not None and int(b) != n:
            raise InvalidInputError(f"batch_size: gradient descent uses the full batch ({n})")
        bss[o] = (
            default_batch_size(o, n) if b is None else min(check_int(b, "batch_size", minimum=1), n)
        )

    n_w, n_o, S = len(ws), len(opts), len(seed_list)
    check_training_memory(n, Xa.shape[1], max(ws), ep, S)
    check_allocation(
        8 * n_w * n_o * S * (ep + 4),
        f"compare_convex_nonconvex: curves of {n_w} widths x {n_o} optimizers x {S} seeds x "
        f"{ep + 1} epochs",
        hint="lower epochs or seeds",
    )
    curves = np.empty((n_w, n_o, S, ep + 1))
    final = np.empty((n_w, n_o, S))
    gnorms = np.empty((n_w, n_o, S))
    times = np.empty((n_w, n_o, S))
    grid = [(i, j, w, o) for i, w in enumerate(ws) for j, o in enumerate(opts)]
    from .distributed import run_tasks

    batches = run_tasks(
        client,
        _train_batch,
        [(w, o, lrs[o], bss[o], f"{o} m={w} x{S}", o == "gd" and lrs_in[o] is None)
         for _, _, w, o in grid],
        kwargs=dict(beta=beta_v, epochs=ep, seeds=seed_list, loss=loss_v, init=init,
                    bias=bool(bias), progress=progress if client is None else None),
        shared={"Xa": Xa, "y": yv},
        progress=progress if client is not None else None,
        desc="training runs (batches)",
    )  # fmt: skip
    for (i, j, _, _), runs in zip(grid, batches, strict=True):
        for k, r in enumerate(runs):
            curves[i, j, k] = r.objective
            final[i, j, k] = r.final_objective
            gnorms[i, j, k] = r.grad_norm
            times[i, j, k] = r.time_s
    gap = cs.gap if np.isfinite(cs.gap) else 0.0
    tol = max(gap, 1e-6 * abs(p), 1e-12)
    return ComparisonResult(
        convex_objective=p,
        convex_gap=cs.gap,
        convex_certified=cs.certified,
        convex_label=cs.label,
        convex_patterns=cs.patterns,
        convex_n_patterns=cs.n_patterns,
        convex_time_s=cs.time_s,
        convex_note=cs.note,
        recovered_objective=recovered,
        m_star=cs.m_star,
        beta=beta_v,
        loss=loss_v,
        bias=bool(bias),
        widths=ws,
        optimizers=opts,
        seeds=seed_list,
        lrs=lrs,
        batch_sizes=bss,
        epochs=ep,
        tol=tol,
        above_rtol=above_v,
        curves=curves,
        final=final,
        grad_norms=gnorms,
        run_times=times,
        network_U=cs.U,
        network_alpha=cs.alpha,
        stuck_gtol=check_float(stuck_gtol, "stuck_gtol", minimum=0.0),
    )


def _train_batch(
    m: int,
    optimizer: Optimizer,
    lr: float,
    batch_size: int,
    desc: str,
    line_search: bool,
    *,
    Xa: Any,
    y: Any,
    beta: float,
    loss: TrainingLoss,
    bias: bool,
    **kwargs: Any,
) -> list[Any]:
    """One (width, optimizer) batch of :func:`compare_convex_nonconvex` (a task): the seeds'
    runs on the already validated problem (``Xa`` carries the ones column when ``bias``)."""
    prob = ReluProblem(X=np.asarray(Xa), y=np.asarray(y), beta=beta, loss=loss, bias=bias)
    return prob.train(m, optimizer=optimizer, lr=lr, batch_size=batch_size, desc=desc,
                      line_search=line_search, **kwargs)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# held-out comparison on real data
# ---------------------------------------------------------------------------------------------
def _metric(task: str, f: np.ndarray, y: np.ndarray) -> float:
    if y.size == 0:
        return float("nan")
    if task == "classification":
        return float(np.mean(np.where(f >= 0, 1.0, -1.0) == y))
    return float(np.mean((f - y) ** 2))


@dataclasses.dataclass(repr=False)
class DataComparison(Result):
    """Convex training vs SGD/Adam at equal width on one train/test split.

    ``metric`` is the test accuracy (classification, sign of the output) or the test MSE on the
    standardised target (regression). Objectives are the training objective F with sum scaling.
    Non-convex arrays are indexed ``[optimizer, seed]``.
    """

    dataset: str
    task: str
    metric_name: str
    n_train: int
    n_test: int
    n_features: int
    beta: float
    loss: str
    bias: bool
    convex_label: str
    convex_certified: bool
    convex_patterns: str
    convex_n_patterns: int
    convex_note: str
    m_star: int
    convex_objective: float
    convex_gap: float
    convex_train_metric: float
    convex_test_metric: float
    convex_time_s: float
    width: int
    optimizers: list[Optimizer]
    seeds: list[int]
    epochs: int
    objectives: np.ndarray
    train_metrics: np.ndarray
    test_metrics: np.ndarray
    times: np.ndarray

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: objective (best over seeds / median), test metric (median), time."""
        rows = [
            {
                "method": f"convex ({'exact' if self.convex_patterns == 'exact' else 'sampled'}"
                f", {self.convex_n_patterns} patterns)",
                "width": self.m_star,
                "objective": self.convex_objective,
                "objective_median": self.convex_objective,
                "train_metric": self.convex_train_metric,
                "test_metric": self.convex_test_metric,
                "time_s": self.convex_time_s,
                "certified": self.convex_certified,
            }
        ]
        for j, o in enumerate(self.optimizers):
            rows.append(
                {
                    "method": f"{o} x{len(self.seeds)} seeds",
                    "width": self.width,
                    "objective": float(np.min(self.objectives[j])),
                    "objective_median": float(np.median(self.objectives[j])),
                    "train_metric": float(np.median(self.train_metrics[j])),
                    "test_metric": float(np.median(self.test_metrics[j])),
                    "time_s": float(np.median(self.times[j])),
                    "certified": False,
                }
            )
        return rows

    def plot(self, path: str | Path) -> Path:
        """Two panels: training objective and test metric of the convex model (line) and of every
        SGD/Adam run (dots). Writes a PNG and returns its path."""
        from .plot import pyplot

        plt = pyplot()
        colors = {"gd": "#1f77b4", "sgd": "#2ca02c", "adam": "#d62728"}
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
        conv_vals = (self.convex_objective, self.convex_test_metric)
        labels = ("training objective F (sum scaling)", f"test {self.metric_name}")
        arrays = (self.objectives, self.test_metrics)
        cl = (
            "convex (certified)"
            if self.convex_certified
            else (
                "convex (exact patterns)" if self.convex_patterns == "exact" else "convex (sampled)"
            )
        )
        for ax, cv, lab, arr in zip(axes, conv_vals, labels, arrays, strict=True):
            ax.axhline(cv, color="black", ls="--", lw=1.8, label=cl)
            for j, o in enumerate(self.optimizers):
                xs = np.full(arr.shape[1], j) + np.linspace(-0.12, 0.12, arr.shape[1])
                ax.scatter(xs, arr[j], color=colors.get(o, "C4"), s=45, edgecolor="k",
                           zorder=3, label=f"{o} (m = {self.width})")  # fmt: skip
            ax.set_xticks(range(len(self.optimizers)))
            ax.set_xticklabels([o.upper() if o != "adam" else "Adam" for o in self.optimizers])
            ax.set_xlim(-0.6, len(self.optimizers) - 0.4)
            ax.set_ylabel(lab)
            ax.grid(alpha=0.3, axis="y")
        vals = np.concatenate([[self.convex_objective], self.objectives.ravel()])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if vals.size and vals.max() > 20 * vals.min():
            axes[0].set_yscale("log")
        axes[0].legend(fontsize=8, loc="best")
        fig.suptitle(
            f"{self.dataset}: convex program (m* = {self.m_star}) vs "
            f"{len(self.seeds)} seed(s) of SGD/Adam, β = {self.beta:g}",
            fontsize=11,
        )
        return save_figure(fig, path, dpi=120)

    def summary(self) -> str:
        m = self.metric_name
        lines = [
            f"{self.dataset}: {self.task}, n_train = {self.n_train}, n_test = {self.n_test}, "
            f"d = {self.n_features}, beta = {self.beta:g} ({self.loss} loss, sum scaling, "
            f"bias {'on' if self.bias else 'off'})",
            f"  {self.convex_label}",
        ]
        if self.convex_note:
            lines.append(f"  note: {self.convex_note}")
        lines.append(
            f"  {'method':<30} {'width':>5} {'objective':>12} {'(median)':>12} "
            f"{'train ' + m:>15} {'test ' + m:>14} {'time':>9}"
        )
        for r in self.rows():
            lines.append(
                f"  {r['method']:<30} {r['width']:>5} {r['objective']:>12.6g} "
                f"{r['objective_median']:>12.6g} {r['train_metric']:>15.4f} "
                f"{r['test_metric']:>14.4f} {r['time_s']:>8.3f}s"
            )
        return "\n".join(lines)


def compare_on_data(
    data: Any,
    *,
    beta: float | None = None,
    loss: TrainingLoss = "squared",
    bias: bool = True,
    optimizers: Sequence[Optimizer] = ("sgd", "adam"),
    seeds: int | Sequence[int] = 3,
    epochs: int = 300,
    width: int | None = None,
    patterns: ComparePatterns = "auto",
    n_patterns: int = 300,
    max_exact_patterns: int = 3000,
    solver: ConvexSolver = "auto",
    max_iter: int | None = None,
    seed: int = 0,
    progress: Any = None,
    client: Any = None,
) -> DataComparison:
    """Convex training vs SGD/Adam at equal width on a prepared train/test split.

    Parameters
    ----------
    data : :class:`hiddenconvex.datasets.Dataset` or str
        A prepared data set, or a name for :func:`hiddenconvex.datasets.load_dataset`.
    beta : float, optional
        Weight decay (sum scaling). Default ``1e-2 · n_train``: with standardised data this is
        the per-sample strength 1e-2 of the mean-scaled problem.
    loss : {"squared", "logistic", "hinge"}
        Squared loss on ±1 labels for classification by default (as in Zeger & Pilanci's Figure 5).
    optimizers, seeds, epochs
        The non-convex runs (each on the training objective, defaults of
        :func:`~hiddenconvex.train_relu_network`).
    width : int, optional
        Width of the non-convex networks; default m*, the convex solution's neuron count
        ("equal width").
    patterns, n_patterns, max_exact_patterns, solver
        As in :func:`compare_convex_nonconvex`: exact patterns when Cover's bound allows
        (``"auto"``), sampled otherwise, labelled honestly.
    max_iter : int, optional
        Iteration budget of the convex solver (its default otherwise); a run stopped by it is
        reported in ``convex_note`` and is not certified.
    client : dask.distributed.Client, optional
        Train the per-optimizer batches of runs on a Dask cluster's workers (see
        :mod:`hiddenconvex.distributed`); the convex solve runs here. Identical results.

    Returns
    -------
    DataComparison
        Training objective, train/test metric and time of every method; ``rows()``, ``summary()``.
    """
    from .datasets import Dataset, load_dataset

    ds = load_dataset(data, seed=seed) if isinstance(data, str) else data
    if not isinstance(ds, Dataset):
        raise InvalidTypeError(
            f"data: expected a hiddenconvex.datasets.Dataset or a data set name, got "
            f"{type(data).__name__}"
        )
    Xtr, ytr = ds.X_train, ds.y_train
    beta_v = 1e-2 * Xtr.shape[0] if beta is None else check_float(beta, "beta", minimum=0.0)
    prob = relu_problem(Xtr, ytr, beta_v, loss=loss, bias=bias)
    Xa, yv, beta_v, loss_v = prob.X, prob.y, prob.beta, prob.loss
    opts = [check_choice(o, "optimizers", OPTIMIZERS) for o in optimizers]
    ep = check_int(epochs, "epochs", minimum=1)
    seed_v = resolve_seed(seed)
    seed_list = _parse_seeds(seeds, seed_v)
    cs = _solve_convex(
        Xtr,
        yv,
        beta_v,
        loss=loss_v,
        bias=bool(bias),
        patterns=check_choice(patterns, "patterns", ("auto", "exact", "sample")),
        n_patterns=check_int(n_patterns, "n_patterns", minimum=1),
        max_exact_patterns=check_int(max_exact_patterns, "max_exact_patterns", minimum=1),
        seed=seed_v,
        convex=None,
        progress=progress,
        solver=solver,
        max_iter=None if max_iter is None else check_int(max_iter, "max_iter", minimum=1),
    )
    w = max(cs.m_star, 1) if width is None else check_int(width, "width", minimum=1)
    task = ds.task
    f_tr = relu_network_output(Xtr, cs.U, cs.alpha, bias=bool(bias))
    f_te = relu_network_output(ds.X_test, cs.U, cs.alpha, bias=bool(bias))
    n_o, S = len(opts), len(seed_list)
    objectives = np.empty((n_o, S))
    train_m = np.empty((n_o, S))
    test_m = np.empty((n_o, S))
    times = np.empty((n_o, S))
    from .distributed import run_tasks

    batches = run_tasks(
        client,
        _train_batch,
        [
            (w, o, default_lr(o, Xtr, bias=bool(bias), loss=loss_v),
             default_batch_size(o, Xa.shape[0]), f"{ds.name}: {o} m={w} x{S}",
             o == "gd")
            for o in opts
        ],
        kwargs=dict(beta=beta_v, epochs=ep, seeds=seed_list, loss=loss_v, init="he",
                    bias=bool(bias), progress=progress if client is None else None),
        shared={"Xa": Xa, "y": yv},
        progress=progress if client is not None else None,
        desc=f"{ds.name}: training runs (batches)",
    )  # fmt: skip
    for j, runs in enumerate(batches):
        for k, r in enumerate(runs):
            objectives[j, k] = r.final_objective
            train_m[j, k] = _metric(task, r.predict(Xtr), ytr)
            test_m[j, k] = _metric(task, r.predict(ds.X_test), ds.y_test)
            times[j, k] = r.time_s
    return DataComparison(
        dataset=ds.name,
        task=task,
        metric_name="accuracy" if task == "classification" else "MSE",
        n_train=int(Xtr.shape[0]),
        n_test=int(ds.X_test.shape[0]),
        n_features=int(Xtr.shape[1]),
        beta=beta_v,
        loss=loss_v,
        bias=bool(bias),
        convex_label=cs.label,
        convex_certified=cs.certified,
        convex_patterns=cs.patterns,
        convex_n_patterns=cs.n_patterns,
        convex_note=cs.note,
        m_star=cs.m_star,
        convex_objective=cs.objective,
        convex_gap=cs.gap,
        convex_train_metric=_metric(task, f_tr, ytr),
        convex_test_metric=_metric(task, f_te, ds.y_test),
        convex_time_s=cs.time_s,
        width=w,
        optimizers=opts,
        seeds=seed_list,
        epochs=ep,
        objectives=objectives,
        train_metrics=train_m,
        test_metrics=test_m,
        times=times,
    )


@dataclasses.dataclass(repr=False)
class SuiteResult(Result):
    """The comparison suite: one :class:`DataComparison` per data set."""

    comparisons: list[DataComparison]
    quick: bool
    seed: int

    def markdown(self) -> str:
        """A markdown table: data set, method, width, objective, test metric, time."""
        head = (
            "| data set | method | width | training objective (best / median) | "
            "test metric | time |\n|---|---|---|---|---|---|"
        )
        lines = [head]
        for c in self.comparisons:
            for r in c.rows():
                cert = " ✓ certified" if r["certified"] else ""
                lines.append(
                    f"| {c.dataset} | {r['method']}{cert} | {r['width']} | "
                    f"{r['objective']:.5g} / {r['objective_median']:.5g} | "
                    f"{c.metric_name} {r['test_metric']:.3f} | {r['time_s']:.3f} s |"
                )
        return "\n".join(lines)

    def summary(self) -> str:
        return "\n\n".join(c.summary() for c in self.comparisons)


def realdata_suite(
    datasets: Sequence[str] | None = None,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: Any = None,
    client: Any = None,
    **kwargs: Any,
) -> SuiteResult:
    """Run :func:`compare_on_data` on several data sets.

    Default data sets: ``breast_cancer``, ``diabetes``, ``iris``, ``wine`` (scikit-learn, when
    installed) each twice — on all standardised features (sampled patterns) and after PCA to 2
    dimensions (exact patterns when Cover's bound allows) — plus the synthetic ``sine`` and
    ``circle``. ``quick`` keeps 120 samples per set, 1 seed, 100 epochs, at most 50 sampled
    patterns and 3000 convex iterations (a smoke run). Other keyword arguments go to
    :func:`compare_on_data`. With a Dask ``client`` each comparison is one task on the
    cluster (see :mod:`hiddenconvex.distributed`; identical results, ``progress`` counts them).
    """
    from .datasets import list_datasets, load_dataset

    available = list_datasets()
    if datasets is None:
        datasets = [d for d in ("breast_cancer", "diabetes", "iris", "wine") if d in available] + [
            "sine",
            "circle",
        ]
    n = 120 if quick else None
    opts = dict(kwargs)
    if quick:
        opts.setdefault("seeds", 1)
        opts.setdefault("epochs", 100)
        opts.setdefault("n_patterns", 50)
        opts.setdefault("max_exact_patterns", 300)
        opts.setdefault("max_iter", 3000)
    todo = []
    for name in datasets:
        variants: list[int | None] = [None]
        ds0 = load_dataset(name, n=n, seed=seed)
        if ds0.n_features > 2:
            variants.append(2)
        for pca in variants:
            ds = ds0 if pca is None else load_dataset(name, n=n, pca=pca, seed=seed)
            if pca is not None:
                ds.name = f"{name} (PCA {pca})"
            todo.append((ds,))
    from .distributed import run_tasks

    comps = run_tasks(
        client, compare_on_data, todo,
        kwargs=dict(seed=seed, progress=progress if client is None else None, **opts),
        progress=progress if client is not None else None, desc="real-data suite",
    )  # fmt: skip
    return SuiteResult(comparisons=comps, quick=bool(quick), seed=int(seed))
