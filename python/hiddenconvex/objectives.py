"""Objectives: functions of a flat float64 parameter vector θ ∈ R^D.

Two kinds are accepted everywhere an ``objective`` is expected (Hessians, midpoint tests, slices):

- a native objective (a subclass of :class:`Objective`, evaluated in Rust: value, a rounding-error
  scale Σ|summands| used for condition-aware tolerances, and an analytic gradient);
- any Python callable, wrapped by :class:`CallableObjective`: scalar ``f(theta) -> float`` or
  vectorised ``f(Theta) -> (B,)`` for ``Theta`` of shape (B, D). hiddenconvex builds each batch of
  points in Rust and calls Python once per batch (vectorised) or once per point (scalar), always from
  the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from ._typing import HiddenActivation, ICNNActivation, NonNeg, ObjectiveLoss, TwoLayerLoss
from ._validation import (
    as_float_array,
    as_matrix,
    check_allocation,
    check_bool,
    check_choice,
    check_float,
    check_int,
    encode_pm1,
    resolve_seed,
)
from .exceptions import InvalidInputError, InvalidTypeError

if TYPE_CHECKING:
    from ._core import _Activation, _Loss, _NonNeg

__all__ = [
    "ICNN",
    "MLP",
    "CallableObjective",
    "HingeLoss",
    "ICNNInput",
    "LeastSquares",
    "LinearModel",
    "LogisticRegression",
    "Objective",
    "Quadratic",
    "TwoLayerReLU",
    "as_objective",
]

_LOSSES: tuple[_Loss, ...] = ("squared", "logistic", "hinge", "squared_hinge")
_ACTIVATIONS: tuple[_Activation, ...] = ("relu", "tanh", "softplus", "sigmoid")
_ICNN_ACTIVATIONS: tuple[ICNNActivation, ...] = ("relu", "softplus")
_NONNEG: tuple[_NonNeg, ...] = ("softplus", "clip")


class Objective:
    """Base class of native objectives (a thin handle on a Rust object).

    Subclasses build ``self._native`` (a ``hiddenconvex._core.NativeObjective``) and document
    the parameter layout of θ with :meth:`flatten` / :meth:`unflatten`.
    """

    _native: Any
    _init_args: tuple[tuple[Any, ...], dict[str, Any]]

    # -- pickling: transport between processes (files on disk use save/load, never pickle) --
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        # The constructor's arguments: unpickling calls the constructor again with them, which
        # rebuilds the Rust handle (not picklable itself) and repeats the validation.
        self._init_args = (args, kwargs)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as ``(type(self), constructor arguments)``: the copy is built by the constructor.

        The arguments are those the object was constructed with, so the copy evaluates exactly
        as the original (an array mutated in place after construction would be pickled in its
        new state: do not mutate the data of a live objective).
        """
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        return (_rebuild_objective, (type(self), args, kwargs))

    @property
    def dim(self) -> int:
        """D, the length of θ."""
        return int(self._native.dim)

    @property
    def name(self) -> str:
        return str(self._native.name)

    @property
    def has_gradient(self) -> bool:
        return bool(self._native.has_gradient)

    def _theta(self, theta: Any, name: str = "theta") -> np.ndarray:
        t = as_float_array(theta, name, ndim=1)
        if t.shape[0] != self.dim:
            raise InvalidInputError(f"{name}: expected length {self.dim}, got {t.shape[0]}")
        return t

    def value(self, theta: Any) -> float:
        """f(θ)."""
        return float(self._native.value_and_scale(self._theta(theta))[0])

    def __call__(self, theta: Any) -> float:
        return self.value(theta)

    def value_and_scale(self, theta: Any) -> tuple[float, float]:
        """(f(θ), s(θ)) with s = Σ|summands| ≥ |f| (rounding error of f ≲ eps · D_eff · s)."""
        f, s = self._native.value_and_scale(self._theta(theta))
        return float(f), float(s)

    def values(self, thetas: Any) -> np.ndarray:
        """f at every row of ``thetas`` (B, D), in parallel in Rust."""
        pts = as_float_array(thetas, "thetas", ndim=2)
        if pts.shape[1] != self.dim:
            raise InvalidInputError(f"thetas: expected {self.dim} columns, got {pts.shape[1]}")
        return np.asarray(self._native.values_and_scales(pts)[0])

    def gradient(self, theta: Any) -> np.ndarray:
        """∇f(θ) (analytic)."""
        return np.asarray(self._native.value_and_gradient(self._theta(theta))[1])

    def value_and_gradient(self, theta: Any) -> tuple[float, np.ndarray]:
        f, g = self._native.value_and_gradient(self._theta(theta))
        return float(f), np.asarray(g)

    def gradients(self, thetas: Any) -> np.ndarray:
        """∇f at every row of ``thetas`` (B, D) → (B, D), in parallel in Rust."""
        pts = as_float_array(thetas, "thetas", ndim=2)
        if pts.shape[1] != self.dim:
            raise InvalidInputError(f"thetas: expected {self.dim} columns, got {pts.shape[1]}")
        return np.asarray(self._native.gradients(pts)[1])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, dim={self.dim})"


