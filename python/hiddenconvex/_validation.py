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

from . import _core
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
    if (
        type(value) is np.ndarray
        and value.dtype is _F64
        and value.ndim
        and value.flags.c_contiguous
    ):
        # already what the conversion below returns (ascontiguousarray gives back a C-contiguous
        # float64 array of ndim >= 1 itself; 0-d arrays become 1-d there)
        arr = value
    else:
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
        arr = _contiguous_float64(raw)
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
    if finite and not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidInputError(
            f"{name}: contains NaN or inf (first at index {tuple(int(i) for i in bad)})"
        )
    return arr


#: Values per NumPy call when converting or checking a large array: Ctrl-C is seen between two
#: calls, so a 10⁶ × 50 input is never one uninterruptible 0.1–0.3 s operation.
_STEP_VALUES = 1 << 21


def _contiguous_float64(raw: np.ndarray) -> np.ndarray:
    """``np.ascontiguousarray(raw, dtype=float64)``, in row blocks for large inputs."""
    if (
        raw.ndim == 0
        or raw.size <= _STEP_VALUES
        or (raw.dtype == np.float64 and raw.flags.c_contiguous)
    ):
        return np.ascontiguousarray(raw, dtype=np.float64)
    out = np.empty(raw.shape, dtype=np.float64)
    rows = max(1, _STEP_VALUES // max(1, raw.size // raw.shape[0]))
    for lo in range(0, raw.shape[0], rows):
        out[lo : lo + rows] = raw[lo : lo + rows]
    return out


#: The float64 dtype (NumPy returns this one instance for every float64 array).
_F64 = np.dtype(np.float64)


def _all_finite(arr: np.ndarray) -> bool:
    """``np.isfinite(arr).all()`` for a C-contiguous float64 array, in steps of ``_STEP_VALUES``
    (one pass of the core per step, no temporaries)."""
    if arr.size <= _STEP_VALUES:
        return _core._all_finite(arr)
    flat = arr.reshape(-1)
    return all(
        _core._all_finite(flat[lo : lo + _STEP_VALUES]) for lo in range(0, flat.size, _STEP_VALUES)
    )


def as_matrix(value: Any, name: str = "X") -> np.ndarray:
    """A non-empty, finite, C-contiguous float64 matrix."""
    return as_float_array(value, name, ndim=2)


def check_choice(value: Any, name: str, allowed: Sequence[T]) -> T:
    """Parse a string option once, with an error listing the allowed values."""
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InvalidInputError(f"{name}: expected one of {choices}, got {value!r}")
    return value  # type: ignore[return-value]


#: Default upper bound of :func:`check_int`: the largest value every size argument of the core
#: (usize / u64 / i64) can hold, so no OverflowError can leak from the bindings.
INT_MAX = 2**63 - 1


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = INT_MAX
) -> int:
    """An integer (not bool) within bounds; ``maximum`` defaults to :data:`INT_MAX` (pass
    ``maximum=None`` for exact Python integers of any size)."""
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


def check_bool(value: Any, name: str) -> bool:
    """A real bool (``True``/``False`` or ``numpy.bool_``); strings, ints and None are refused,
    so ``bias='no'`` cannot silently mean True."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"{name}: expected a bool (True or False), got {value!r}")
    return bool(value)


def memory_budget() -> int:
    """The byte budget of one allocation request: three quarters of the physical memory
    (8 GiB where it cannot be read)."""
    import os

    try:
        total = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        total = 0
    return (3 * total) // 4 if total > 0 else 8 * 1024**3


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def check_allocation(nbytes: float, what: str, *, limit: int | None = None, hint: str = "") -> None:
    """Refuse, before allocating, a request whose estimated size exceeds the memory budget.

    ``nbytes`` is the estimate (exact Python integers or floats; any size, no overflow), ``what``
    names the argument(s) responsible and the object that would be built.
    """
    from .exceptions import ResourceLimitError

    budget = memory_budget() if limit is None else int(limit)
    if nbytes > budget:
        raise ResourceLimitError(
            f"{what}: needs about {_gib(float(nbytes))} ({int(nbytes)} bytes, estimate), over the "
            f"memory budget of {_gib(budget)}{'; ' + hint if hint else ''}"
        )


def check_work(count: float, what: str, *, limit: float, hint: str = "") -> None:
    """Refuse a request whose operation count exceeds ``limit`` (e.g. epochs × steps)."""
    from .exceptions import ResourceLimitError

    if count > limit:
        raise ResourceLimitError(
            f"{what}: about {float(count):.3g} operations requested, over the limit of "
            f"{float(limit):.3g}{'; ' + hint if hint else ''}"
        )


def check_labels(value: Any, name: str = "y") -> np.ndarray:
    """Class labels as a 1-D array: numbers (finite, real) or strings; None, NaN, inf, complex
    and mixed objects are refused."""
    if isinstance(value, (str, bytes)):
        raise InvalidTypeError(f"{name}: expected an array of labels, got {type(value).__name__}")
    try:
        raw = np.asarray(value)
    except Exception as exc:
        raise InvalidInputError(f"{name}: cannot be read as an array ({exc})") from exc
    if raw.ndim != 1:
        raise InvalidInputError(f"{name}: expected a 1-D array of labels, got shape {raw.shape}")
    kind = raw.dtype.kind
    if kind == "c":
        raise InvalidTypeError(f"{name}: complex labels are not class labels (dtype {raw.dtype})")
    if kind == "f" and not np.all(np.isfinite(raw)):
        i = int(np.flatnonzero(~np.isfinite(raw))[0])
        raise InvalidInputError(f"{name}: contains NaN or inf (first at index {i})")
    if kind == "O":
        for i, v in enumerate(raw.tolist()):
            if v is None:
                raise InvalidInputError(f"{name}: contains None (first at index {i})")
            if isinstance(v, complex):
                raise InvalidTypeError(f"{name}: complex label at index {i}")
            if isinstance(v, float) and not np.isfinite(v):
                raise InvalidInputError(f"{name}: contains NaN or inf (first at index {i})")
            if not isinstance(v, (str, numbers.Real, np.generic)):
                raise InvalidTypeError(
                    f"{name}: label at index {i} has type {type(v).__name__}; expected numbers "
                    "or strings"
                )
        kinds = {isinstance(v, str) for v in raw.tolist()}
        if len(kinds) > 1:
            raise InvalidTypeError(f"{name}: mixes strings and numbers")
    elif kind not in "biufUS":
        raise InvalidTypeError(f"{name}: unsupported label dtype {raw.dtype}")
    return raw


def data_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 of the shapes and float64 bytes of ``arrays``: identifies the data a model was
    fitted on (row order included), without keeping a copy of it."""
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        arr = np.ascontiguousarray(a, dtype=np.float64)
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def check_float_list(value: Any, name: str, **bounds: Any) -> list[float]:
    """A real number or a non-empty sequence of them (each checked by :func:`check_float`)."""
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, np.ndarray) and value.ndim == 0:
        items = [value.item()]
    elif isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes)):
        items = (
            list(np.asarray(value, dtype=object).ravel())
            if isinstance(value, np.ndarray)
            else list(value)
        )
    else:
        raise InvalidTypeError(
            f"{name}: expected a number or a sequence of numbers, got {type(value).__name__}"
        )
    if not items:
        raise InvalidInputError(f"{name}: must not be empty")
    return [check_float(v, name, **bounds) for v in items]
