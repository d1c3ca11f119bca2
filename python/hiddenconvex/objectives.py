"""Objectives: functions of a flat float64 parameter vector θ ∈ R^D.

Two kinds are accepted everywhere an ``objective`` is expected (Hessians, midpoint tests, slices):

- a native objective (a subclass of :class:`Objective`, evaluated in Rust: value, a rounding-error
  scale Σ|summands| used for condition-aware tolerances, and an analytic gradient);
- any Python callable, wrapped by :class:`CallableObjective`: scalar ``f(theta) -> float`` or
  vectorised ``f(Theta) -> (B,)`` for ``Theta`` of shape (B, D). hiddenconvex builds each batch of
  points in Rust and calls Python once per batch (vectorised) or once per point (scalar), always from
  the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._validation import as_float_array, check_int
from .exceptions import InvalidInputError, InvalidTypeError

__all__ = ["CallableObjective", "Objective", "as_objective"]


class Objective:
    """Base class of native objectives (a thin handle on a Rust object).

    Subclasses build ``self._native`` (a ``hiddenconvex._core.NativeObjective``) and document
    the parameter layout of θ with :meth:`flatten` / :meth:`unflatten`.
    """

    _native: Any

    @property
    def dim(self) -> int:
        """D, the length of θ."""
        return int(self._native.dim)

    @property
    def name(self) -> str:
        return str(self._native.name)

    @property
    def has_gradient(self) -> bool:
        return bool(self._native.has_gradient)

    def _theta(self, theta: Any, name: str = "theta") -> np.ndarray:
        t = as_float_array(theta, name, ndim=1)
        if t.shape[0] != self.dim:
            raise InvalidInputError(f"{name}: expected length {self.dim}, got {t.shape[0]}")
        return t

    def value(self, theta: Any) -> float:
        """f(θ)."""
        return float(self._native.value_and_scale(self._theta(theta))[0])

    def __call__(self, theta: Any) -> float:
        return self.value(theta)

    def value_and_scale(self, theta: Any) -> tuple[float, float]:
        """(f(θ), s(θ)) with s = Σ|summands| ≥ |f| (rounding error of f ≲ eps · D_eff · s)."""
        f, s = self._native.value_and_scale(self._theta(theta))
        return float(f), float(s)

    def values(self, thetas: Any) -> np.ndarray:
        """f at every row of ``thetas`` (B, D), in parallel in Rust."""
        pts = as_float_array(thetas, "thetas", ndim=2)
        if pts.shape[1] != self.dim:
            raise InvalidInputError(f"thetas: expected {self.dim} columns, got {pts.shape[1]}")
        return np.asarray(self._native.values_and_scales(pts)[0])

    def gradient(self, theta: Any) -> np.ndarray:
        """∇f(θ) (analytic)."""
        return np.asarray(self._native.value_and_gradient(self._theta(theta))[1])

    def value_and_gradient(self, theta: Any) -> tuple[float, np.ndarray]:
        f, g = self._native.value_and_gradient(self._theta(theta))
        return float(f), np.asarray(g)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, dim={self.dim})"


class CallableObjective:
    """A Python function as an objective.

    Parameters
    ----------
    f : callable
        ``f(theta) -> float`` for ``theta`` of shape (D,), or with ``vectorized=True``
        ``f(Theta) -> array (B,)`` for ``Theta`` of shape (B, D).
    dim : int
        D.
    vectorized : bool
        Whether ``f`` takes a batch. Vectorised callables are called once per batch.
    """

    def __init__(self, f: Callable[..., Any], dim: int, *, vectorized: bool = False) -> None:
        if not callable(f):
            raise InvalidTypeError(f"f: expected a callable, got {type(f).__name__}")
        self.f = f
        self.dim = check_int(dim, "dim", minimum=1)
        self.vectorized = bool(vectorized)
        self.name = getattr(f, "__name__", "callable")
        self.has_gradient = False

    def values(self, thetas: Any) -> np.ndarray:
        pts = as_float_array(thetas, "thetas", ndim=2)
        return np.asarray(_core.eval_batch(self.f, pts, self.dim, self.vectorized)[0])

    def value(self, theta: Any) -> float:
        t = as_float_array(theta, "theta", ndim=1)
        return float(self.values(t[None, :])[0])

    def __call__(self, theta: Any) -> float:
        return self.value(theta)

    def __repr__(self) -> str:
        kind = "vectorised" if self.vectorized else "scalar"
        return f"CallableObjective({self.name}, dim={self.dim}, {kind})"


def as_objective(
    objective: Any, dim: int | None = None, *, vectorized: bool = False
) -> Objective | CallableObjective:
    """Coerce ``objective`` to an :class:`Objective` or :class:`CallableObjective`.

    A callable needs ``dim`` (D). Returns the object the capabilities pass to the core: use
    :func:`core_handle` to get ``(handle, dim, vectorized)`` for a ``_core`` call.
    """
    if isinstance(objective, (Objective, CallableObjective)):
        if dim is not None and int(dim) != objective.dim:
            raise InvalidInputError(f"dim: the objective has dimension {objective.dim}, got {dim}")
        return objective
    if callable(objective):
        if dim is None:
            raise InvalidInputError("dim: a Python callable objective needs its dimension D (dim=)")
        return CallableObjective(objective, dim, vectorized=vectorized)
    raise InvalidTypeError(
        f"objective: expected a hiddenconvex objective or a callable, got {type(objective).__name__}"
    )


def core_handle(objective: Objective | CallableObjective) -> tuple[Any, int, bool]:
    """``(handle, dim, vectorized)`` as the ``_core`` functions take them."""
    if isinstance(objective, Objective):
        return objective._native, objective.dim, False
    return objective.f, objective.dim, objective.vectorized
