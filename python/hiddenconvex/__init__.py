"""hiddenconvex: is this network's training loss convex, and where is its hidden convexity?

Public API (everything users need is importable from here; ``hiddenconvex._core`` is private):

- activation chambers of the data's hyperplane arrangement: :func:`chambers`, :func:`iter_chambers`,
  :func:`chamber_count`, :func:`cover_count`, :func:`pattern_bound`;
- native objectives, batched finite-difference Hessians, midpoint-convexity tests and loss slices;
- the exact convex reformulation of two-layer ReLU training (:class:`ConvexReLU`,
  :class:`ConvexGatedReLU`) and its comparison with non-convex SGD/Adam;
- results with ``summary()``, ``to_dict()``, ``save()``/:func:`load` (``.npz``/``.json``).

Threads: the Rust core uses its own pool of ``HIDDENCONVEX_NUM_THREADS`` threads (default: the
CPU count), see :func:`thread_count` / :func:`set_thread_count`. Results never depend on it.
"""

from __future__ import annotations

from . import _core
from . import chambers as _chambers_mod
from . import compare as _compare_mod
from . import convex as _convex_mod
from . import hessian as _hessian_mod
from . import midpoint as _midpoint_mod
from . import nonconvex as _nonconvex_mod
from . import objectives as _objectives_mod
from . import slices as _slices_mod
from . import wedge as _wedge_mod
from .exceptions import (
    ConvergenceWarning,
    HiddenConvexError,
    InvalidInputError,
    InvalidTypeError,
    NumericalError,
    ResourceLimitError,
)
from .io import Result, load, save

__version__: str = _core.__version__


def thread_count() -> int:
    """Number of threads of the Rust core's pool.

    Set by the environment variable ``HIDDENCONVEX_NUM_THREADS`` before first use, or by
    :func:`set_thread_count`; defaults to the number of CPUs. Results never depend on it.
    """
    return int(_core.thread_count())


def set_thread_count(n: int) -> None:
    """Replace the Rust core's thread pool by one of ``n >= 1`` threads."""
    from ._validation import check_int

    _core.set_thread_count(check_int(n, "n", minimum=1))


_modules = (
    _chambers_mod,
    _objectives_mod,
    _hessian_mod,
    _midpoint_mod,
    _slices_mod,
    _convex_mod,
    _nonconvex_mod,
    _compare_mod,
    _wedge_mod,
)
_name = ""
for _m in _modules:
    for _name in _m.__all__:
        globals()[_name] = getattr(_m, _name)

__all__ = [
    "ConvergenceWarning",
    "HiddenConvexError",
    "InvalidInputError",
    "InvalidTypeError",
    "NumericalError",
    "ResourceLimitError",
    "Result",
    "__version__",
    "load",
    "save",
    "set_thread_count",
    "thread_count",
] + [n for _m in _modules for n in _m.__all__]

del _m, _name
