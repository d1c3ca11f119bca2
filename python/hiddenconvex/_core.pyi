# Stubs of the private extension module hiddenconvex._core (checked by mypy.stubtest in CI).
# Users import hiddenconvex; docstrings for users live in the public Python modules.
from collections.abc import Callable
from typing import Any, TypedDict, final

import numpy as np
import numpy.typing as npt
from typing_extensions import NotRequired

from ._typing import (
    Activation,
    ConvexKind,
    ConvexLoss,
    CoreConvexSolver,
    CoreHessianMethod,
    NonNeg,
    ObjectiveLoss,
    SpectrumWhich,
    WedgeFeatures,
    WedgeNorm,
)

# String options, parsed once in the core (an error lists the allowed values); the Literal
# types live in hiddenconvex._typing, shared with the public signatures.
_Loss = ObjectiveLoss
_Activation = Activation
_NonNeg = NonNeg
_HessianMethod = CoreHessianMethod
_ConvexKind = ConvexKind
_ConvexLoss = ConvexLoss
_F64 = npt.NDArray[np.float64]
_Progress = Callable[[int, int], Any] | None

class _HessianBatch(TypedDict):
    H: _F64
    err: _F64
    kink: npt.NDArray[np.bool_]
    finite: npt.NDArray[np.bool_]
    f0: _F64
    s0: _F64
    steps: _F64
    n_values: int
    n_gradients: int
    step: float
    native_scales: bool
    # finite and every entry of H finite; τ = ‖E‖_F
    ok: npt.NDArray[np.bool_]
    tol: _F64
    # with verdicts=True (and from the LAPACK path of hiddenconvex.hessian)
    eig: NotRequired[_F64]
    vmin: NotRequired[_F64]
    lambda_min: NotRequired[_F64]
    lambda_max: NotRequired[_F64]
    cert_t: NotRequired[_F64]
    cert_gap: NotRequired[_F64]
    cert_tol: NotRequired[_F64]
    verdict: NotRequired[list[str]]
    n_candidates: NotRequired[int]
    n_certificate_evaluations: NotRequired[int]
    n_evaluations: NotRequired[int]

class _HessianCertificates(TypedDict):
    cert_t: _F64
    cert_gap: _F64
    cert_tol: _F64
    verdict: list[str]
    n_candidates: int
    n_certificate_evaluations: int

class _HessianSpectrum(TypedDict):
    eig: _F64
    vmin: _F64
    tol: _F64
    ok: npt.NDArray[np.bool_]

class _MidpointRun(TypedDict):
    fa: _F64
    fb: _F64
    fm: _F64
    gap: _F64
    tol: _F64
    dist2: _F64
    scale_index: npt.NDArray[np.int64]
    refined: int

class _ConvexSolution(TypedDict):
    z: _F64
    objective: float
    network_objective: float
    dual: float
    dual_point: _F64
    cone_multipliers: _F64
    violation: float
    n_iter: int
    converged: bool
    rho: float
    solve_seconds: float
    solver: str
    warm_z: _F64 | None
    warm_a: _F64 | None
    warm_b: _F64 | None
    warm_c: _F64 | None
    warm_rho: float | None

class _ConvexCertificate(TypedDict):
    objective: float
    network_objective: float
    dual: float
    dual_point: _F64
    violation: float

class _Hvp(TypedDict):
    hv: _F64
    err: _F64
    h: float
    step: float
    n_gradients: int

class _Slq(TypedDict):
    nodes: _F64
    weights: _F64
    n_steps: list[int]
    n_matvec: int
    n_gradients: int
    h: float
    step: float

class _WedgeDictionary(TypedDict):
    neurons: _F64
    values: _F64
    subsets: npt.NDArray[np.int64]
    n_subsets: int
    n_degenerate: int
    n_bias_only: int
    n_exact_signs: int
    n_exact_normals: int

class _WedgeLasso(TypedDict):
    z: _F64
    intercept: float
    primal: float
    dual: float
    theta: _F64
    n_iter: int
    n_sweeps: int
    converged: bool

__version__: str

def thread_count() -> int: ...
def set_thread_count(n: int) -> None: ...
def max_thread_count() -> int: ...
def _thread_env_warning() -> str | None: ...
def _all_finite(a: npt.NDArray[np.float64]) -> bool: ...
def _sleep_interruptible(
    seconds: float, progress: Callable[[int, int], Any] | None = None, checks: bool = True
) -> float: ...
def _panic_probe(message: str) -> None: ...

# ---- arrangement (chambers) ---------------------------------------------------------------
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
    x: npt.NDArray[np.float64],
    progress: Callable[[int, int], Any] | None = None,
    max_chambers: int | None = None,
    memory_limit: int | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.float64], int]: ...
def chamber_count(
    x: npt.NDArray[np.float64],
    progress: Callable[[int, int], Any] | None = None,
    max_chambers: int | None = None,
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
def chamber_parts_plan(
    x: npt.NDArray[np.float64],
    budget: int,
    max_chambers: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[list[tuple[list[bool], list[float], int]], int]: ...
def chamber_part_split(
    x: npt.NDArray[np.float64],
    sig: list[bool],
    point: list[float],
    count: int,
    progress: Callable[[int, int], Any] | None = None,
) -> list[tuple[list[bool], list[float], int]]: ...
def chambers_part(
    x: npt.NDArray[np.float64],
    sig: list[bool],
    point: list[float],
    count: int,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.float64], int]: ...

# ---- objective ----------------------------------------------------------------------------
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
    activations: list[_Activation],
    bias: list[bool],
    loss: _Loss,
    weight_decay: float,
    name: str,
) -> NativeObjective: ...
def icnn_objective(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    hidden: list[int],
    activation: _Activation,
    nonneg: _NonNeg,
    loss: _Loss,
    weight_decay: float,
) -> NativeObjective: ...
def icnn_input_objective(
    d: int,
    hidden: list[int],
    activation: _Activation,
    nonneg: _NonNeg,
    theta: npt.NDArray[np.float64],
) -> NativeObjective: ...
def icnn_dim(d: int, hidden: list[int]) -> int: ...
def quadratic_objective(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], c: float
) -> NativeObjective: ...

