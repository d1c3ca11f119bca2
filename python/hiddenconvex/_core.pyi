# Stubs of the private extension module hiddenconvex._core (checked by mypy.stubtest in CI).
# Users import hiddenconvex; docstrings for users live in the public Python modules.
from collections.abc import Callable
from typing import Any, Literal, final

import numpy as np
import numpy.typing as npt

__version__: str

def thread_count() -> int: ...
def set_thread_count(n: int) -> None: ...
def _sleep_interruptible(
    seconds: float, progress: Callable[[int, int], Any] | None = None
) -> float: ...

# ---- arrangement (chambers) ---------------------------------------------------------------
# >>> arrangement stubs go here, keep this block's lines together
def chambers_exact(
    x: npt.NDArray[np.float64],
    max_chambers: int | None = None,
    memory_limit: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.float64], int]: ...
def chamber_witnesses(
    x: npt.NDArray[np.float64],
    max_chambers: int | None = None,
    memory_limit: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> npt.NDArray[np.float64]: ...
def chambers_sample(
    x: npt.NDArray[np.float64],
    n_samples: int,
    seed: int,
    progress: Callable[[int, int], Any] | None = None,
    memory_limit: int | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.float64], int]: ...
def chamber_faces(
    x: npt.NDArray[np.float64], progress: Callable[[int, int], Any] | None = None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.float64], int]: ...
def chamber_count(
    x: npt.NDArray[np.float64], progress: Callable[[int, int], Any] | None = None
) -> int: ...
def chambers_plan(
    x: npt.NDArray[np.float64],
    max_chambers: int | None = None,
    memory_limit: int | None = None,
) -> tuple[int, bool, int, int, int]: ...

@final
class ChamberStream:
    @property
    def total(self) -> int: ...
    @property
    def bounded(self) -> bool: ...
    @property
    def part_stats(self) -> tuple[int, int, int] | None: ...
    def next_block(
        self, progress: Callable[[int, int], Any] | None = None
    ) -> (
        tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.float64], int] | None
    ): ...

def chambers_stream(
    x: npt.NDArray[np.float64],
    block: int,
    max_chambers: int | None = None,
    memory_limit: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    part_budget: int | None = None,
) -> ChamberStream: ...

# <<< end of arrangement

# ---- objective ----------------------------------------------------------------------------
# >>> objective stubs go here, keep this block's lines together
@final
class NativeObjective:
    @property
    def dim(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def has_gradient(self) -> bool: ...
    def value_and_scale(self, theta: npt.NDArray[np.float64]) -> tuple[float, float]: ...
    def values_and_scales(
        self, points: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def value_and_gradient(
        self, theta: npt.NDArray[np.float64]
    ) -> tuple[float, npt.NDArray[np.float64]]: ...
    def gradients(
        self, points: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

def eval_batch(
    objective: NativeObjective | Callable[..., Any],
    points: npt.NDArray[np.float64],
    dim: int | None = None,
    vectorized: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]: ...
def mlp_objective(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    widths: list[int],
    activations: list[str],
    bias: list[bool],
    loss: str,
    weight_decay: float,
    name: str,
) -> NativeObjective: ...
def icnn_objective(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    hidden: list[int],
    activation: str,
    nonneg: str,
    loss: str,
    weight_decay: float,
) -> NativeObjective: ...
def icnn_input_objective(
    d: int,
    hidden: list[int],
    activation: str,
    nonneg: str,
    theta: npt.NDArray[np.float64],
) -> NativeObjective: ...
def icnn_dim(d: int, hidden: list[int]) -> int: ...
def quadratic_objective(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], c: float
) -> NativeObjective: ...

# <<< end of objective

# ---- hessian ------------------------------------------------------------------------------
# >>> hessian stubs go here, keep this block's lines together
def hessian_batch(
    objective: NativeObjective | Callable[..., Any],
    points: npt.NDArray[np.float64],
    method: str,
    step: float | None = None,
    richardson: bool = True,
    dim: int | None = None,
    vectorized: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, Any]: ...
def hessian_default_step(method: str, richardson: bool) -> float: ...

# <<< end of hessian

# ---- midpoint -----------------------------------------------------------------------------
# >>> midpoint stubs go here, keep this block's lines together
def midpoint_pairs(
    center: npt.NDArray[np.float64],
    scales: list[float],
    n_pairs: int,
    seed: int,
    groups: list[list[int]] | None,
    indices: list[int],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def midpoint_run(
    objective: NativeObjective | Callable[..., Any],
    dim: int | None,
    vectorized: bool,
    t: list[float],
    tol_factor: float,
    sigma: list[float] | None = None,
    center: npt.NDArray[np.float64] | None = None,
    scales: list[float] | None = None,
    n_pairs: int = 0,
    seed: int = 0,
    groups: list[list[int]] | None = None,
    pairs_a: npt.NDArray[np.float64] | None = None,
    pairs_b: npt.NDArray[np.float64] | None = None,
    progress: Callable[[int, int], Any] | None = None,
    start: int = 0,
    count: int | None = None,
) -> dict[str, Any]: ...
def midpoint_rounding_term(
    objective: NativeObjective,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    t: float,
) -> float: ...
def jensen_gap_compensated(t: float, fa: float, fb: float, fm: float) -> float: ...

# <<< end of midpoint

# ---- convex -------------------------------------------------------------------------------
# >>> convex stubs go here, keep this block's lines together
def convex_solve(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    patterns: npt.NDArray[np.bool_],
    beta: float,
    *,
    kind: str = "relu",
    loss: str = "squared",
    huber_delta: float = 1.0,
    solver: Literal["auto", "ipm", "conic", "newton", "fista", "bcd", "admm", "al"] = "auto",
    tol: float = 1e-6,
    max_iter: int = 10000,
    check_every: int = 10,
    warm_z: npt.NDArray[np.float64] | None = None,
    warm_a: npt.NDArray[np.float64] | None = None,
    warm_b: npt.NDArray[np.float64] | None = None,
    warm_c: npt.NDArray[np.float64] | None = None,
    warm_rho: float | None = None,
    par_threshold: int = 200000,
    progress: Callable[[int, int], Any] | None = None,
    gates: npt.NDArray[np.float64] | None = None,
    memory_limit: int | None = None,
) -> dict[str, Any]: ...
def convex_certify(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    patterns: npt.NDArray[np.bool_],
    beta: float,
    z: npt.NDArray[np.float64],
    *,
    kind: str = "relu",
    loss: str = "squared",
    huber_delta: float = 1.0,
) -> dict[str, Any]: ...

# <<< end of convex
