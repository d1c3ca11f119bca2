"""Wedge-product (geometric-algebra) Lasso for two-layer ReLU networks.

Pilanci (*From Complexity to Clarity: Analytical Expressions of Deep Neural Network Weights via
Clifford's Geometric Algebra and Convexity*, arXiv 2309.16512; TMLR, ICLR 2025 journal track)
shows that optimal hidden neurons of regularised ReLU networks are **generalised cross
products** of training vectors — the Hodge dual ``⋆(x_{s_1} ∧ … ∧ x_{s_{r−1}})`` of a wedge
product of r − 1 of them, i.e. the normal of the hyperplane through them — and that training is
a **Lasso over the features** ``(±X w_S)₊``, whose entries ``x_iᵀw_S = det[x_i; x_{s_1}; …]``
are signed volumes of parallelotopes spanned by data vectors. Wang, Kim, Chu, Subramaniam &
Pilanci (*Randomized Geometric Algebra Methods for Convex Neural Networks*, arXiv 2406.02806)
draw the subsets S at random when all C(n, r − 1) are too many.

What is implemented (and on which statement each claim rests; ``docs/wedge.md`` has the math)
----------------------------------------------------------------------------------------------
Architecture (``depth=2``): two layers, ReLU, scalar output, width m free (≥ the number of
active neurons), any data dimension d ≥ 1 (r = d or d + 1 columns with the bias),

    f(x) = Σ_j α_j (x̃ᵀu_j)₊ + c,   x̃ = x (``bias=False``) or [x, 1] (``bias=True``),

trained with the squared loss and weight decay in the neuron norm ``norm`` ∈ {ℓ2, ℓ1} on the
*weights* (the bias entries of u_j and the output offset c are not penalised; c exists only with
``bias=True``):

    p* = min ½‖f(X) − y‖² + (β/2) Σ_j (‖w_j‖² + α_j²),   u_j = (w_j, b_j).

Rescaling each neuron (‖w_j‖ = 1, the penalty becomes β Σ_j |α_j|) turns p* into a semi-infinite
Lasso over all unit neurons; its dual constraint ``max_{‖w‖≤1} |θᵀ(X̃u)₊| ≤ β`` is, on every
chamber of the arrangement, the maximum of a linear function over (unit ball) ∩ (polyhedral
cone). The wedge Lasso replaces the unit neurons by the dictionary of normalised generalised
cross products of (r − 1)-subsets of *factor vectors* (r = columns of X̃):

* **exact** (``theorem_ == "exact"``) when every vertex of (unit ball) ∩ (chamber cone) is such a
  cross product, so the finite Lasso has the same dual and the same optimum p*:

  - ``norm="l1"`` with the coordinate axes among the factors (``axes=True``, the default for
    ℓ1): the ℓ1 ball is a polytope whose faces are {w_k = 0}, so every vertex of
    ball ∩ cone is normal to r − 1 independent vectors among the samples and the axes (an LP
    vertex argument; the ℓ1 form of Pilanci's Theorem on two-layer networks);
  - one-dimensional data (d = 1): with ``bias=True`` the neurons are ``(±(x − x_j))₊`` — breakpoints
    at the training samples, the 1-D closed form (the paper's r = 2 case; Savarese et al. 2019,
    Ergen & Pilanci 2021); without bias the two neurons ``(±x)₊``.
* **an upper bound** (``theorem_ == "restriction"``) otherwise: the neurons are restricted to the
  dictionary, so ``objective_ ≥ p*``. In particular for ``norm="l2"`` (standard weight decay,
  :class:`~hiddenconvex.ConvexReLU`'s regulariser) and d ≥ 2 the ℓ2 ball is round and an optimal
  neuron can lie inside a chamber, off every cross product; compare with ``ConvexReLU`` for p*.
  ``features="sample"`` is always a restriction (Wang et al.'s randomised dictionary).

Depth (``depth=L ≥ 3``, ``layers=[(W_1, b_1), …, (W_{L−2}, b_{L−2})]``): an L-layer ReLU network
whose L − 2 lower layers are given and fixed, h(x) = (…(xW_1 + b_1)₊ …W_{L−2} + b_{L−2})₊, and
whose last two layers f(x) = Σ_j α_j (h̃(x)ᵀu_j)₊ + c are trained with the regulariser above on
(w_j, α_j) only (the fixed layers are not penalised: a constant). Training those two layers *is*
the two-layer problem on the data h(X), so the optimal last-hidden-layer neurons are wedge
products of the hidden representations h(x_i) — the paper's statement that the weights of a deep
network's last hidden layer are wedge products of the previous layer's outputs — and every
exactness rule above applies with k = width of h in place of d (e.g. ``norm="l1"`` is exact for
any depth; a width-1 representation is exact for any norm). Jointly training the lower layers is
not covered (the problem over them is not a finite Lasso here), and neither are the reflection
dictionaries of the 1-D deep results (Zeger et al.).

Sources and how this is verified: the statements above were reconstructed from the papers'
abstracts and introductions (the full theorem texts were not available to us) and from the
authors' public code for arXiv 2406.02806 (cofactor generalised cross products; sampled
neurons with a bias through d data points; a Lasso with a free intercept over ``(X̃G)₊``
normalised on the weight part), so the exact-case claims are stated as theorems of convex
duality (the LP-vertex argument in ``docs/wedge.md``) and checked by the oracles in
``tests/test_wedge.py``: on ≥ 20 random problems per case the Lasso optimum equals the
non-convex objective of the recovered network and the exact convex program over every chamber
(cvxpy/Clarabel, or :class:`~hiddenconvex.ConvexReLU` for ℓ2), within 1e-6.

Scaling: the ``"sum"`` convention of :mod:`hiddenconvex.convex` (½‖·‖², no 1/n). Loss: squared.

Exactness of the dictionary: the sign that decides whether a sample is active for a neuron is
computed exactly (big-integer Bareiss elimination) whenever floating point cannot settle it;
linearly dependent subsets (zero wedge) are detected exactly and dropped; see
:func:`wedge_dictionary`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from ._progress import progress_callback
from ._typing import WedgeFeatures, WedgeNorm
from ._validation import (
    as_float_array,
    as_matrix,
    check_choice,
    check_float,
    check_int,
    resolve_seed,
)
from .exceptions import ConvergenceWarning, HiddenConvexError, InvalidInputError
from .io import Result
from .io import load as _load

__all__ = [
    "WedgeLasso",
    "WedgeFitResult",
    "WedgeDictionary",
    "wedge_dictionary",
    "wedge_network_objective",
    "plot_wedge_neurons",
    "compare_wedge",
]

NORMS = ("l1", "l2")
FEATURES = ("exact", "sample")
DEFAULT_N_FEATURES = 1000


@dataclass(repr=False)
class WedgeDictionary(Result):
    """The wedge-product dictionary of a data matrix (see :func:`wedge_dictionary`).

    ``neurons`` (m, r): unit-norm generalised cross products (norm on the first ``norm_dims``
    coordinates); ``values`` (m, n): signed features ``x̃_iᵀu`` (``(values)₊`` and
    ``(−values)₊`` are the two dictionary columns of each neuron); ``subsets`` (m, r − 1):
    factor indices (``< n``: sample, ``n + k``: axis e_k).
    """

    norm: WedgeNorm
    norm_dims: int
    axes: bool
    features: WedgeFeatures
    seed: int | None
    n_subsets: int
    n_degenerate: int
    n_bias_only: int
    n_exact_signs: int
    n_exact_normals: int
    seconds: float
    neurons: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    subsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    def summary(self) -> str:
        return (
            f"Wedge dictionary ({self.features}, norm={self.norm}): {self.neurons.shape[0]:,} "
            f"neurons from {self.n_subsets:,} subsets ({self.n_degenerate:,} degenerate, "
            f"{self.n_bias_only:,} pure-bias dropped; {self.n_exact_signs:,} signs and "
            f"{self.n_exact_normals:,} normals decided exactly) in {self.seconds:.3f} s"
        )


def wedge_dictionary(
    X: Any,
    *,
    norm: WedgeNorm = "l2",
    norm_dims: int | None = None,
    axes: bool = False,
    features: WedgeFeatures = "exact",
    n_features: int | None = None,
    seed: int | None = None,
    max_bytes: int | None = None,
    progress: Any = None,
) -> WedgeDictionary:
    """Generalised cross products of (r − 1)-subsets of the rows of X (r = columns of X).

    For each subset S of r − 1 factor vectors (the rows of X, plus the axes e_k when ``axes``)
    the neuron is ``u_S = ⋆(x_{s_1} ∧ … ∧ x_{s_{r−1}})`` (the cofactor vector: ``xᵀu_S =
    det[x; x_{s_1}; …]``), scaled to norm 1 on its first ``norm_dims`` coordinates.

    Parameters
    ----------
    X : array_like (n, r)
        Data (append a ones column yourself for a bias; then ``norm_dims = r − 1``).
    norm : {"l2", "l1"}
        Normalisation of the neurons.
    norm_dims : int, optional
        Coordinates the norm covers (default all).
    axes : bool
        Also use the axes e_k (k < norm_dims) as factors.
    features : {"exact", "sample"}
        ``"exact"``: all C(F, r − 1) subsets of the F factors, lexicographic; ``"sample"``:
        ``n_features`` uniform subsets, chunk c of 256 drawn from ChaCha8 stream c of ``seed``
        (repeats possible).
    n_features : int, optional
        Subsets to draw (``"sample"``; default 1000).
    seed : int or None
        Seed of ``"sample"`` (None: drawn and recorded in ``seed``).
    max_bytes : int, optional
        Budget of the dictionary (default: 3/4 of physical memory); larger requests raise
        ``ResourceLimitError`` with the estimate before allocating.
    progress : None, bool or callable
        Progress ``f(done, total)`` over subsets.

    Returns
    -------
    WedgeDictionary

    Notes
    -----
    Exactness: a sample's sign is taken from floating point only when it is farther than 1e-8
    (relative) from the neuron's hyperplane and the subset's elimination is well conditioned
    (pivot ratio ≥ 1e-6); otherwise it is decided in exact big-integer arithmetic, and so is the
    normal of an ill-conditioned subset. Factor samples lie on their own hyperplane (value
    exactly 0). Subsets of linearly dependent vectors (collinear samples, repeats) have a zero
    wedge: detected exactly, dropped and counted in ``n_degenerate``. Normals with no weight part
    (``norm_dims < r``) are pure-bias directions, dropped (``n_bias_only``). Distinct subsets
    spanning the same hyperplane give duplicate neurons; they are kept (the Lasso optimum is
    unchanged). Runs in parallel over fixed chunks; results do not depend on the thread count.

    Raises
    ------
    InvalidInputError, InvalidTypeError, ResourceLimitError, KeyboardInterrupt
    """
    from .convex import default_memory_limit

    Xm = as_matrix(X, "X")
    check_choice(norm, "norm", NORMS)
    check_choice(features, "features", FEATURES)
    nd = Xm.shape[1] if norm_dims is None else check_int(norm_dims, "norm_dims", minimum=1)
    if nd > Xm.shape[1]:
        raise InvalidInputError(f"norm_dims: must be <= {Xm.shape[1]} (columns of X), got {nd}")
    nf = 0
    used_seed: int | None = None
    if features == "sample":
        nf = (
            DEFAULT_N_FEATURES
            if n_features is None
            else check_int(n_features, "n_features", minimum=1)
        )
        used_seed = resolve_seed(seed)
    mb = (
        default_memory_limit()
        if max_bytes is None
        else check_int(max_bytes, "max_bytes", minimum=1)
    )
    t0 = time.perf_counter()
    with progress_callback(progress, "wedge dictionary", "subsets") as cb:
        out = _core.wedge_dictionary(
            Xm,
            norm=norm,
            norm_dims=nd,
            axes=bool(axes),
            features=features,
            n_features=nf,
            seed=used_seed or 0,
            max_bytes=mb,
            progress=cb,
        )
    return WedgeDictionary(
        norm=norm,
        norm_dims=nd,
        axes=bool(axes),
        features=features,
        seed=used_seed,
        n_subsets=int(out["n_subsets"]),
        n_degenerate=int(out["n_degenerate"]),
        n_bias_only=int(out["n_bias_only"]),
        n_exact_signs=int(out["n_exact_signs"]),
        n_exact_normals=int(out["n_exact_normals"]),
        seconds=time.perf_counter() - t0,
        neurons=out["neurons"],
        values=out["values"],
        subsets=out["subsets"],
    )


def _norm(v: np.ndarray, norm: str, axis: int = 0) -> np.ndarray:
    return np.abs(v).sum(axis=axis) if norm == "l1" else np.sqrt((v * v).sum(axis=axis))


def _check_layers(layers: Any, d: int, depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate the fixed lower layers of a depth-``depth`` network on d inputs: a sequence of
    ``depth − 2`` pairs (W_l of shape (d_{l−1}, d_l), b_l of shape (d_l,) or None)."""
    seq = [] if layers is None else list(layers)
    if len(seq) != depth - 2:
        raise InvalidInputError(
            f"layers: a depth-{depth} network needs {depth - 2} fixed lower layer(s) "
            f"(W, b), got {len(seq)}"
        )
    out: list[tuple[np.ndarray, np.ndarray]] = []
    d_in = d
    for k, layer in enumerate(seq):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise InvalidInputError(
                f"layers[{k}]: expected a pair (W, b), got {type(layer).__name__}"
            )
        W = as_float_array(layer[0], f"layers[{k}][0]", ndim=2)
        if W.shape[0] != d_in:
            raise InvalidInputError(
                f"layers[{k}][0]: expected {d_in} rows (the width of the layer below), "
                f"got shape {W.shape}"
            )
        b = (
            np.zeros(W.shape[1])
            if layer[1] is None
            else as_float_array(layer[1], f"layers[{k}][1]", ndim=1)
        )
        if b.shape[0] != W.shape[1]:
            raise InvalidInputError(
                f"layers[{k}][1]: expected {W.shape[1]} entries, got {b.shape[0]}"
            )
        out.append((W, b))
        d_in = W.shape[1]
    return out


