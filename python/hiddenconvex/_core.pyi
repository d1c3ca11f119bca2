# Stubs of the private extension module hiddenconvex._core (checked by mypy.stubtest in CI).
# Users import hiddenconvex; docstrings for users live in the public Python modules.
from collections.abc import Callable
from typing import Any

__version__: str

def thread_count() -> int: ...
def set_thread_count(n: int) -> None: ...
def _sleep_interruptible(
    seconds: float, progress: Callable[[int, int], Any] | None = None
) -> float: ...

# ---- arrangement (chambers) ---------------------------------------------------------------
# >>> arrangement stubs go here, keep this block's lines together
# <<< end of arrangement

# ---- objective ----------------------------------------------------------------------------
# >>> objective stubs go here, keep this block's lines together
# <<< end of objective

# ---- hessian ------------------------------------------------------------------------------
# >>> hessian stubs go here, keep this block's lines together
# <<< end of hessian

# ---- midpoint -----------------------------------------------------------------------------
# >>> midpoint stubs go here, keep this block's lines together
# <<< end of midpoint

# ---- convex -------------------------------------------------------------------------------
# >>> convex stubs go here, keep this block's lines together
# <<< end of convex