def _rebuild_objective(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Unpickling of a native objective: call its constructor with the recorded arguments."""
    return cls(*args, **kwargs)


class CallableObjective:
    """A Python function as an objective.

    Parameters
    ----------
    f : callable
        ``f(theta) -> float`` for ``theta`` of shape (D,), or with ``vectorized=True``
        ``f(Theta) -> array (B,)`` for ``Theta`` of shape (B, D).
    dim : int
        D.
    vectorized : bool
        Whether ``f`` (and ``gradient``) take a batch. Vectorised callables are called once per
        batch.
    gradient : callable, optional
        ∇f, with the same convention: ``gradient(theta (D,)) -> (D,)``, or with ``vectorized=True``
        ``gradient(Theta (B, D)) -> (B, D)``. With it, :func:`~hiddenconvex.hessian` uses the
        gradients method (finite differences of this gradient) and the spectral functions
        (:func:`~hiddenconvex.hvp`, :func:`~hiddenconvex.eigenvalues`,
        :func:`~hiddenconvex.spectral_density`) need no ``gradient=``.
    """

    def __init__(
        self,
        f: Callable[..., Any],
        dim: int,
        *,
        vectorized: bool = False,
        gradient: Callable[..., Any] | None = None,
    ) -> None:
        if not callable(f):
            raise InvalidTypeError(f"f: expected a callable, got {type(f).__name__}")
        if gradient is not None and not callable(gradient):
            raise InvalidTypeError(f"gradient: expected a callable, got {type(gradient).__name__}")
        self.f = f
        self.dim = check_int(dim, "dim", minimum=1)
        self.vectorized = check_bool(vectorized, "vectorized")
        self.name = getattr(f, "__name__", "callable")
        self.gradient_fn = gradient
        self.has_gradient = gradient is not None

    def values(self, thetas: Any) -> np.ndarray:
        pts = as_float_array(thetas, "thetas", ndim=2)
        return np.asarray(_core.eval_batch(self.f, pts, self.dim, self.vectorized)[0])

    def value(self, theta: Any) -> float:
        t = as_float_array(theta, "theta", ndim=1)
        return float(self.values(t[None, :])[0])

    def __call__(self, theta: Any) -> float:
        return self.value(theta)

    def gradients(self, thetas: Any) -> np.ndarray:
        """∇f at every row of ``thetas`` (B, D) → (B, D) (needs ``gradient=``)."""
        if self.gradient_fn is None:
            raise InvalidInputError(f"objective: {self.name} has no gradient (gradient=)")
        pts = as_float_array(thetas, "thetas", ndim=2)
        if pts.shape[1] != self.dim:
            raise InvalidInputError(f"thetas: expected {self.dim} columns, got {pts.shape[1]}")
        if self.vectorized:
            g = np.asarray(self.gradient_fn(pts), dtype=np.float64)
        else:
            g = np.array([np.asarray(self.gradient_fn(t), dtype=np.float64) for t in pts])
        if g.shape != pts.shape:
            raise InvalidInputError(
                f"gradient: expected shape {pts.shape} for an input of shape {pts.shape}, "
                f"got {g.shape}"
            )
        return g

    def gradient(self, theta: Any) -> np.ndarray:
        """∇f(θ) (needs ``gradient=``)."""
        t = as_float_array(theta, "theta", ndim=1)
        return self.gradients(t[None, :])[0]

    def __repr__(self) -> str:
        kind = "vectorised" if self.vectorized else "scalar"
        return f"{type(self).__name__}({self.name}, dim={self.dim}, {kind})"


def as_objective(
    objective: Any, dim: int | None = None, *, vectorized: bool = False
) -> Objective | CallableObjective:
    """Coerce ``objective`` to an :class:`Objective` or :class:`CallableObjective`.

    A callable needs ``dim`` (D; the capabilities infer it from their points with
    :func:`infer_dim` when they are given). Returns the object the capabilities pass to the core: use
    :func:`core_handle` to get ``(handle, dim, vectorized)`` for a ``_core`` call.
    """
    check_bool(vectorized, "vectorized")
    if isinstance(objective, (Objective, CallableObjective)):
        if dim is not None and int(dim) != objective.dim:
            raise InvalidInputError(f"dim: the objective has dimension {objective.dim}, got {dim}")
        return objective
    if callable(objective):
        if dim is None:
            raise InvalidInputError("dim: a Python callable objective needs its dimension D (dim=)")
        return CallableObjective(objective, dim, vectorized=vectorized)
    raise InvalidTypeError(
        f"objective: expected a hiddenconvex objective or a callable, got {type(objective).__name__}"
    )


def infer_dim(objective: Any, dim: int | None, *arrays: Any) -> int | None:
    """``dim`` for a Python callable, inferred from the first given array when not given.

    Returns ``dim`` unchanged when it is given or ``objective`` is not a bare callable; else the
    length of the last axis of the first of ``arrays`` that is not ``None`` (a point, a batch of
    points, a center, or a pair ``(A, B)`` / an object with an ``a`` attribute), or ``None``.
    """
    if dim is not None or isinstance(objective, (Objective, CallableObjective)):
        return dim
    for arr in arrays:
        if arr is None:
            continue
        if hasattr(arr, "a") and hasattr(arr, "b"):
            arr = arr.a
        elif isinstance(arr, (tuple, list)) and len(arr) == 2 and np.ndim(arr[0]) == 2:
            arr = arr[0]
        shape = np.shape(arr)
        if len(shape) >= 1 and shape[-1] > 0:
            return int(shape[-1])
    return None


def core_handle(objective: Objective | CallableObjective) -> tuple[Any, int, bool]:
    """``(handle, dim, vectorized)`` as the ``_core`` functions take them."""
    if isinstance(objective, Objective):
        return objective._native, objective.dim, False
    return objective.f, objective.dim, objective.vectorized


# ---- concrete native objectives ------------------------------------------------------------


def _targets(y: Any, n: int, loss: str, *, allow_matrix: bool = False) -> np.ndarray:
    """Targets as an (n, c) float64 matrix; classification labels {0,1} or {-1,+1} → ±1."""
    arr = as_float_array(y, "y", ndim=(1, 2) if allow_matrix else 1)
    if arr.shape[0] != n:
        raise InvalidInputError(f"y: expected {n} entries (one per row of X), got {arr.shape[0]}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if loss != "squared":
        if arr.shape[1] != 1:
            raise InvalidInputError(f"y: the {loss} loss needs one output column")
        vals = set(np.unique(arr).tolist())
        if vals <= {0.0, 1.0}:
            arr = encode_pm1(arr, 1.0)
        elif not vals <= {-1.0, 1.0}:
            raise InvalidInputError(
                f"y: labels for the {loss} loss must be in {{0, 1}} or {{-1, +1}}, "
                f"got values {sorted(vals)[:5]}"
            )
    return np.ascontiguousarray(arr)


def _normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))


class Quadratic(Objective):
    """f(θ) = ½ θᵀAθ + bᵀθ + c with A symmetric (made exactly symmetric as (A + Aᵀ)/2).

    Hessian A everywhere: convex iff A is PSD. θ is the flat vector itself (D = len(b)).

    Raises
    ------
    InvalidInputError
        A not square, b of the wrong length, NaN/inf.
    """

    def __init__(self, A: Any, b: Any = None, c: float = 0.0) -> None:
        A = as_matrix(A, "A")
        if A.shape[0] != A.shape[1]:
            raise InvalidInputError(f"A: expected a square matrix, got shape {A.shape}")
        self.A = np.ascontiguousarray(0.5 * (A + A.T))
        self.b = np.zeros(A.shape[0]) if b is None else as_float_array(b, "b", ndim=1)
        self.c = check_float(c, "c")
        self._native = _core.quadratic_objective(self.A, self.b, self.c)

    def flatten(self, theta: Any) -> np.ndarray:
        """θ itself (the layout is the identity)."""
        return self._theta(theta).copy()

    def unflatten(self, theta: Any) -> np.ndarray:
        """θ itself (the layout is the identity)."""
        return self._theta(theta).copy()


class LinearModel(Objective):
    r"""A linear model on data (X, y): :math:`F(w, b) = \sum_i \ell(x_i \cdot w + b, y_i) + \tfrac{l2}{2}\|w\|^2`.

    Sum convention (not the mean over samples); the bias is not regularised.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Data.
    y : array_like, shape (n,)
        Targets. For the classification losses, labels in {0, 1} or {-1, +1} (0 is read as -1).
    loss : {"squared", "logistic", "hinge", "squared_hinge"}
        ``squared``: ½(f − y)²; ``logistic``: log(1 + exp(−y f)) (binary cross-entropy on the logit
        f); ``hinge``: max(0, 1 − y f); ``squared_hinge``: max(0, 1 − y f)² (no ½).
    bias : bool
        Whether to fit an intercept b.
    l2 : float
        Ridge weight (≥ 0).

    Notes
    -----
    Flat layout: θ = [w_1, …, w_d, b] (b only when ``bias=True``), D = d + bias.
    The hinge loss has a kink at y f = 1; its "gradient" there is 0 (the derivative of its flat
    side).

    Raises
    ------
    InvalidInputError
        Shapes, NaN/inf, labels outside {0,1}/{−1,+1} for classification, l2 < 0.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        loss: ObjectiveLoss = "squared",
        bias: bool = False,
        l2: float = 0.0,
    ) -> None:
        self.X = as_matrix(X, "X")
        self.loss = check_choice(loss, "loss", _LOSSES)
        self.y = _targets(y, self.X.shape[0], self.loss)[:, 0]
        self.bias = check_bool(bias, "bias")
        self.l2 = check_float(l2, "l2", minimum=0.0)
        d = self.X.shape[1]
        name = f"{type(self).__name__} ({self.loss} loss, d={d}{', bias' if self.bias else ''})"
        self._native = _core.mlp_objective(
            self.X, self.y[:, None], [d, 1], ["identity"], [self.bias], self.loss, self.l2, name
        )

    def flatten(self, w: Any, b: float | None = None) -> np.ndarray:
        """θ from the weights ``w`` (d,) and, with ``bias=True``, the intercept ``b``."""
        w = as_float_array(w, "w", ndim=1)
        if w.shape[0] != self.X.shape[1]:
            raise InvalidInputError(f"w: expected length {self.X.shape[1]}, got {w.shape[0]}")
        if self.bias:
            return np.concatenate([w, [0.0 if b is None else float(b)]])
        if b is not None:
            raise InvalidInputError("b: this model has no bias (bias=False)")
        return w.copy()

    def unflatten(self, theta: Any) -> dict[str, Any]:
        """``{"w": (d,), "b": float or None}``."""
        t = self._theta(theta)
        d = self.X.shape[1]
        return {"w": t[:d].copy(), "b": float(t[d]) if self.bias else None}

    def predict(self, theta: Any, X: Any | None = None) -> np.ndarray:
        """x·w + b for every row of ``X`` (default: the training data)."""
        p = self.unflatten(theta)
        Xm = self.X if X is None else as_matrix(X, "X")
        return Xm @ p["w"] + (p["b"] or 0.0)


