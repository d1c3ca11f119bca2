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
    clopper_pearson,
    estimate_noise,
    midpoint_test,
)
from .nonconvex import (
    ReluProblem,
    TrainingResult,
    default_batch_size,
    default_lr,
    relu_network_output,
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
from .pairs import Pairs, permutation_pairs, rescaling_pairs, sign_flip_pairs
from .slices import (
    Slice1D,
    Slice2D,
    random_direction,
    slice_1d,
    slice_2d,
    witness_slice,
)
from .spectra import (
    HvpResult,
    SpectralDensityResult,
    SpectrumResult,
    eigenvalues,
    hvp,
    spectral_density,
)
from .wedge import (
    WedgeDictionary,
    WedgeFitResult,
    WedgeLasso,
    compare_wedge,
    plot_wedge_neurons,
    wedge_dictionary,
    wedge_network_objective,
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
    A value above :func:`max_thread_count` is capped to it, and a value that is not a positive
    integer falls back to the CPU count; both emit a ``RuntimeWarning`` at import.
    """
    return int(_core.thread_count())


def max_thread_count() -> int:
    """Largest thread count accepted: ``max(64, 4 × number of CPUs)``."""
    return int(_core.max_thread_count())


def set_thread_count(n: int) -> None:
    """Replace the Rust core's thread pool by one of ``n`` threads.

    Raises
    ------
    InvalidInputError
        ``n < 1`` or ``n > max_thread_count()`` (more threads only oversubscribe the machine).
    InvalidTypeError
        ``n`` is not an integer.
    """
    from ._validation import check_int

    n = check_int(n, "n", minimum=1, maximum=None)
    cap = max_thread_count()
    if n > cap:
        raise InvalidInputError(
            f"n: the thread count must be at most {cap} (max(64, 4 x CPUs)), got {n}"
        )
    _core.set_thread_count(n)


def _warn_thread_env() -> None:
    import warnings

    msg = _core._thread_env_warning()
    if msg is not None:
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


_warn_thread_env()


__all__ = [
    # the wedge-product (geometric-algebra) Lasso
    "WedgeDictionary",
    "WedgeFitResult",
    "WedgeLasso",
    "compare_wedge",
    "plot_wedge_neurons",
    "wedge_dictionary",
    "wedge_network_objective",
    # Hessian-vector products and spectra at large D
    "HvpResult",
    "SpectralDensityResult",
    "SpectrumResult",
    "eigenvalues",
    "hvp",
    "spectral_density",
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
    "relu_network_output",
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
    "max_thread_count",
    "set_thread_count",
    "thread_count",
]

# Exact chambers in parts, one file per part (with ``client=``, on a Dask cluster: see
# ``hiddenconvex.distributed``, which is imported only when a client is used).
from .chamber_parts import ChamberParts, write_chamber_parts  # noqa: E402

__all__ += ["ChamberParts", "write_chamber_parts"]