# ---- hessian ------------------------------------------------------------------------------
def hessian_analysis(
    objective: NativeObjective,
    points: npt.NDArray[np.float64],
    method: _HessianMethod,
    step: float | None = None,
    richardson: bool = True,
) -> tuple[
    _F64,
    _F64,
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
    _F64,
    _F64,
    _F64,
    _F64,
    _F64,
    _F64,
    _F64,
    list[str],
    _F64,
    _F64,
    _F64,
    float,
    int,
    int,
]: ...
def hessian_batch(
    objective: NativeObjective | Callable[..., Any],
    points: npt.NDArray[np.float64],
    method: _HessianMethod,
    step: float | None = None,
    richardson: bool = True,
    dim: int | None = None,
    vectorized: bool = False,
    progress: Callable[[int, int], Any] | None = None,
    gradient: Callable[..., Any] | None = None,
    verdicts: bool = False,
) -> _HessianBatch: ...
def hessian_certify(
    objective: NativeObjective | Callable[..., Any],
    points: npt.NDArray[np.float64],
    steps: npt.NDArray[np.float64],
    f0: npt.NDArray[np.float64],
    s0: npt.NDArray[np.float64],
    kink: npt.NDArray[np.bool_],
    ok: npt.NDArray[np.bool_],
    tol: npt.NDArray[np.float64],
    lam_min: npt.NDArray[np.float64],
    vmin: npt.NDArray[np.float64],
    dim: int | None = None,
    vectorized: bool = False,
) -> _HessianCertificates: ...
def hessian_default_step(method: _HessianMethod, richardson: bool) -> float: ...
def hessian_spectrum(
    h: npt.NDArray[np.float64],
    err: npt.NDArray[np.float64],
    finite: npt.NDArray[np.bool_],
    eigen: bool,
) -> _HessianSpectrum: ...

# ---- midpoint -----------------------------------------------------------------------------
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
) -> _MidpointRun: ...
def midpoint_rounding_term(
    objective: NativeObjective,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    t: float,
) -> float: ...
def jensen_gap_compensated(t: float, fa: float, fb: float, fm: float) -> float: ...
def midpoint_quantiles(x: _F64, qs: list[float]) -> list[float]: ...

# ---- convex -------------------------------------------------------------------------------
def convex_solve(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    patterns: npt.NDArray[np.bool_],
    beta: float,
    *,
    kind: _ConvexKind = "relu",
    loss: _ConvexLoss = "squared",
    huber_delta: float = 1.0,
    solver: CoreConvexSolver = "auto",
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
    verbose: bool = False,
) -> dict[str, Any]: ...
def convex_certify(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    patterns: npt.NDArray[np.bool_],
    beta: float,
    z: npt.NDArray[np.float64],
    *,
    kind: _ConvexKind = "relu",
    loss: _ConvexLoss = "squared",
    huber_delta: float = 1.0,
) -> _ConvexCertificate: ...
def loss_rows(
    loss: _ConvexLoss,
    f: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    huber_delta: float = 1.0,
    grad: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]: ...

# ---- spectra ------------------------------------------------------------------------------
def spectra_hvp(
    objective: NativeObjective | Callable[..., Any],
    theta: npt.NDArray[np.float64],
    vectors: npt.NDArray[np.float64],
    step: float | None = None,
    richardson: bool = True,
    vectorized: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> _Hvp: ...
def spectra_lanczos(
    objective: NativeObjective | Callable[..., Any],
    theta: npt.NDArray[np.float64],
    k: int,
    which: SpectrumWhich,
    tol: float,
    ncv: int | None,
    max_restarts: int,
    seed: int,
    step: float | None = None,
    vectorized: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, Any]: ...
def spectra_slq(
    objective: NativeObjective | Callable[..., Any],
    theta: npt.NDArray[np.float64],
    n_probes: int,
    n_steps: int,
    seed: int,
    step: float | None = None,
    group: int | None = None,
    vectorized: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> _Slq: ...

# ---- wedge --------------------------------------------------------------------------------
def wedge_dictionary(
    x: npt.NDArray[np.float64],
    *,
    norm: WedgeNorm = "l2",
    norm_dims: int | None = None,
    axes: bool = False,
    features: WedgeFeatures = "exact",
    n_features: int = 0,
    seed: int = 0,
    max_bytes: int = ...,
    progress: Callable[[int, int], Any] | None = None,
) -> _WedgeDictionary: ...
def wedge_bytes_estimate(n_subsets: int, n: int, dim: int) -> int: ...
def wedge_lasso(
    values: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    beta: float,
    *,
    intercept: bool = False,
    tol: float = 1e-8,
    max_iter: int = 1000,
    progress: Callable[[int, int], Any] | None = None,
) -> _WedgeLasso: ...