class LeastSquares(LinearModel):
    """½‖Xw (+ b) − y‖² + (l2/2)‖w‖² (sum convention). See :class:`LinearModel`."""

    def __init__(self, X: Any, y: Any, *, bias: bool = False, l2: float = 0.0) -> None:
        super().__init__(X, y, loss="squared", bias=bias, l2=l2)


class LogisticRegression(LinearModel):
    """Σ_i log(1 + exp(−y_i (x_i·w + b))) + (l2/2)‖w‖², labels {0,1} or {−1,+1}.

    Equal to the binary cross-entropy Σ −[t log p + (1−t) log(1−p)] with p = σ(x·w + b) and
    t = (y + 1)/2. See :class:`LinearModel`.
    """

    def __init__(self, X: Any, y: Any, *, bias: bool = False, l2: float = 0.0) -> None:
        super().__init__(X, y, loss="logistic", bias=bias, l2=l2)


class HingeLoss(LinearModel):
    """Σ_i max(0, 1 − y_i f_i) (or its square with ``squared=True``) + (l2/2)‖w‖².

    See :class:`LinearModel`.
    """

    def __init__(
        self, X: Any, y: Any, *, squared: bool = False, bias: bool = False, l2: float = 0.0
    ) -> None:
        super().__init__(X, y, loss="squared_hinge" if squared else "hinge", bias=bias, l2=l2)


