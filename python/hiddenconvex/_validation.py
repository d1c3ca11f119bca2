"""Coercion and checks at the boundary: every public function validates through these.

Conventions: arrays are coerced to C-contiguous float64 (float32, ints, bools, Fortran order and
strided views are accepted and give the same result); object / string / complex dtypes raise
:class:`~hiddenconvex.exceptions.InvalidTypeError`; NaN/inf, wrong ndim and empty axes raise
:class:`~hiddenconvex.exceptions.InvalidInputError`. Messages always name the argument.
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from .exceptions import InvalidInputError, InvalidTypeError

T = TypeVar("T", bound=str)


def as_float_array(
    value: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array after checking it.

    Parameters
    ----------
    value : array_like
        The user's input.
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Required number of dimensions.
    allow_empty : bool
        Whether axes of length zero are allowed.
    finite : bool
        Whether NaN / inf are rejected.
    """
    if isinstance(value, (str, bytes)):
        raise InvalidTypeError(f"{name}: expected a numeric array, got {type(value).__name__}")
    try:
        raw = np.asarray(value)
    except Exception as exc:  # ragged lists etc.
        raise InvalidInputError(f"{name}: cannot be read as an array ({exc})") from exc
    if raw.dtype.kind not in "biuf":
        raise InvalidTypeError(
            f"{name}: expected a real numeric array (float, int or bool), got dtype {raw.dtype}"
        )
    arr = np.ascontiguousarray(raw, dtype=np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(k) for k in allowed)
            raise InvalidInputError(
                f"{name}: expected a {want}-dimensional array, got ndim={arr.ndim} "
                f"(shape {arr.shape})"
            )
    if not allow_empty and (arr.size == 0 or 0 in arr.shape):
        raise InvalidInputError(f"{name}: must not be empty (shape {arr.shape})")
    if finite and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidInputError(
            f"{name}: contains NaN or inf (first at index {tuple(int(i) for i in bad)})"
        )
    return arr


def as_matrix(value: Any, name: str = "X") -> np.ndarray:
    """A non-empty, finite, C-contiguous float64 matrix."""
    return as_float_array(value, name, ndim=2)


def check_choice(value: Any, name: str, allowed: Sequence[T]) -> T:
    """Parse a string option once, with an error listing the allowed values."""
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InvalidInputError(f"{name}: expected one of {choices}, got {value!r}")
    return value  # type: ignore[return-value]


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer (not bool) within bounds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise InvalidTypeError(f"{name}: expected an integer, got {type(value).__name__}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise InvalidInputError(f"{name}: must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise InvalidInputError(f"{name}: must be <= {maximum}, got {v}")
    return v


def check_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    strict_minimum: bool = False,
    maximum: float | None = None,
) -> float:
    """A finite real number within bounds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise InvalidTypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise InvalidInputError(f"{name}: must be finite, got {v}")
    if minimum is not None and (v < minimum or (strict_minimum and v == minimum)):
        op = ">" if strict_minimum else ">="
        raise InvalidInputError(f"{name}: must be {op} {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise InvalidInputError(f"{name}: must be <= {maximum}, got {v}")
    return v


def resolve_seed(seed: Any, name: str = "seed") -> int:
    """Seed semantics: an int in [0, 2**64) is used as is; ``None`` draws one from the OS.

    The seed actually used is always recorded in the result, so any run can be reproduced.
    """
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    return check_int(seed, name, minimum=0, maximum=2**64 - 1)


def encode_pm1(y: Any, positive: Any) -> np.ndarray:
    """The one ±1 label encoding of the package: +1.0 where ``y == positive``, -1.0 elsewhere.

    Two-class data uses the larger of its two sorted labels as ``positive``; one-vs-rest uses the
    chosen class. Returns a float64 array of ``y``'s shape.
    """
    return np.where(np.asarray(y) == positive, 1.0, -1.0)
