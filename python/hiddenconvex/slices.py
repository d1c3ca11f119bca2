"""Loss-landscape slices: f along a line or on a plane through θ, and along a midpoint witness.

``slice_1d`` evaluates ``f(θ + τ·d)`` for τ in ``ts``; ``slice_2d`` evaluates
``f(θ + α·d₁ + β·d₂)`` on a grid; ``witness_slice`` evaluates f on the segment a → b (extended a
little) together with the chord ``(1−τ)·f(a) + τ·f(b)``. Random directions may be filter-normalised
(Li, Xu, Taylor, Studer & Goldstein, "Visualizing the loss landscape of neural nets", NeurIPS 2018):
each filter group of a Gaussian direction is rescaled to the norm of the same group of θ, so that
the plot is comparable across layers and networks with scale-invariant units; biases are left out
(set to 0) unless asked.

All points of a slice are built in NumPy and evaluated in batches (native objectives: in parallel
in Rust; callables: one call per batch) of at most 2^21 values, so big grids stay in bounded memory.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._typing import Normalization
from ._validation import (
    as_float_array,
    check_allocation,
    check_choice,
    check_float,
    check_int,
    resolve_seed,
)
from .exceptions import InvalidInputError
from .groups import filter_groups
from .io import Result
from .midpoint import MidpointReport, MidpointWitness
from .objectives import as_objective, infer_dim

__all__ = [
    "Slice1D",
    "Slice2D",
    "filter_groups",
    "random_direction",
    "slice_1d",
    "slice_2d",
    "witness_slice",
]

#: Values per evaluation batch (bounds memory: 2^21 doubles = 16 MiB of points).
BATCH_VALUES = 1 << 21

#: Coordinates of the grid points of :func:`slice_2d` formed at a time (2^18 doubles = 2 MiB).
GRID_PIECE_VALUES = 1 << 18


@dataclasses.dataclass(repr=False)
class Slice1D(Result):
    """f(θ + τ·d) for τ in ``ts``; for a witness slice also the chord and the tested midpoint.

    ``chord`` (witness slices only) holds ``(1−τ)·f(a) + τ·f(b)`` on ``ts``; ``t_mid`` is the
    position of the tested midpoint m = t·a + (1−t)·b (τ = 1 − t), with ``f_mid`` and
    ``chord_mid`` the function and chord values there.
    """

    ts: np.ndarray
    values: np.ndarray
    theta: np.ndarray
    direction: np.ndarray
    objective: str
    kind: str = "line"
    chord: np.ndarray | None = None
    t_mid: float | None = None
    f_mid: float | None = None
    chord_mid: float | None = None

    def summary(self) -> str:
        v = self.values[np.isfinite(self.values)]
        rng = f"[{v.min():.4g}, {v.max():.4g}]" if v.size else "(no finite value)"
        s = (
            f"1-D slice ({self.kind}) of {self.objective}: {self.ts.size} points, "
            f"τ ∈ [{self.ts.min():g}, {self.ts.max():g}], f ∈ {rng}"
        )
        if self.f_mid is not None and self.chord_mid is not None:
            s += f"; at the midpoint f = {self.f_mid:.6g}, chord = {self.chord_mid:.6g}"
            s += " (above the chord: not convex)" if self.f_mid > self.chord_mid else ""
        return s

    def plot(self, path: Any, **kwargs: Any) -> Any:
        """Write a PNG (see :func:`hiddenconvex.plot.plot_slice_1d`); returns its path."""
        from .plot import plot_slice_1d

        return plot_slice_1d(self, path, **kwargs)


@dataclasses.dataclass(repr=False)
class Slice2D(Result):
    """f(θ + α·d₁ + β·d₂) on the grid ``alphas`` × ``betas``: ``values[i, j]`` at (αᵢ, βⱼ)."""

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    theta: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    objective: str

    def summary(self) -> str:
        v = self.values[np.isfinite(self.values)]
        rng = f"[{v.min():.4g}, {v.max():.4g}]" if v.size else "(no finite value)"
        return (
            f"2-D slice of {self.objective}: {self.alphas.size}×{self.betas.size} grid, f ∈ {rng}"
        )

    def plot(self, path: Any, **kwargs: Any) -> Any:
        """Write a PNG (see :func:`hiddenconvex.plot.plot_slice_2d`); returns its path."""
        from .plot import plot_slice_2d

        return plot_slice_2d(self, path, **kwargs)


def _eval(obj: Any, pts: np.ndarray) -> np.ndarray:
    d = pts.shape[1]
    rows = max(1, BATCH_VALUES // max(d, 1))
    out = np.empty(pts.shape[0])
    for s in range(0, pts.shape[0], rows):
        out[s : s + rows] = obj.values(pts[s : s + rows])
    return out


def _vec(x: Any, name: str, dim: int) -> np.ndarray:
    v = as_float_array(x, name, ndim=1)
    if v.shape[0] != dim:
        raise InvalidInputError(
            f"{name}: expected length {dim} (the objective's dimension), got {v.shape[0]}"
        )
    return v


def random_direction(
    objective: Any,
    theta: Any,
    *,
    seed: int | None = None,
    normalization: Normalization = "filter",
    groups: Any = None,
    include_biases: bool = False,
    dim: int | None = None,
) -> np.ndarray:
    """A random direction d ~ N(0, I_D), optionally filter-normalised at θ.

    With ``normalization="filter"`` (Li et al. 2018) every group g (``groups``, or the objective's
    filter groups) is rescaled: ``d_g ← d_g·‖θ_g‖/‖d_g‖``; coordinates in no group are set to 0
    (biases, unless ``include_biases``). With ``normalization=None`` d is returned as drawn.
    The same ``seed`` gives the same direction.

    Raises
    ------
    InvalidInputError
        ``groups=[]``, a group empty or out of range, or (filter normalisation) θ zero on every
        group, which would give the zero direction.
    """
    obj = as_objective(objective, infer_dim(objective, dim, theta))
    d = int(obj.dim)
    th = _vec(theta, "theta", d)
    rng = np.random.default_rng(resolve_seed(seed))
    z = rng.standard_normal(d)
    if normalization is None:
        return z
    check_choice(normalization, "normalization", ("filter",))
    gs = (
        [np.asarray(g, dtype=np.int64).ravel() for g in groups]
        if groups is not None
        else filter_groups(obj, include_biases=include_biases)
    )
    if not gs:
        raise InvalidInputError(
            "groups: filter normalisation needs at least one group (groups=[] gives the zero "
            "direction)"
        )
    out = np.zeros(d)
    for i, g in enumerate(gs):
        if g.size == 0 or g.min() < 0 or g.max() >= d:
            raise InvalidInputError(f"groups: group {i} is empty or out of range for D = {d}")
        zn = np.linalg.norm(z[g])
        out[g] = z[g] * (np.linalg.norm(th[g]) / zn if zn > 0 else 0.0)
    if not np.any(out != 0.0):
        raise InvalidInputError(
            "theta: filter normalisation rescales each group of the direction to the norm of the "
            "same group of theta, which is 0 for every group here: the direction would be 0. "
            "Use a theta with nonzero groups (e.g. trained weights) or normalization=None."
        )
    return out


def slice_1d(
    objective: Any,
    theta: Any,
    direction: Any,
    ts: Any = None,
    *,
    dim: int | None = None,
    vectorized: bool = False,
) -> Slice1D:
    """f(θ + τ·d) for τ in ``ts`` (default: 101 points in [−1, 1]).

    Raises
    ------
    InvalidInputError
        Shape/D mismatch or non-finite θ, d or ts.
    """
    obj = as_objective(objective, infer_dim(objective, dim, theta), vectorized=vectorized)
    th = _vec(theta, "theta", obj.dim)
    dv = _vec(direction, "direction", obj.dim)
    tt = np.linspace(-1.0, 1.0, 101) if ts is None else as_float_array(ts, "ts", ndim=1)
    vals = _eval(obj, th[None, :] + tt[:, None] * dv[None, :])
    return Slice1D(tt, vals, th, dv, str(obj.name))


def slice_2d(
    objective: Any,
    theta: Any,
    d1: Any,
    d2: Any,
    grid: Any = 41,
    *,
    extent: float = 1.0,
    dim: int | None = None,
    vectorized: bool = False,
) -> Slice2D:
    """f(θ + α·d₁ + β·d₂) on a grid.

    ``grid`` is an int n (α, β each ``linspace(−extent, extent, n)``) or a pair of 1-D arrays
    (alphas, betas). ``values[i, j]`` is at (alphas[i], betas[j]).
    """
    obj = as_objective(objective, infer_dim(objective, dim, theta), vectorized=vectorized)
    th = _vec(theta, "theta", obj.dim)
    u = _vec(d1, "d1", obj.dim)
    v = _vec(d2, "d2", obj.dim)
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        n = check_int(grid, "grid", minimum=2)
        ext = check_float(extent, "extent", minimum=0.0, strict_minimum=True)
        check_allocation(8 * n * n, f"slice_2d: a {n} x {n} grid of values (grid={n})")
        al = np.linspace(-ext, ext, n)
        be = al.copy()
    else:
        try:
            ga, gb = grid
        except (TypeError, ValueError) as exc:
            raise InvalidInputError("grid: expected an int or a pair (alphas, betas)") from exc
        al = as_float_array(ga, "grid (alphas)", ndim=1)
        be = as_float_array(gb, "grid (betas)", ndim=1)
        check_allocation(8 * al.size * be.size, f"slice_2d: a {al.size} x {be.size} grid of values")
    vals = np.empty((al.size, be.size))
    # the grid in row-major order, a piece of at most GRID_PIECE_VALUES coordinates at a time
    # (each piece is a few ms of NumPy work: Ctrl-C is honoured between pieces)
    per = max(1, GRID_PIECE_VALUES // max(obj.dim, 1))
    flat = vals.reshape(-1)
    for s in range(0, flat.size, per):
        idx = np.arange(s, min(s + per, flat.size))
        ia, ib = np.divmod(idx, be.size)
        pts = th[None, :] + al[ia, None] * u + be[ib, None] * v
        flat[s : s + idx.size] = _eval(obj, pts)
    return Slice2D(al, be, vals, th, u, v, str(obj.name))


def witness_slice(
    objective: Any,
    a: Any = None,
    b: Any = None,
    *,
    t: float = 0.5,
    ts: Any = None,
    dim: int | None = None,
    vectorized: bool = False,
) -> Slice1D:
    """f on the segment a → b (θ(τ) = a + τ·(b − a)) with the chord of the pair.

    ``a`` may be a :class:`~hiddenconvex.MidpointReport` or :class:`~hiddenconvex.MidpointWitness`
    (its witness pair and weight are used). The tested midpoint m = t·a + (1−t)·b sits at
    τ = 1 − t; ``ts`` defaults to 201 points in [−0.25, 1.25].
    """
    src = a
    if isinstance(src, MidpointReport):
        if src.witness is None:
            raise InvalidInputError("a: the report has no witness (no finite pair)")
        src = src.witness
    if isinstance(src, MidpointWitness):
        a, b, t = src.a, src.b, src.t
    if b is None:
        raise InvalidInputError("b: give both ends of the segment, or a report/witness as a")
    obj = as_objective(objective, infer_dim(objective, dim, a, b), vectorized=vectorized)
    av = _vec(a, "a", obj.dim)
    bv = _vec(b, "b", obj.dim)
    if not 0.0 < float(t) < 1.0:
        raise InvalidInputError(f"t: must lie strictly between 0 and 1, got {t}")
    tt = np.linspace(-0.25, 1.25, 201) if ts is None else as_float_array(ts, "ts", ndim=1)
    dv = bv - av
    tau_m = 1.0 - float(t)
    m = float(t) * av + (1.0 - float(t)) * bv
    pts = av[None, :] + tt[:, None] * dv[None, :]
    vals = _eval(obj, np.vstack([pts, av, bv, m]))
    fa, fb, fm = vals[-3], vals[-2], vals[-1]
    vals = vals[:-3]
    chord = (1.0 - tt) * fa + tt * fb
    return Slice1D(
        tt,
        vals,
        av,
        dv,
        str(obj.name),
        kind="witness",
        chord=chord,
        t_mid=tau_m,
        f_mid=float(fm),
        chord_mid=float(float(t) * fa + (1.0 - float(t)) * fb),
    )
