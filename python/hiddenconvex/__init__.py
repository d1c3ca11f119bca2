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

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

from . import _core
from .chambers import (
    Chambers,
    chamber_count,
    chambers,
    cover_count,
    iter_chambers,
    pattern_bound,
)
from .compare import (
    ComparisonResult,
    DataComparison,
    SuiteResult,
    compare_convex_nonconvex,
    compare_on_data,
    realdata_suite,
)
from .convex import (
    ConvexFitResult,
    ConvexGatedReLU,
    ConvexReLU,
    default_memory_limit,
    fit_memory_estimate,
    relu_network_objective,
)
from .exceptions import (
    ConvergenceWarning,
    HiddenConvexError,
    InvalidInputError,
    InvalidTypeError,
    NumericalError,
    ResourceLimitError,
)
from .groups import filter_groups
from .hessian import HessianResult, hessian
from .io import Result, load, save
from .midpoint import (
    MidpointReport,
    MidpointWitness,
    Pairs,
    clopper_pearson,
    estimate_noise,
    midpoint_test,
    permutation_pairs,
    rescaling_pairs,
    sign_flip_pairs,
)
from .nonconvex import (
    ReluProblem,
    TrainingResult,
    default_batch_size,
    default_lr,
    relu_problem,
    train_relu_network,
)
from .objectives import (
    ICNN,
    MLP,
    CallableObjective,
    HingeLoss,
    ICNNInput,
    LeastSquares,
    LinearModel,
    LogisticRegression,
    Objective,
    Quadratic,
    TwoLayerReLU,
    as_objective,
)
from .slices import (
    Slice1D,
    Slice2D,
    random_direction,
    slice_1d,
    slice_2d,
    witness_slice,
)

try:
    # One place for the version: the workspace version in Cargo.toml, which maturin writes into
    # the distribution's metadata.
    __version__: str = _dist_version("hiddenconvex")
except PackageNotFoundError:  # pragma: no cover - imported from a source tree, not installed
    __version__ = _core.__version__


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


__all__ = [
    # activation chambers
    "Chambers",
    "chamber_count",
    "chambers",
    "cover_count",
    "iter_chambers",
    "pattern_bound",
    # objectives
    "CallableObjective",
    "HingeLoss",
    "ICNN",
    "ICNNInput",
    "LeastSquares",
    "LinearModel",
    "LogisticRegression",
    "MLP",
    "Objective",
    "Quadratic",
    "TwoLayerReLU",
    "as_objective",
    # Hessians
    "HessianResult",
    "hessian",
    # midpoint tests and slices
    "MidpointReport",
    "MidpointWitness",
    "Pairs",
    "Slice1D",
    "Slice2D",
    "clopper_pearson",
    "estimate_noise",
    "filter_groups",
    "midpoint_test",
    "permutation_pairs",
    "random_direction",
    "rescaling_pairs",
    "sign_flip_pairs",
    "slice_1d",
    "slice_2d",
    "witness_slice",
    # convex training
    "ConvexFitResult",
    "ConvexGatedReLU",
    "ConvexReLU",
    "default_memory_limit",
    "fit_memory_estimate",
    "relu_network_objective",
    # non-convex training and comparisons
    "ComparisonResult",
    "DataComparison",
    "ReluProblem",
    "SuiteResult",
    "TrainingResult",
    "compare_convex_nonconvex",
    "compare_on_data",
    "default_batch_size",
    "default_lr",
    "realdata_suite",
    "relu_problem",
    "train_relu_network",
    # results, errors, threads, version
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
]