class MLP(Objective):
    r"""A fully connected network's training loss.

    h_0 = x, h_{k+1} = g(W_k h_k + b_k) (k < L−1), f(x) = W_{L−1} h_{L−1} + b_{L−1} (linear output);
    :math:`F(\theta) = \sum_i \sum_o \ell(f_o(x_i), y_{io}) + \tfrac{\lambda}{2}\sum_k \|W_k\|_F^2`
    (sum convention; biases are not decayed).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, c)
        Targets (c outputs for the squared loss; one column of labels {0,1}/{−1,+1} otherwise).
    hidden : sequence of int
        Hidden widths (n_1, …, n_{L−1}); may be empty (a linear model).
    activation : {"relu", "tanh", "softplus", "sigmoid"}
        Hidden activation g (ReLU'(0) := 0).
    loss : {"squared", "logistic", "hinge", "squared_hinge"}
        As in :class:`LinearModel`.
    weight_decay : float
        λ ≥ 0.
    bias : bool
        Biases in every layer.

    Notes
    -----
    W_k has shape (n_{k+1}, n_k) (PyTorch's convention). Flat layout: for each layer k, W_k
    row-major then b_k. :meth:`unit_indices` gives, for hidden layer ``layer``, the θ indices of
    each unit j: row j of W_layer, b_layer[j], column j of W_{layer+1}.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        hidden: Any = (),
        *,
        activation: HiddenActivation = "relu",
        loss: ObjectiveLoss = "squared",
        weight_decay: float = 0.0,
        bias: bool = True,
    ) -> None:
        self.X = as_matrix(X, "X")
        self.loss = check_choice(loss, "loss", _LOSSES)
        self.Y = _targets(y, self.X.shape[0], self.loss, allow_matrix=True)
        self.activation = check_choice(activation, "activation", _ACTIVATIONS)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (Sequence, np.ndarray)):
            raise InvalidTypeError(
                f"hidden: expected a sequence of widths (e.g. [{hidden!r}]), got "
                f"{type(hidden).__name__}"
            )
        self.hidden = [check_int(h, "hidden", minimum=1) for h in hidden]
        self.weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
        self.bias = check_bool(bias, "bias")
        self.widths = [self.X.shape[1], *self.hidden, self.Y.shape[1]]
        nl = len(self.widths) - 1
        n_params = sum(self.widths[k] * self.widths[k + 1] + self.widths[k + 1] for k in range(nl))
        check_allocation(
            8 * (4 * n_params + 3 * self.X.shape[0] * sum(self.widths[1:])),
            f"{type(self).__name__}: a network of widths {self.widths} ({n_params} parameters, "
            f"activations of {self.X.shape[0]} samples; argument {self._width_arg})",
            hint="use narrower layers",
        )
        self._bias_flags = self._layer_bias_flags(nl)
        acts = [self.activation] * (nl - 1) + ["identity"]
        self._native = _core.mlp_objective(
            self.X, self.Y, self.widths, acts, self._bias_flags, self.loss,
            self.weight_decay, self._name(),
        )  # fmt: skip
        self._offsets = []
        off = 0
        for k in range(nl):
            n_in, n_out = self.widths[k], self.widths[k + 1]
            w_off = off
            off += n_in * n_out
            b_off = off if self._bias_flags[k] else None
            off += n_out if self._bias_flags[k] else 0
            self._offsets.append((w_off, b_off))
        assert off == self.dim

    _width_arg = "hidden"

    def _layer_bias_flags(self, nl: int) -> list[bool]:
        return [self.bias] * nl

    def _name(self) -> str:
        return (
            f"MLP(widths={self.widths}, {self.activation}, {self.loss} loss"
            f"{', wd=' + repr(self.weight_decay) if self.weight_decay else ''})"
        )

    @property
    def n_layers(self) -> int:
        """L, the number of weight matrices."""
        return len(self.widths) - 1

    def flatten(self, weights: Any, biases: Any = None) -> np.ndarray:
        """θ from ``weights`` (list of W_k, shape (n_{k+1}, n_k)) and ``biases`` (list of b_k)."""
        weights = list(weights)
        if len(weights) != self.n_layers:
            raise InvalidInputError(
                f"weights: expected {self.n_layers} matrices, got {len(weights)}"
            )
        if biases is None:
            biases = [None] * self.n_layers
        biases = list(biases)
        if len(biases) != self.n_layers:
            raise InvalidInputError(f"biases: expected {self.n_layers} vectors, got {len(biases)}")
        parts = []
        for k in range(self.n_layers):
            shape = (self.widths[k + 1], self.widths[k])
            W = as_float_array(weights[k], f"weights[{k}]", ndim=2)
            if W.shape != shape:
                raise InvalidInputError(f"weights[{k}]: expected shape {shape}, got {W.shape}")
            parts.append(W.ravel())
            if self._bias_flags[k]:
                b = (
                    np.zeros(shape[0])
                    if biases[k] is None
                    else as_float_array(biases[k], f"biases[{k}]", ndim=1)
                )
                if b.shape != (shape[0],):
                    raise InvalidInputError(f"biases[{k}]: expected length {shape[0]}")
                parts.append(b)
            elif biases[k] is not None:
                raise InvalidInputError(f"biases[{k}]: layer {k} has no bias")
        return np.concatenate(parts)

    def unflatten(self, theta: Any) -> dict[str, list[Any]]:
        """``{"weights": [W_k], "biases": [b_k or None]}``."""
        t = self._theta(theta)
        ws: list[Any] = []
        bs: list[Any] = []
        for k, (w_off, b_off) in enumerate(self._offsets):
            n_in, n_out = self.widths[k], self.widths[k + 1]
            ws.append(t[w_off : w_off + n_in * n_out].reshape(n_out, n_in).copy())
            bs.append(None if b_off is None else t[b_off : b_off + n_out].copy())
        return {"weights": ws, "biases": bs}

    def unit_indices(self, layer: int = 0) -> list[np.ndarray]:
        """θ indices of each unit j of hidden layer ``layer`` (0-based): incoming row of W_layer,
        b_layer[j] (if any), outgoing column of W_{layer+1}. Swapping two units' blocks leaves
        the network function unchanged (the permutation symmetry)."""
        n_hidden = self.n_layers - 1
        layer = check_int(layer, "layer", minimum=0)
        if layer >= n_hidden:
            raise InvalidInputError(f"layer: the network has {n_hidden} hidden layers, got {layer}")
        n_in, n_unit, n_next = self.widths[layer], self.widths[layer + 1], self.widths[layer + 2]
        w_off, b_off = self._offsets[layer]
        w2_off, _ = self._offsets[layer + 1]
        out = []
        for j in range(n_unit):
            idx = list(range(w_off + j * n_in, w_off + (j + 1) * n_in))
            if b_off is not None:
                idx.append(b_off + j)
            idx.extend(w2_off + o * n_unit + j for o in range(n_next))
            out.append(np.asarray(idx, dtype=np.intp))
        return out

    def init(self, seed: Any = None) -> np.ndarray:
        """A random θ: W_k ~ N(0, 1/n_k) entrywise, zero biases (``seed`` as in the package)."""
        rng = np.random.default_rng(resolve_seed(seed))
        ws = [
            _normal(rng, (self.widths[k + 1], self.widths[k]), self.widths[k])
            for k in range(self.n_layers)
        ]
        return self.flatten(ws)

    def predict(self, theta: Any, X: Any | None = None) -> np.ndarray:
        """Network outputs (n, c) on ``X`` (default: the training data), in NumPy."""
        p = MLP.unflatten(self, theta)  # the layer-list layout, also for subclasses
        h = self.X if X is None else as_matrix(X, "X")
        acts: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "relu": lambda z: np.maximum(z, 0.0),
            "tanh": np.tanh,
            "softplus": lambda z: np.logaddexp(0.0, z),
            "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
        }
        g = acts[self.activation]
        for k in range(self.n_layers):
            h = h @ p["weights"][k].T + (0.0 if p["biases"][k] is None else p["biases"][k])
            if k < self.n_layers - 1:
                h = g(h)
        return h


class TwoLayerReLU(MLP):
    r"""The two-layer ReLU network of the convex-training problem (Pilanci & Ergen 2020).

    f(x) = Σ_j (x·u_j + b_j)₊ α_j and

    .. math:: F(U, b, α) = \tfrac12 \sum_i (f(x_i) − y_i)^2
              + \tfrac{\beta}{2}\bigl(\|U\|_F^2 + \|α\|^2\bigr)

    (``loss="squared"``; sum convention, exactly ``p*`` of :class:`hiddenconvex.ConvexReLU` with
    ``scaling="sum"``), or Σ_i log(1 + exp(−y_i f(x_i))) + the same decay (``loss="logistic"``).
    Biases b_j (optional) are not decayed; there is no output bias.

    Notes
    -----
    Flat layout: θ = [u_1, …, u_m, b_1, …, b_m (if ``bias``), α_1, …, α_m], i.e. ``U.T.ravel()``
    for U of shape (d, m). :meth:`unit_indices` lists the indices (u_j, b_j, α_j) of each unit.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        m: int,
        *,
        beta: float = 0.0,
        bias: bool = False,
        loss: TwoLayerLoss = "squared",
    ) -> None:
        check_choice(loss, "loss", ("squared", "logistic"))
        self.m = check_int(m, "m", minimum=1)
        self.beta = check_float(beta, "beta", minimum=0.0)
        self._two_layer_bias = check_bool(bias, "bias")
        Xm = as_matrix(X, "X")
        yv = as_float_array(y, "y", ndim=1)
        super().__init__(
            Xm, yv, [self.m], activation="relu", loss=loss, weight_decay=self.beta, bias=bias
        )

    _width_arg = "m"

    def _layer_bias_flags(self, nl: int) -> list[bool]:
        return [self._two_layer_bias, False]

    def _name(self) -> str:
        return f"two-layer ReLU (m={self.m}, {self.loss} loss, beta={self.beta})"

    def flatten(  # type: ignore[override]
        self, U: Any, alpha: Any, b: Any = None
    ) -> np.ndarray:
        """θ from U (d, m), α (m,) and, with ``bias=True``, b (m,)."""
        U = as_float_array(U, "U", ndim=2)
        d = self.X.shape[1]
        if U.shape != (d, self.m):
            raise InvalidInputError(f"U: expected shape {(d, self.m)}, got {U.shape}")
        alpha = as_float_array(alpha, "alpha", ndim=1)
        if alpha.shape != (self.m,):
            raise InvalidInputError(f"alpha: expected length {self.m}, got {alpha.shape[0]}")
        return super().flatten([U.T, alpha[None, :]], [b, None])

    def unflatten(self, theta: Any) -> dict[str, Any]:
        """``{"U": (d, m), "b": (m,) or None, "alpha": (m,)}``."""
        p = super().unflatten(theta)
        return {"U": p["weights"][0].T.copy(), "b": p["biases"][0], "alpha": p["weights"][1][0]}

    def unit_indices(self, layer: int = 0) -> list[np.ndarray]:
        """θ indices (u_j, b_j, α_j) of each hidden unit j."""
        return super().unit_indices(layer)

    def init(self, seed: Any = None) -> np.ndarray:
        """A random θ: u_j ~ N(0, I/d), α_j ~ N(0, 1/m), zero biases."""
        rng = np.random.default_rng(resolve_seed(seed))
        d = self.X.shape[1]
        return self.flatten(_normal(rng, (d, self.m), d), _normal(rng, (self.m,), self.m))