def _features(X: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """h_{l} = (h_{l−1} W_l + b_l)₊ through the fixed lower layers (h_0 = X)."""
    H = X
    for W, b in layers:
        H = np.maximum(H @ W + b, 0.0)
    return H


def wedge_network_objective(
    X: Any,
    y: Any,
    U: Any,
    alpha: Any,
    beta: float,
    *,
    norm: WedgeNorm = "l2",
    bias: bool = False,
    intercept: float = 0.0,
    layers: Any = None,
) -> float:
    """Non-convex objective of ``f(x) = Σ_j α_j (h̃(x)ᵀu_j)₊ + c`` at given weights.

    ``½‖f(X) − y‖² + (β/2) Σ_j (‖w_j‖² + α_j²)`` with ``w_j`` the first k rows of ``u_j`` (the bias
    row, present when ``bias``, is not penalised; nor is ``intercept`` = c) and ‖·‖ the ``norm``.
    ``h(x) = x`` for a two-layer network; with ``layers = [(W_1, b_1), …, (W_{L−2}, b_{L−2})]``
    (fixed, not penalised) ``h`` is the output of those ReLU layers, ``h_l = (h_{l−1}W_l + b_l)₊``,
    and the network has depth L; h̃ = h or [h, 1] (``bias``).
    """
    Xm = as_matrix(X, "X")
    if layers is not None:
        Xm = _features(Xm, _check_layers(layers, Xm.shape[1], len(list(layers)) + 2))
    yv = as_float_array(y, "y", ndim=1)
    Um = as_float_array(U, "U", ndim=2, allow_empty=True)
    a = as_float_array(alpha, "alpha", ndim=1, allow_empty=True)
    check_choice(norm, "norm", NORMS)
    d = Xm.shape[1]
    Xa = np.hstack([Xm, np.ones((Xm.shape[0], 1))]) if bias else Xm
    if Um.shape[0] != Xa.shape[1] or Um.shape[1] != a.shape[0]:
        raise InvalidInputError(f"U: expected shape ({Xa.shape[1]}, {a.shape[0]}), got {Um.shape}")
    if yv.shape[0] != Xm.shape[0]:
        raise InvalidInputError(f"y: has {yv.shape[0]} rows but X has {Xm.shape[0]}")
    pred = np.maximum(Xa @ Um, 0.0) @ a + float(intercept)
    # ½‖f(X) − y‖² from the core's loss module (the same squared loss as the solver's)
    sums, _ = _core.loss_rows("squared", pred.reshape(1, -1), yv.reshape(1, -1))
    fit = float(sums[0])
    wn = _norm(Um[:d], norm) if Um.shape[1] else np.zeros(0)
    return fit + 0.5 * float(beta) * (float(np.sum(wn**2)) + float(np.sum(a * a)))


@dataclass(repr=False)
class WedgeFitResult(Result):
    """Certificate and provenance of one :class:`WedgeLasso` fit (``save`` / ``hc.load``).

    ``objective``: Lasso primal at the returned point (an upper bound on the Lasso optimum);
    ``dual_objective``: the dual at a feasible dual point (a rigorous lower bound);
    ``relative_gap = (objective − dual_objective) / max(1, |objective|)``.
    ``network_objective``: the non-convex objective of the recovered network (NumPy formula).
    ``theorem``: ``"exact"`` when the wedge Lasso provably equals network training (then
    ``certified`` says the network is a global optimum within ``tol``), ``"restriction"`` when it
    is an upper bound (see the module docstring).
    """

    beta: float
    norm: WedgeNorm
    bias: bool
    axes: bool
    features: WedgeFeatures
    depth: int
    theorem: str
    objective: float
    dual_objective: float
    duality_gap: float
    relative_gap: float
    network_objective: float
    converged: bool
    certified: bool
    n_iter: int
    n_sweeps: int
    n_subsets: int
    n_neurons: int
    n_degenerate: int
    n_exact_signs: int
    n_exact_normals: int
    n_active: int
    tol: float
    seed: int | None
    intercept: float
    timings: dict[str, float] = field(default_factory=dict)
    U: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    subsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    dual_point: np.ndarray = field(default_factory=lambda: np.zeros(0))
    layers: list[Any] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"Wedge Lasso (depth {self.depth}, norm={self.norm}, bias={self.bias}, "
            f"axes={self.axes}, features={self.features}), beta={self.beta:g}",
            f"  dictionary      : {self.n_neurons:,} neurons from {self.n_subsets:,} subsets "
            f"({self.n_degenerate:,} degenerate)",
            f"  objective       : {self.objective:.12g}",
            f"  dual bound      : {self.dual_objective:.12g}  (relative gap {self.relative_gap:.3e})",
            f"  network obj.    : {self.network_objective:.12g}",
            f"  active neurons  : {self.n_active}",
            f"  iterations      : {self.n_iter} rounds, {self.n_sweeps} sweeps, converged={self.converged}",
        ]
        if self.theorem == "exact":
            lines.append(
                "  => exact: the wedge Lasso equals network training"
                + (" — certified global optimum" if self.certified else " (gap above tol)")
            )
        else:
            lines.append("  => restriction: an upper bound on the training optimum")
        return "\n".join(lines)


