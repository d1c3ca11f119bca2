"""Exceptions and warnings raised by hiddenconvex.

Every error the package raises derives from :class:`HiddenConvexError`. Input errors also derive
from :class:`ValueError` (or :class:`TypeError` for wrong types), so ``except ValueError`` works as
users expect; the message always names the offending argument.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "HiddenConvexError",
    "InvalidInputError",
    "InvalidTypeError",
    "NumericalError",
    "ResourceLimitError",
]


class HiddenConvexError(Exception):
    """Base class of every exception raised by hiddenconvex."""


class InvalidInputError(HiddenConvexError, ValueError):
    """An argument has a wrong value, shape or size (the message names it)."""


class InvalidTypeError(HiddenConvexError, TypeError):
    """An argument has a wrong type or dtype (the message names it)."""


class ResourceLimitError(HiddenConvexError, MemoryError):
    """The requested work would exceed a size or memory budget.

    The message gives the estimate and the limit, and points to a cheaper route (sampling,
    streaming, a larger budget).
    """


class NumericalError(HiddenConvexError, ArithmeticError):
    """A numerical failure (non-finite values where finite ones are required, breakdown)."""


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before reaching its tolerance (the message says how far)."""