class ICNN(Objective):
    r"""An input-convex neural network's training loss (Amos, Xu & Kolter 2017).

    z_1 = g(W_0^x x + b_0), z_{k+1} = g(W_k^z z_k + W_k^x x + b_k), f(x) = W_L^z z_L + W_L^x x + b_L
    with W_k^z ≥ 0 and g ∈ {ReLU, softplus} convex non-decreasing, so f is convex in x. The
    non-negative weights are parametrised by unconstrained V_k: W_k^z = softplus(V_k)
    (``nonneg="softplus"``, smooth) or max(V_k, 0) (``nonneg="clip"``).

    F(θ) = Σ_i ℓ(f(x_i), y_i) + (λ/2)(Σ‖V_k‖² + Σ‖W_k^x‖²) (sum convention, biases not decayed).
    As a function of the weights F is in general not convex; :meth:`as_input_function` gives
    x ↦ f(x; θ), which is.

    Notes
    -----
    Flat layout, layer by layer k = 0..L: V_k (n_{k+1}, n_k) row-major (absent for k = 0),
    W_k^x (n_{k+1}, d) row-major, b_k (n_{k+1}); n_{L+1} = 1.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        hidden: Any,
        *,
        activation: ICNNActivation = "relu",
        nonneg: NonNeg = "softplus",
        loss: ObjectiveLoss = "squared",
        weight_decay: float = 0.0,
    ) -> None:
        self.X = as_matrix(X, "X")
        self.loss = check_choice(loss, "loss", _LOSSES)
        self.y = _targets(y, self.X.shape[0], self.loss)[:, 0].copy()
        self.hidden = [check_int(h, "hidden", minimum=1) for h in hidden]
        if not self.hidden:
            raise InvalidInputError("hidden: an ICNN needs at least one hidden layer")
        self.activation = check_choice(activation, "activation", _ICNN_ACTIVATIONS)
        self.nonneg = check_choice(nonneg, "nonneg", _NONNEG)
        self.weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
        self._native = _core.icnn_objective(
            self.X, self.y, self.hidden, self.activation, self.nonneg, self.loss, self.weight_decay
        )
        d = self.X.shape[1]
        self._blocks: list[tuple[str, int, tuple[int, ...]]] = []
        off = 0
        n_z = 0
        for k, n_out in enumerate([*self.hidden, 1]):
            if k > 0:
                self._blocks.append(("V", off, (n_out, n_z)))
                off += n_out * n_z
            self._blocks.append(("Wx", off, (n_out, d)))
            off += n_out * d
            self._blocks.append(("b", off, (n_out,)))
            off += n_out
            n_z = n_out
        assert off == self.dim

    @property
    def n_layers(self) -> int:
        """L + 1, the number of layers including the linear output."""
        return len(self.hidden) + 1

    def unflatten(self, theta: Any) -> dict[str, list[Any]]:
        """``{"V": [None, V_1, …, V_L], "Wx": [W_0^x, …], "b": [b_0, …]}`` (raw parameters;
        the hidden-path weights actually used are p(V_k))."""
        t = self._theta(theta)
        out: dict[str, list[Any]] = {"V": [None], "Wx": [], "b": []}
        for kind, off, shape in self._blocks:
            size = int(np.prod(shape))
            out[kind].append(t[off : off + size].reshape(shape).copy())
        return out

    def flatten(self, V: Any, Wx: Any, b: Any) -> np.ndarray:
        """θ from the lists ``V`` (V[0] ignored / None), ``Wx`` and ``b`` (see :meth:`unflatten`)."""
        lists = {"V": list(V), "Wx": list(Wx), "b": list(b)}
        counters = {"V": 1, "Wx": 0, "b": 0}
        parts = []
        for kind, _, shape in self._blocks:
            k = counters[kind]
            counters[kind] += 1
            if k >= len(lists[kind]):
                raise InvalidInputError(f"{kind}: expected {self.n_layers} entries")
            a = as_float_array(lists[kind][k], f"{kind}[{k}]", ndim=len(shape))
            if a.shape != shape:
                raise InvalidInputError(f"{kind}[{k}]: expected shape {shape}, got {a.shape}")
            parts.append(a.ravel())
        return np.concatenate(parts)

    def init(self, seed: Any = None) -> np.ndarray:
        """A random θ: entries N(0, 1/fan_in) (V_k shifted by −1 so softplus(V) is small), b = 0."""
        rng = np.random.default_rng(resolve_seed(seed))
        t = np.zeros(self.dim)
        d = self.X.shape[1]
        for kind, off, shape in self._blocks:
            size = int(np.prod(shape))
            if kind == "V":
                t[off : off + size] = _normal(rng, (size,), shape[1]) - 1.0
            elif kind == "Wx":
                t[off : off + size] = _normal(rng, (size,), d)
        return t

    def as_input_function(self, theta: Any) -> ICNNInput:
        """x ↦ f(x; θ) for fixed weights θ: a native objective of dimension d, convex in x."""
        return ICNNInput(self.X.shape[1], self.hidden, self._theta(theta),
                         activation=self.activation, nonneg=self.nonneg)  # fmt: skip


class ICNNInput(Objective):
    """An ICNN as a function of its input x ∈ R^d for fixed weights θ (see :class:`ICNN`).

    Convex in x. Built by :meth:`ICNN.as_input_function`, or directly from the input dimension,
    hidden widths and θ in :class:`ICNN`'s layout.
    """

    def __init__(
        self,
        d: int,
        hidden: Any,
        theta: Any,
        *,
        activation: ICNNActivation = "relu",
        nonneg: NonNeg = "softplus",
    ) -> None:
        self.d = check_int(d, "d", minimum=1)
        self.hidden = [check_int(h, "hidden", minimum=1) for h in hidden]
        if not self.hidden:
            raise InvalidInputError("hidden: an ICNN needs at least one hidden layer")
        self.activation = check_choice(activation, "activation", _ICNN_ACTIVATIONS)
        self.nonneg = check_choice(nonneg, "nonneg", _NONNEG)
        self.theta = as_float_array(theta, "theta", ndim=1).copy()
        self._native = _core.icnn_input_objective(
            self.d, self.hidden, self.activation, self.nonneg, self.theta
        )

    def flatten(self, x: Any) -> np.ndarray:
        """The input x itself (the layout is the identity, D = d)."""
        return self._theta(x, "x").copy()

    def unflatten(self, x: Any) -> np.ndarray:
        """The input x itself (the layout is the identity, D = d)."""
        return self._theta(x, "x").copy()