class WedgeLasso:
    """Two-layer ReLU network trained as a Lasso over wedge-product (cross-product) neurons.

    See the module docstring for the architecture, the regulariser and when the Lasso is exact.

    Parameters
    ----------
    beta : float
        Weight decay β > 0 (scaling "sum": ½‖f(X) − y‖² + (β/2) Σ (‖w_j‖² + α_j²)).
    depth : int
        Network depth L ≥ 2. ``depth=2``: the two-layer network on x. ``depth=L ≥ 3``: the last
        two layers of an L-layer ReLU network whose L − 2 lower layers are given (``layers``)
        and fixed; the wedge dictionary is built on their output h(x) (see the module docstring).
    layers : sequence of (W, b) or None
        The fixed lower layers when ``depth ≥ 3`` (``depth − 2`` pairs, W_l of shape
        (d_{l−1}, d_l), b_l of shape (d_l,) or None): h_l = (h_{l−1}W_l + b_l)₊, h_0 = x. They are
        not trained and not penalised.
    norm : {"l2", "l1"}
        Neuron norm of the weight decay (ℓ2: standard weight decay).
    bias : bool
        Neurons ``(xᵀw + b)₊`` with a free (unpenalised) bias b and a free output offset c.
    axes : bool or None
        Coordinate axes as wedge factors (None: True for ℓ1 — needed for exactness —, False for
        ℓ2, where they do not make the Lasso exact).
    features : {"exact", "sample"}
        All (r − 1)-subsets, or ``n_features`` random ones (Wang et al.).
    n_features : int or None
        Subsets drawn when ``features="sample"`` (default 1000).
    seed : int or None
        Seed of the sampled subsets; the seed used is ``seed_``.
    tol : float
        Relative duality-gap tolerance of the Lasso: gap ≤ tol·max(1, objective).
    max_iter : int
        Outer rounds of the working-set solver (each solves the working set's Lasso by an
        active-set method and ends with a full duality-gap check; ``docs/wedge.md``).
    max_bytes : int or None
        Dictionary budget (default 3/4 of physical memory), refused before allocating.
    progress : None, bool or callable
        Progress reporting.

    Attributes
    ----------
    result_ : WedgeFitResult
    theorem_ : {"exact", "restriction"}
    objective_, dual_objective_, relative_gap_, certified_, n_active_, intercept_, seed_,
    dictionary_ (WedgeDictionary of the last fit), coef_ (2m Lasso coefficients).

    Notes
    -----
    The dictionary's columns are linearly dependent (``(X̃u)₊ − (−X̃u)₊ = X̃u`` spans only r
    directions), so the Lasso optimum need not be unique; the solver returns an optimum on at
    most n linearly independent columns (Carathéodory exchanges keep the active set
    independent). The optimal value, the fitted values and the certificate do not depend on
    which optimum is returned.
    """

    _param_names = (
        "beta",
        "depth",
        "layers",
        "norm",
        "bias",
        "axes",
        "features",
        "n_features",
        "seed",
        "tol",
        "max_iter",
        "max_bytes",
        "progress",
    )

    def __init__(
        self,
        beta: float = 1e-3,
        *,
        depth: int = 2,
        layers: Any = None,
        norm: WedgeNorm = "l2",
        bias: bool = False,
        axes: bool | None = None,
        features: WedgeFeatures = "exact",
        n_features: int | None = None,
        seed: int | None = None,
        tol: float = 1e-8,
        max_iter: int = 1000,
        max_bytes: int | None = None,
        progress: Any = None,
    ) -> None:
        self.beta = beta
        self.depth = depth
        self.layers = layers
        self.norm = norm
        self.bias = bias
        self.axes = axes
        self.features = features
        self.n_features = n_features
        self.seed = seed
        self.tol = tol
        self.max_iter = max_iter
        self.max_bytes = max_bytes
        self.progress = progress

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._param_names}

    def set_params(self, **params: Any) -> WedgeLasso:
        """Set constructor parameters (scikit-learn convention)."""
        for k, v in params.items():
            if k not in self._param_names:
                raise InvalidInputError(
                    f"{k}: not a parameter of WedgeLasso (expected one of "
                    f"{', '.join(self._param_names)})"
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return (
            f"WedgeLasso(beta={self.beta!r}, depth={self.depth!r}, norm={self.norm!r}, "
            f"bias={self.bias!r}, features={self.features!r})"
        )

    # -- fitting -----------------------------------------------------------------------
    def _resolved_axes(self) -> bool:
        return (self.norm == "l1") if self.axes is None else bool(self.axes)

    def _theorem(self, d: int) -> str:
        if self.features == "exact" and (d == 1 or (self.norm == "l1" and self._resolved_axes())):
            return "exact"
        return "restriction"

    def fit(self, X: Any, y: Any) -> WedgeLasso:
        """Build the dictionary of X and solve the Lasso for y (1-D targets, squared loss)."""
        beta = check_float(self.beta, "beta", minimum=0.0, strict_minimum=True)
        depth = check_int(self.depth, "depth", minimum=2)
        check_choice(self.norm, "norm", NORMS)
        check_choice(self.features, "features", FEATURES)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise InvalidInputError(f"bias: expected a bool, got {self.bias!r}")
        tol = check_float(self.tol, "tol", minimum=0.0, strict_minimum=True)
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        Xm = as_matrix(X, "X")
        yv = as_float_array(y, "y", ndim=1)
        n, d_in = Xm.shape
        if yv.shape[0] != n:
            raise InvalidInputError(f"y: has {yv.shape[0]} rows but X has {n}")
        layers = _check_layers(self.layers, d_in, depth)
        H = _features(Xm, layers)
        d = H.shape[1]
        Xa = np.hstack([H, np.ones((n, 1))]) if self.bias else H
        axes = self._resolved_axes()
        t0 = time.perf_counter()
        dic = wedge_dictionary(
            Xa,
            norm=self.norm,
            norm_dims=d,
            axes=axes,
            features=self.features,
            n_features=self.n_features,
            seed=self.seed,
            max_bytes=self.max_bytes,
            progress=self.progress,
        )
        t1 = time.perf_counter()
        if dic.values.shape[0] == 0:
            raise InvalidInputError(
                "X: every subset of factors is degenerate (zero wedge): the data span too few "
                "directions for a wedge dictionary in this dimension"
            )
        with progress_callback(self.progress, "WedgeLasso.fit") as cb:
            sol = _core.wedge_lasso(
                dic.values,
                yv,
                beta,
                intercept=bool(self.bias),
                tol=tol,
                max_iter=max_iter,
                progress=cb,
            )
        t2 = time.perf_counter()
        z = np.asarray(sol["z"])
        self.dictionary_ = dic
        self.coef_ = z
        self.intercept_ = float(sol["intercept"]) if self.bias else 0.0
        U, alpha, subsets = self._recover(dic, z)
        self.U_, self.alpha_ = U, alpha
        self.X_fit_shape_ = (n, d_in)
        self.layers_ = layers
        self.seed_ = dic.seed
        net = wedge_network_objective(
            Xm,
            yv,
            U,
            alpha,
            beta,
            norm=self.norm,
            bias=bool(self.bias),
            intercept=self.intercept_,
            layers=layers if layers else None,
        )
        primal, dual = float(sol["primal"]), float(sol["dual"])
        gap = primal - dual
        rel = gap / max(1.0, abs(primal))
        theorem = self._theorem(d)
        certified = theorem == "exact" and (net - dual) <= tol * max(1.0, abs(net))
        if not sol["converged"]:
            warnings.warn(
                f"WedgeLasso: relative duality gap {rel:.3e} above tol={tol:g} after "
                f"{max_iter} rounds",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.result_ = WedgeFitResult(
            beta=beta,
            norm=self.norm,
            bias=bool(self.bias),
            axes=axes,
            features=self.features,
            depth=depth,
            theorem=theorem,
            objective=primal,
            dual_objective=dual,
            duality_gap=gap,
            relative_gap=rel,
            network_objective=net,
            converged=bool(sol["converged"]),
            certified=bool(certified),
            n_iter=int(sol["n_iter"]),
            n_sweeps=int(sol["n_sweeps"]),
            n_subsets=dic.n_subsets,
            n_neurons=int(dic.values.shape[0]),
            n_degenerate=dic.n_degenerate,
            n_exact_signs=dic.n_exact_signs,
            n_exact_normals=dic.n_exact_normals,
            n_active=int(U.shape[1]),
            tol=tol,
            seed=dic.seed,
            intercept=self.intercept_,
            timings={"dictionary": t1 - t0, "lasso": t2 - t1, "total": time.perf_counter() - t0},
            U=U,
            alpha=alpha,
            subsets=subsets,
            dual_point=np.asarray(sol["theta"]),
            layers=[[W, b] for W, b in layers],
        )
        return self

    @staticmethod
    def _recover(dic: WedgeDictionary, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neurons u = σ√|z|·û (σ the orientation), α = sign(z)√|z| for each nonzero z."""
        active = np.flatnonzero(z)
        j = active // 2
        sigma = np.where(active % 2 == 0, 1.0, -1.0)
        s = np.sqrt(np.abs(z[active]))
        U = (dic.neurons[j] * (sigma * s)[:, None]).T
        alpha = np.sign(z[active]) * s
        return np.ascontiguousarray(U), alpha, dic.subsets[j]

    # -- using the fit -------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "U_"):
            raise HiddenConvexError("WedgeLasso is not fitted yet: call fit(X, y)")

    def to_network(self) -> tuple[np.ndarray, np.ndarray]:
        """(U of shape (k, m) — k + 1 rows with ``bias=True``, the last the biases —, α (m,)),
        the format of :meth:`ConvexReLU.to_network`; with ``bias=True`` the network also adds
        the output offset ``intercept_``: f(x) = Σ_j α_j (h̃(x)ᵀu_j)₊ + intercept_, where
        h(x) = x (k = d) for ``depth=2`` and the output of the fixed lower layers
        ``layers_`` otherwise (:meth:`to_layers` gives the whole network)."""
        self._check_fitted()
        return self.U_.copy(), self.alpha_.copy()

    def to_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The whole network as ReLU layers [(W_1, b_1), …, (W_{L−1}, b_{L−1})] (W_l of shape
        (d_{l−1}, d_l)) followed by the linear output ``f = h_{L−1}ᵀα + intercept_``: the fixed
        lower layers, then the recovered hidden layer (b = 0 without ``bias``). Returns copies."""
        self._check_fitted()
        U = self.U_
        k = U.shape[0] - int(bool(self.bias))
        b = U[k] if self.bias else np.zeros(U.shape[1])
        return [(W.copy(), bb.copy()) for W, bb in self.layers_] + [(U[:k].copy(), b.copy())]

    @property
    def theorem_(self) -> str:
        self._check_fitted()
        return self.result_.theorem

    @property
    def objective_(self) -> float:
        self._check_fitted()
        return self.result_.objective

    @property
    def dual_objective_(self) -> float:
        self._check_fitted()
        return self.result_.dual_objective

    @property
    def relative_gap_(self) -> float:
        self._check_fitted()
        return self.result_.relative_gap

    @property
    def certified_(self) -> bool:
        self._check_fitted()
        return self.result_.certified

    @property
    def n_active_(self) -> int:
        self._check_fitted()
        return self.result_.n_active

    def decision_function(self, X: Any) -> np.ndarray:
        """Network output f(X)."""
        self._check_fitted()
        Xm = as_matrix(X, "X")
        if Xm.shape[1] != self.X_fit_shape_[1]:
            raise InvalidInputError(
                f"X: expected {self.X_fit_shape_[1]} columns, got {Xm.shape[1]}"
            )
        H = _features(Xm, self.layers_)
        Xa = np.hstack([H, np.ones((H.shape[0], 1))]) if self.bias else H
        return np.maximum(Xa @ self.U_, 0.0) @ self.alpha_ + self.intercept_

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (regression): the network output."""
        return self.decision_function(X)

    def network_objective(self, X: Any, y: Any) -> float:
        """Non-convex objective of :meth:`to_network` on (X, y) (NumPy formula)."""
        self._check_fitted()
        return wedge_network_objective(
            X,
            y,
            self.U_,
            self.alpha_,
            float(self.beta),
            norm=self.norm,
            bias=bool(self.bias),
            intercept=self.intercept_,
            layers=self.layers_ if self.layers_ else None,
        )

    def summary(self) -> str:
        """A readable report of the fit and its certificate."""
        self._check_fitted()
        return self.result_.summary()

    def save(self, path: str | Path) -> Path:
        """Save the fit (its :class:`WedgeFitResult`, network included) without pickle."""
        self._check_fitted()
        return self.result_.save(path)

    @classmethod
    def load(cls, path: str | Path) -> WedgeLasso:
        """A fitted estimator rebuilt from a file written by :meth:`save`."""
        res = _load(path)
        if not isinstance(res, WedgeFitResult):
            raise InvalidInputError(f"path: holds a {type(res).__name__}, not a WedgeFitResult")
        layers = [
            (np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64))
            for W, b in res.layers
        ]
        est = cls(
            res.beta,
            depth=res.depth,
            layers=layers or None,
            norm=res.norm,
            bias=res.bias,
            axes=res.axes,
            features=res.features,
            seed=res.seed,
            tol=res.tol,
        )
        est.result_ = res
        est.U_ = np.asarray(res.U, dtype=np.float64)
        est.alpha_ = np.asarray(res.alpha, dtype=np.float64)
        est.intercept_ = float(res.intercept)
        est.layers_ = layers
        d = layers[0][0].shape[0] if layers else est.U_.shape[0] - int(bool(res.bias))
        est.X_fit_shape_ = (0, d)
        est.seed_ = res.seed
        return est


def plot_wedge_neurons(X: Any, model: WedgeLasso, path: Any, *, title: str | None = None) -> Path:
    """Draw the active wedge neurons of a fitted 2-D ``WedgeLasso`` (``bias=False``) over the
    chamber picture of X: the arrangement lines {u : x_iᵀu = 0} (grey), the samples (dots) and
    each active neuron u_j as an arrow, coloured by the sign of α_j — every arrow lies on an
    arrangement line, orthogonal to the sample it is the cross product of. Writes a PNG.
    """
    from .plot import pyplot, save_figure

    Xm = as_matrix(X, "X")
    model._check_fitted()
    if Xm.shape[1] != 2 or model.bias or model.layers_:
        raise InvalidInputError(
            "X: plot_wedge_neurons draws 2-D data of a two-layer fit without bias only"
        )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    r = 1.2 * float(np.max(np.linalg.norm(Xm, axis=1)))
    for x in Xm:
        t = np.array([-x[1], x[0]]) / np.linalg.norm(x) * r
        ax.plot([-t[0], t[0]], [-t[1], t[1]], color="0.8", lw=0.8, zorder=1)
    ax.scatter(Xm[:, 0], Xm[:, 1], s=14, color="k", zorder=3, label="samples")
    U, a = model.to_network()
    scale = r / max(1e-300, float(np.max(np.linalg.norm(U, axis=0)))) if U.shape[1] else 1.0
    for j in range(U.shape[1]):
        u = U[:, j] * scale
        ax.annotate(
            "",
            xy=(u[0], u[1]),
            xytext=(0, 0),
            arrowprops={
                "arrowstyle": "->",
                "color": "tab:red" if a[j] > 0 else "tab:blue",
                "lw": 1.6,
            },
            zorder=4,
        )
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_title(title or f"wedge neurons (active {U.shape[1]}): red α>0, blue α<0")
    return save_figure(fig, path, tight=True)


def compare_wedge(
    X: Any,
    y: Any,
    beta: float,
    *,
    epochs: int = 2000,
    seed: int = 0,
    norm: WedgeNorm = "l2",
) -> list[dict[str, Any]]:
    """Time, objective and sparsity of the wedge Lasso, the exact convex program
    (:class:`~hiddenconvex.ConvexReLU`, same ℓ2 weight decay, no bias) and Adam on the non-convex
    objective at width m* (the convex program's active neurons), on one problem.

    Returns one dict per method: ``method``, ``seconds``, ``objective`` (the non-convex objective
    of the returned network, "sum" scaling), ``n_active``. With ``norm="l1"`` the wedge row is
    the ℓ1-regularised optimum (a different objective; reported as such).
    """
    from .convex import ConvexReLU
    from .nonconvex import train_relu_network

    Xm = as_matrix(X, "X")
    yv = as_float_array(y, "y", ndim=1)
    rows: list[dict[str, Any]] = []
    t = time.perf_counter()
    w = WedgeLasso(beta, norm=norm, tol=1e-8).fit(Xm, yv)
    rows.append(
        {
            "method": f"wedge Lasso ({norm}, {w.theorem_})",
            "seconds": time.perf_counter() - t,
            "objective": w.network_objective(Xm, yv),
            "n_active": w.n_active_,
        }
    )
    t = time.perf_counter()
    c = ConvexReLU(beta, tol=1e-8)
    c.fit(Xm, yv)
    rows.append(
        {
            "method": "exact convex program (ConvexReLU)",
            "seconds": time.perf_counter() - t,
            "objective": c.network_objective(Xm, yv),
            "n_active": int(c.n_active_),
        }
    )
    m = max(1, int(c.n_active_))
    t = time.perf_counter()
    tr = train_relu_network(Xm, yv, m, beta, optimizer="adam", epochs=epochs, seed=seed)
    rows.append(
        {
            "method": f"Adam (width {m}, {epochs} epochs)",
            "seconds": time.perf_counter() - t,
            "objective": float(tr.objective[-1]),
            "n_active": int(np.count_nonzero(np.abs(tr.alpha) > 1e-8)),
        }
    )
    return rows
