r"""PyTorch and JAX models as objectives: :func:`from_torch` and :func:`from_jax`.

A researcher's network is an ``nn.Module`` or a JAX function of a parameter pytree. These adapters
turn its training loss into an objective on the flat float64 parameter vector θ ∈ R^D that every
capability accepts (:func:`~hiddenconvex.hessian`, :func:`~hiddenconvex.midpoint_test`,
:func:`~hiddenconvex.hvp`, :func:`~hiddenconvex.eigenvalues`,
:func:`~hiddenconvex.spectral_density`, the slices and the report), and derive the model's
structure (per-layer groups, filter groups, hidden units) from the model.

What is exact and what is finite differences
--------------------------------------------
- Values and gradients come from the framework (``torch.func`` / ``jax``): the gradient is the
  framework's autodiff gradient, exact up to rounding (at a ReLU kink it is the framework's
  one-sided choice).
- :func:`~hiddenconvex.hessian` differentiates that gradient by central differences
  (``method="gradients"``, the default for these objectives), with the library's error estimates
  and kink flags: a stencil that crosses a ReLU kink is flagged, which autodiff Hessians cannot
  see (they differentiate one linear piece). The framework's own Hessian and Hessian-vector
  product are available as references (:meth:`TorchObjective.exact_hessian`,
  :meth:`TorchObjective.exact_hvp`, and the same on :class:`JaxObjective`).
- :func:`~hiddenconvex.hvp` / :func:`~hiddenconvex.eigenvalues` /
  :func:`~hiddenconvex.spectral_density` use central differences of the autodiff gradient
  (kink-aware, with error estimates).

Batches: every capability hands a batch of parameter vectors (B, D) to the objective at once;
the adapters evaluate it with ``torch.func.vmap`` / ``jax.vmap`` (jitted) in sub-batches of at most
``batch_size`` vectors, on the calling thread.

Ctrl-C: Python sees the signal between two calls of the framework. The one long call that
does not return to Python, JAX's XLA compilation of the jitted batch function (once per batch
shape, seconds for a large network), runs on a worker thread that the calling thread waits for
in 10 ms steps, so Ctrl-C raises ``KeyboardInterrupt`` at once; the abandoned compilation
finishes in the background and is discarded (the interpreter waits for it at exit). PyTorch
has no such step: ``torch.func`` runs the model eagerly, operation by operation.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ._interruptible import call_interruptibly
from ._validation import check_choice, check_int
from .exceptions import InvalidInputError, InvalidTypeError
from .objectives import CallableObjective

__all__ = ["JaxObjective", "TorchObjective", "from_jax", "from_torch"]

#: Bytes of intermediate activations allowed per sub-batch when ``batch_size`` is chosen
#: automatically (the vmapped forward and backward pass hold a few copies of them).
ACTIVATION_BUDGET = 1 << 28

_DTYPES = ("float64", "float32", "model")

# Activation modules between two affine layers, by the symmetries they keep.
#  - "relu": positively homogeneous (permutation + rescaling pairs)
#  - "odd":  odd (permutation + sign-flip pairs)
#  - "linear": both (identity, dropout in eval mode, flatten)
#  - "elementwise": permutation only
_TORCH_ACT = {
    "ReLU": "relu",
    "LeakyReLU": "relu",
    "Tanh": "odd",
    "Hardtanh": "odd",
    "Softsign": "odd",
    "Tanhshrink": "odd",
    "Identity": "linear",
    "Flatten": "linear",
    "Dropout": "linear",
    "MaxPool1d": "relu",
    "MaxPool2d": "relu",
    "AvgPool1d": "linear",
    "AvgPool2d": "linear",
    "AdaptiveAvgPool1d": "linear",
    "AdaptiveAvgPool2d": "linear",
    "AdaptiveMaxPool2d": "relu",
    "Sigmoid": "elementwise",
    "Softplus": "elementwise",
    "GELU": "elementwise",
    "SiLU": "elementwise",
    "ELU": "elementwise",
    "ReLU6": "elementwise",
}
_JAX_ACT = {
    "relu": "relu",
    "leaky_relu": "relu",
    "tanh": "odd",
    "identity": "linear",
    "linear": "linear",
    "sigmoid": "elementwise",
    "softplus": "elementwise",
    "gelu": "elementwise",
    "elementwise": "elementwise",
}


def _symmetries(kinds: list[str]) -> frozenset[str]:
    """The pair constructions valid across a chain of activation kinds (composition)."""
    sym = {"permutation", "rescaling", "sign_flip"}
    for k in kinds:
        if k == "relu":
            sym.discard("sign_flip")
        elif k == "odd":
            sym.discard("rescaling")
        elif k == "elementwise":
            sym -= {"rescaling", "sign_flip"}
    return frozenset(sym)


def _activation_name(kinds: list[str]) -> str:
    """A name the pair generators understand: "relu", "tanh", "identity" or "elementwise"."""
    sym = _symmetries(kinds)
    if {"rescaling", "sign_flip"} <= sym:
        return "identity"
    if "rescaling" in sym:
        return "relu"
    if "sign_flip" in sym:
        return "tanh"
    return "elementwise"


class _Layer:
    """One affine layer of the model: where its weight and bias sit in θ."""

    def __init__(
        self,
        name: str,
        kind: str,
        w_idx: np.ndarray,
        b_idx: np.ndarray | None,
        n_out: int,
        n_in: int,
    ) -> None:
        self.name = name
        self.kind = kind  # "linear" or "conv"
        self.w_idx = w_idx  # shape (n_out, fan-in...) of θ indices
        self.b_idx = b_idx  # shape (n_out,) or None
        self.n_out = n_out
        self.n_in = n_in
        self.after: list[str] = []  # activation kinds between this layer and the next one
        self.after_names: list[str] = []

    def rows(self) -> np.ndarray:
        return self.w_idx.reshape(self.n_out, -1)


class _Structured(CallableObjective):
    """Shared structure for both adapters: layers, groups, hidden units, symmetries."""

    _layers: list[_Layer]
    _param_idx: dict[str, np.ndarray]

    def groups(self) -> list[np.ndarray]:
        """Per-layer parameter groups: for each parameter tensor in θ (weight, bias, ...), its θ
        indices; affine layers group their weight and bias together. In θ order."""
        seen: set[str] = set()
        out: list[np.ndarray] = []
        for name, idx in self._param_idx.items():
            layer = self._owner(name)
            if layer is not None:
                if layer.name in seen:
                    continue
                seen.add(layer.name)
                parts = [layer.w_idx.ravel()] + ([] if layer.b_idx is None else [layer.b_idx])
                out.append(np.sort(np.concatenate(parts)).astype(np.int64))
            else:
                out.append(idx.ravel().astype(np.int64))
        return out

    def group_names(self) -> list[str]:
        """Names of :meth:`groups` (layer or parameter names), in the same order."""
        seen: set[str] = set()
        names: list[str] = []
        for name in self._param_idx:
            layer = self._owner(name)
            if layer is not None:
                if layer.name in seen:
                    continue
                seen.add(layer.name)
                names.append(layer.name)
            else:
                names.append(name)
        return names

    def _owner(self, pname: str) -> _Layer | None:
        for lay in self._layers:
            if pname in (f"{lay.name}.weight", f"{lay.name}.bias") or pname.startswith(
                lay.name + "/"
            ):
                return lay
        return None

    def filter_groups(self, *, include_biases: bool = False) -> list[np.ndarray]:
        """Filter groups (Li et al. 2018): one per output unit / channel of every affine layer
        (its incoming weights, with its bias when ``include_biases``); other parameters form one
        group per tensor."""
        out: list[np.ndarray] = []
        for lay in self._layers:
            rows = lay.rows()
            for j in range(lay.n_out):
                g = [rows[j]]
                if include_biases and lay.b_idx is not None:
                    g.append(lay.b_idx[j : j + 1])
                out.append(np.concatenate(g).astype(np.int64))
        for name, idx in self._param_idx.items():
            if self._owner(name) is None:
                out.append(idx.ravel().astype(np.int64))
        return out

    @property
    def n_hidden_layers(self) -> int:
        """Number of hidden layers with a unit structure (between consecutive affine layers)."""
        return max(len(self._layers) - 1, 0)

    @property
    def layer_names(self) -> list[str]:
        """Names of the affine layers found in the model, in the order of the forward pass."""
        return [lay.name for lay in self._layers]

    def _hidden(self, layer: int) -> tuple[_Layer, _Layer]:
        layer = check_int(layer, "layer", minimum=0)
        if layer >= self.n_hidden_layers:
            raise InvalidInputError(
                f"layer: the model has {self.n_hidden_layers} hidden layer(s) between affine "
                f"layers {self.layer_names}, got {layer}"
            )
        return self._layers[layer], self._layers[layer + 1]

    def unit_indices(self, layer: int = 0) -> list[dict[str, np.ndarray]]:
        """θ indices of each unit of hidden layer ``layer``: ``{"in", "out"}`` per unit.

        A unit is an output of affine layer ``layer`` (a row of a ``Linear`` weight, an output
        channel of a convolution): "in" = its incoming weights and bias, "out" = the weights of
        the next affine layer that read it (a column of a ``Linear`` weight; after a conv and a
        flatten, the block of columns of that channel; an input channel of a convolution).
        Swapping two units' blocks leaves the network function unchanged whatever the
        elementwise activation between the layers.
        """
        a, b = self._hidden(layer)
        if a.n_out != b.n_in and not (b.n_in % a.n_out == 0 and a.kind == "conv"):
            raise InvalidInputError(
                f"layer: {a.name} has {a.n_out} outputs but {b.name} reads {b.n_in}; no unit "
                "structure between them"
            )
        rows = a.rows()
        nxt = b.w_idx
        if b.kind == "linear":
            per = b.n_in // a.n_out  # spatial positions per channel after a flatten (1 for MLPs)
            cols = nxt.reshape(b.n_out, a.n_out, per)
            outs = [cols[:, j, :].ravel() for j in range(a.n_out)]
        else:  # conv weight (out, in, *kernel)
            outs = [nxt[:, j].ravel() for j in range(a.n_out)]
        units = []
        for j in range(a.n_out):
            inc = [rows[j]] + ([] if a.b_idx is None else [a.b_idx[j : j + 1]])
            units.append(
                {"in": np.concatenate(inc).astype(np.int64), "out": outs[j].astype(np.int64)}
            )
        return units

    def symmetries(self, layer: int = 0) -> frozenset[str]:
        """The pair constructions valid for hidden layer ``layer``: a subset of
        {"permutation", "rescaling", "sign_flip"} from the activations between its two layers
        (rescaling needs positively homogeneous ones such as ReLU, sign flips odd ones)."""
        a, _ = self._hidden(layer)
        return _symmetries(a.after)

    def hidden_activation(self, layer: int = 0) -> str:
        """ "relu", "tanh" (odd), "identity" or "elementwise": the symmetry class of the
        activations between the two affine layers of hidden layer ``layer``."""
        a, _ = self._hidden(layer)
        return _activation_name(a.after)

    @property
    def activation(self) -> str:
        """The symmetry class of hidden layer 0 (see :meth:`hidden_activation`)."""
        return self.hidden_activation(0) if self.n_hidden_layers else "identity"


@contextlib.contextmanager
def _quiet_torch_jit() -> Iterator[None]:
    """Silence torch's own deprecation warning for ``torch.jit.script``, which its forward-mode
    AD emits the first time it loads its decompositions (``torch.func.jvp`` / ``hessian``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        yield


#: Multiply-adds allowed per call of the compiled batch function when ``batch_size`` is chosen
#: automatically (about n·D per parameter vector): a few tens of ms, so Ctrl-C, which Python sees
#: between calls, is honoured promptly.
WORK_BUDGET = 1 << 27


def _auto_batch(
    per_vector_bytes: float, batch_size: int | None, per_vector_work: float = 0.0
) -> int:
    if batch_size is not None:
        return check_int(batch_size, "batch_size", minimum=1)
    by_memory = ACTIVATION_BUDGET // max(per_vector_bytes, 1.0)
    by_work = WORK_BUDGET // max(per_vector_work, 1.0)
    return int(max(1, min(4096, by_memory, by_work)))


# =============================================================================================
# PyTorch
# =============================================================================================
def _import_torch() -> Any:
    try:
        import torch
        import torch.func  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "hiddenconvex.from_torch needs PyTorch: pip install 'hiddenconvex[torch]'"
        ) from e
    return torch


class TorchObjective(_Structured):
    r"""The training loss of a PyTorch model as a function of its flat parameter vector.

    ``F(θ) = loss_fn(model(X; θ), y)``, evaluated with ``torch.func.functional_call`` (the
    model's own parameters are never modified). Build it with :func:`from_torch`.

    Attributes
    ----------
    theta0 : ndarray (D,)
        The model's parameters at construction, flattened (θ's layout: :attr:`parameter_names`
        in ``model.named_parameters()`` order, each tensor row-major).
    parameter_names : list of str
        The trainable parameters in θ (``requires_grad=False`` parameters are frozen: held at
        their values, not in θ).
    frozen : list of str
        The frozen parameters.
    """

    def __init__(
        self,
        model: Any,
        loss_fn: Callable[..., Any],
        X: Any,
        y: Any,
        *,
        batch_size: int | None = None,
        dtype: str = "float64",
        buffers: str = "error",
    ) -> None:
        torch = _import_torch()
        self._args = (model, loss_fn, X, y)
        self._kwargs = {"batch_size": batch_size, "dtype": dtype, "buffers": buffers}
        if not isinstance(model, torch.nn.Module):
            raise InvalidTypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise InvalidTypeError(f"loss_fn: expected a callable, got {type(loss_fn).__name__}")
        dtype = check_choice(dtype, "dtype", _DTYPES)
        buffers = check_choice(buffers, "buffers", ("error", "frozen"))
        params = list(model.named_parameters())
        if not params:
            raise InvalidInputError("model: it has no parameters")
        # devices: one for all parameters and buffers
        devices = {str(p.device) for _, p in params} | {
            str(b.device) for _, b in model.named_buffers()
        }
        if len(devices) > 1:
            first = str(params[0][1].device)
            other = next(n for n, t in [*params, *model.named_buffers()] if str(t.device) != first)
            raise InvalidInputError(
                f"model: parameters on different devices ({sorted(devices)}); {other!r} is not on "
                f"{first}: move the model to one device (model.to(device))"
            )
        self.device = params[0][1].device
        for n, p in params:
            if not (p.dtype.is_floating_point):
                raise InvalidInputError(
                    f"model: parameter {n!r} has dtype {p.dtype}; only floating-point "
                    "parameters can be differentiated (make it a buffer, or a float parameter)"
                )
            if p.is_complex():
                raise InvalidInputError(f"model: parameter {n!r} is complex")
        bufs = list(model.named_buffers())
        if bufs and buffers == "error":
            raise InvalidInputError(
                f"model: it has buffers ({', '.join(repr(n) for n, _ in bufs[:4])}"
                f"{', …' if len(bufs) > 4 else ''}), e.g. batch-norm running statistics, which "
                "the forward pass may update; pass buffers='frozen' to hold them at their "
                "current values (the model is evaluated in eval mode), or remove them"
            )
        if dtype == "model":
            self.torch_dtype = params[0][1].dtype
        else:
            self.torch_dtype = getattr(torch, dtype)
        self.dtype = str(self.torch_dtype).replace("torch.", "")
        train = [(n, p) for n, p in params if p.requires_grad]
        frozen = [(n, p) for n, p in params if not p.requires_grad]
        if not train:
            raise InvalidInputError(
                "model: every parameter has requires_grad=False; θ would be empty"
            )
        self.parameter_names = [n for n, _ in train]
        self.frozen = [n for n, _ in frozen]
        self._shapes = [tuple(p.shape) for _, p in train]
        self._sizes = [int(p.numel()) for _, p in train]
        dim = int(sum(self._sizes))
        self._const = {
            n: t.detach().to(
                self.device, self.torch_dtype if t.dtype.is_floating_point else t.dtype
            )
            for n, t in [*frozen, *bufs]
        }
        self.model = model
        self.loss_fn = loss_fn
        self.X = self._tensor(X, "X")
        self.y = self._tensor(y, "y")
        off = 0
        self._param_idx = {}
        for n, s, sz in zip(self.parameter_names, self._shapes, self._sizes, strict=True):
            self._param_idx[n] = np.arange(off, off + sz, dtype=np.int64).reshape(s)
            off += sz
        self.theta0 = self.flatten()
        # One traced forward pass: the call order of the leaf modules (for the unit structure)
        # and the activation memory per parameter vector (for the automatic batch size).
        self._layers, act_bytes = self._trace()
        self.batch_size = _auto_batch(3.0 * act_bytes, batch_size)
        from torch.func import functional_call, grad, vmap

        def single(theta: Any) -> Any:
            out = functional_call(self.model, self._dict(theta), (self.X,))
            return self.loss_fn(out, self.y)

        self._single = single
        self._vvalue = vmap(single)
        self._vgrad = vmap(grad(single))
        with torch.no_grad(), self._mode():
            v = single(torch.as_tensor(self.theta0, dtype=self.torch_dtype, device=self.device))
        if not isinstance(v, torch.Tensor) or v.numel() != 1:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise InvalidInputError(
                f"loss_fn: must return a scalar (one number per parameter vector), got {shape}; "
                "use a reduction such as reduction='mean' or 'sum'"
            )
        loss_name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        name = f"torch {type(model).__name__} ({loss_name}, D={dim})"
        super().__init__(self._values, dim, vectorized=True, gradient=self._gradients)
        self.name = name

    # -- pickling: rebuild from the model, the loss and the data ---------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the constructor's arguments (the model, the loss, X, y): the copy is rebuilt
        by :func:`from_torch`, so it pickles whenever the model and the loss do."""
        return (_rebuild_torch, (self._args, self._kwargs))

    # -- conversion ----------------------------------------------------------------------------
    def _tensor(self, a: Any, what: str) -> Any:
        torch = _import_torch()
        if isinstance(a, torch.Tensor):
            t = a.detach()
        else:
            arr = np.asarray(a)
            if arr.dtype == object:
                raise InvalidTypeError(f"{what}: expected a numeric array, got dtype object")
            t = torch.from_numpy(np.ascontiguousarray(arr))
        if t.dtype.is_floating_point:
            if not bool(torch.isfinite(t).all()):
                raise InvalidInputError(f"{what}: contains NaN or inf")
            t = t.to(self.torch_dtype)
        return t.to(self.device)

    def _dict(self, theta: Any) -> dict[str, Any]:
        out = dict(self._const)
        parts = theta.split(self._sizes)
        for n, s, p in zip(self.parameter_names, self._shapes, parts, strict=True):
            out[n] = p.reshape(s)
        return out

    def _mode(self) -> Any:
        """Evaluate in eval mode (dropout off, batch norm on running statistics), restoring the
        model's mode afterwards."""
        import contextlib

        @contextlib.contextmanager
        def ctx() -> Any:
            was = self.model.training
            self.model.eval()
            try:
                yield
            finally:
                self.model.train(was)

        return ctx()

    def flatten(self, params: Any = None) -> np.ndarray:
        """θ (float64, D) from the model's parameters (default: the model's current values), a
        ``state_dict``-like mapping name → tensor, or the model itself."""
        torch = _import_torch()
        if params is None:
            params = self.model
        if isinstance(params, torch.nn.Module):
            params = dict(params.named_parameters())
        if not hasattr(params, "__getitem__"):
            raise InvalidTypeError(
                f"params: expected a module or a mapping name -> tensor, got {type(params).__name__}"
            )
        parts = []
        for n, s in zip(self.parameter_names, self._shapes, strict=True):
            try:
                t = params[n]
            except KeyError:
                raise InvalidInputError(f"params: missing parameter {n!r}") from None
            a = (
                t.detach().cpu().double().numpy()
                if isinstance(t, torch.Tensor)
                else np.asarray(t, dtype=np.float64)
            )
            if a.shape != s:
                raise InvalidInputError(f"params: {n!r} has shape {a.shape}, expected {s}")
            parts.append(a.ravel())
        return np.concatenate(parts).astype(np.float64)

    def unflatten(self, theta: Any) -> dict[str, Any]:
        """The parameters of θ as a dict name → tensor (the model's shapes, the objective's
        dtype and device), ready for ``model.load_state_dict(..., strict=False)``."""
        torch = _import_torch()
        t = self._check(theta)
        th = torch.as_tensor(t, dtype=self.torch_dtype, device=self.device)
        return {n: v.clone() for n, v in self._dict(th).items() if n in self._param_idx}

    def assign(self, theta: Any) -> None:
        """Write θ into the model's parameters in place (in the model's dtype)."""
        torch = _import_torch()
        p = self.unflatten(theta)
        with torch.no_grad():
            for n, q in self.model.named_parameters():
                if n in p:
                    q.copy_(p[n].to(q.dtype))

    def _check(self, theta: Any) -> np.ndarray:
        from ._validation import as_float_array

        t = as_float_array(theta, "theta", ndim=1)
        if t.shape[0] != self.dim:
            raise InvalidInputError(f"theta: expected length {self.dim}, got {t.shape[0]}")
        return t

    # -- evaluation ----------------------------------------------------------------------------
    def _batched(self, fn: Any, thetas: np.ndarray) -> np.ndarray:
        torch = _import_torch()
        outs = []
        with torch.no_grad(), self._mode():
            for lo in range(0, thetas.shape[0], self.batch_size):
                th = torch.as_tensor(
                    thetas[lo : lo + self.batch_size], dtype=self.torch_dtype, device=self.device
                )
                outs.append(fn(th).detach().to("cpu", torch.float64).numpy())
        return np.concatenate(outs, axis=0)

    def _values(self, thetas: np.ndarray) -> np.ndarray:
        return self._batched(self._vvalue, np.asarray(thetas)).reshape(-1)

    def _gradients(self, thetas: np.ndarray) -> np.ndarray:
        torch = _import_torch()
        with torch.enable_grad():
            return self._batched(self._vgrad, np.asarray(thetas))

    def exact_hessian(self, theta: Any) -> np.ndarray:
        """The framework's Hessian ``torch.func.hessian`` at θ (D × D; the reference path: exact
        on the linear piece of θ, blind to kinks)."""
        torch = _import_torch()
        from torch.func import hessian

        th = torch.as_tensor(self._check(theta), dtype=self.torch_dtype, device=self.device)
        with _quiet_torch_jit(), self._mode():
            H = hessian(self._single)(th)
        return H.detach().to("cpu", torch.float64).numpy()

    def exact_hvp(self, theta: Any, V: Any) -> np.ndarray:
        """H(θ)·V by autodiff (reverse-over-reverse: ``torch.func.vjp`` of the gradient, the
        Pearlmutter product PyHessian and hessian-eigenthings use); V of shape (D,) or (D, k)."""
        torch = _import_torch()
        from torch.func import grad, vjp, vmap

        th = torch.as_tensor(self._check(theta), dtype=self.torch_dtype, device=self.device)
        Vm = np.asarray(V, dtype=np.float64)
        vs = torch.as_tensor(
            Vm.T if Vm.ndim == 2 else Vm[None], dtype=self.torch_dtype, device=self.device
        )
        with self._mode():
            _, pullback = vjp(grad(self._single), th)
            hv = vmap(pullback)(vs)[0]
        out = hv.detach().to("cpu", torch.float64).numpy()
        return out.T if Vm.ndim == 2 else out[0]

    # -- structure -----------------------------------------------------------------------------
    def _trace(self) -> tuple[list[_Layer], float]:
        """Run the model once with forward hooks on its leaf modules: their call order gives the
        chain of affine layers and the activations between them."""
        torch = _import_torch()
        order: list[tuple[str, Any]] = []
        act = [0.0]
        handles = []
        for name, mod in self.model.named_modules():
            if len(list(mod.children())) == 0:

                def hook(m: Any, inp: Any, out: Any, name: str = name) -> None:
                    order.append((name, m))
                    if isinstance(out, torch.Tensor):
                        act[0] += out.numel() * out.element_size()

                handles.append(mod.register_forward_hook(hook))
        try:
            with torch.no_grad(), self._mode():
                from torch.func import functional_call

                th = torch.as_tensor(self.theta0, dtype=self.torch_dtype, device=self.device)
                functional_call(self.model, self._dict(th), (self.X,))
        finally:
            for h in handles:
                h.remove()
        layers: list[_Layer] = []
        pending: list[str] = []
        pending_names: list[str] = []
        for name, m in order:
            cls = type(m).__name__
            wname = f"{name}.weight" if name else "weight"
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
                if wname not in self._param_idx or any(lay.name == name for lay in layers):
                    # frozen or reused layer: the chain ends here
                    break
                if layers:
                    layers[-1].after = list(pending)
                    layers[-1].after_names = list(pending_names)
                bname = f"{name}.bias" if name else "bias"
                b_idx = self._param_idx.get(bname)
                w = self._param_idx[wname]
                kind = "linear" if isinstance(m, torch.nn.Linear) else "conv"
                if kind == "conv" and getattr(m, "groups", 1) != 1:
                    break
                n_in = w.shape[1]
                layers.append(_Layer(name, kind, w, b_idx, int(w.shape[0]), int(n_in)))
                pending, pending_names = [], []
            elif cls in _TORCH_ACT and not any(True for _ in m.parameters(recurse=False)):
                pending.append(_TORCH_ACT[cls])
                pending_names.append(cls)
            else:
                # a module with parameters or an unknown operation between affine layers:
                # the unit structure stops at the previous layer
                if layers:
                    break
        return layers, act[0]


def _rebuild_torch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> TorchObjective:
    return TorchObjective(*args, **kwargs)


def from_torch(
    model: Any,
    loss_fn: Callable[..., Any],
    X: Any,
    y: Any,
    *,
    batch_size: int | None = None,
    dtype: str = "float64",
    buffers: str = "error",
) -> TorchObjective:
    r"""A PyTorch model's training loss as an objective on its flat parameter vector θ.

    ``F(θ) = loss_fn(model(X; θ), y)`` with the model's parameters replaced by θ through
    ``torch.func.functional_call`` (the model itself is not modified). Use the loss's own
    reduction: ``nn.MSELoss()`` is the *mean* ‖·‖² over samples and outputs, ``reduction="sum"``
    the sum; hiddenconvex does not rescale.

    Parameters
    ----------
    model : torch.nn.Module
        The network. Its trainable parameters (``requires_grad=True``), in
        ``model.named_parameters()`` order and each flattened row-major, form θ.
        ``requires_grad=False`` parameters are frozen (held at their current values, not in θ).
    loss_fn : callable
        ``loss_fn(model(X), y) -> scalar tensor`` (e.g. ``torch.nn.CrossEntropyLoss()``).
        Must be a ``torch.func``-compatible function of the output (no in-place updates of
        captured state, no ``.item()``).
    X, y : array_like or torch.Tensor
        The data: the whole training set (or the batch you study). Floating-point arrays are
        cast to the objective's dtype; integer targets (class labels) keep their integer dtype.
    batch_size : int, optional
        Parameter vectors evaluated per ``torch.func.vmap`` call. Default: as many as fit a budget
        of 256 MiB of activations (measured by one forward pass), at most 4096.
    dtype : {"float64", "float32", "model"}
        Precision of the evaluation. Default float64 (the library's error estimates assume it);
        ``"model"`` uses the dtype of the model's parameters.
    buffers : {"error", "frozen"}
        Models with buffers (batch-norm running statistics): ``"error"`` refuses them (the
        forward pass in training mode would update them); ``"frozen"`` holds them at their
        current values. The model is always evaluated in eval mode (dropout off, batch norm on
        its running statistics) and its mode is restored afterwards.

    Returns
    -------
    TorchObjective
        A :class:`~hiddenconvex.CallableObjective` (vectorised, with the autodiff gradient) with
        ``flatten`` / ``unflatten`` / ``assign``, ``theta0`` (the model's current parameters),
        ``groups()`` / ``filter_groups()`` per layer, ``unit_indices(layer)`` and
        ``symmetries(layer)`` for the hidden layers between consecutive ``Linear`` / ``Conv``
        layers, and ``exact_hessian`` / ``exact_hvp`` (autodiff references).

    Notes
    -----
    Device: the model's (CPU, or CUDA). Threads: the objective is called from the calling thread;
    PyTorch's own intra-op threads do the arithmetic. Pickling: the objective pickles as
    ``(model, loss_fn, X, y, options)`` whenever those pickle.

    Raises
    ------
    InvalidInputError
        Parameters on different devices, an integer parameter, buffers (with
        ``buffers="error"``), every parameter frozen, a loss that is not a scalar, NaN/inf data.
    InvalidTypeError
        ``model`` not an ``nn.Module``, ``loss_fn`` not callable, object arrays.
    ImportError
        PyTorch is not installed (``pip install 'hiddenconvex[torch]'``).
    """
    return TorchObjective(model, loss_fn, X, y, batch_size=batch_size, dtype=dtype, buffers=buffers)


# =============================================================================================
# JAX
# =============================================================================================
def _import_jax() -> Any:
    try:
        import jax
        import jax.flatten_util  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("hiddenconvex.from_jax needs JAX: pip install 'hiddenconvex[jax]'") from e
    return jax


_JAX_W = ("kernel", "w", "W", "weight")
_JAX_B = ("bias", "b")


class JaxObjective(_Structured):
    r"""The training loss of a JAX function of a parameter pytree, on the flat vector θ.

    ``F(θ) = loss_fn(unravel(θ), X, y)`` with ``unravel`` from
    ``jax.flatten_util.ravel_pytree(params)``. Build it with :func:`from_jax`.
    """

    def __init__(
        self,
        loss_fn: Callable[..., Any],
        params: Any,
        X: Any,
        y: Any,
        *,
        batch_size: int | None = None,
        dtype: str = "float64",
        activation: str | None = None,
    ) -> None:
        jax = _import_jax()
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree

        self._args = (loss_fn, params, X, y)
        self._kwargs = {"batch_size": batch_size, "dtype": dtype, "activation": activation}
        if not callable(loss_fn):
            raise InvalidTypeError(f"loss_fn: expected a callable, got {type(loss_fn).__name__}")
        dtype = check_choice(dtype, "dtype", ("float64", "float32"))
        if activation is not None:
            activation = check_choice(activation, "activation", tuple(_JAX_ACT))
        self.dtype = dtype
        self._x64 = dtype == "float64"
        self.loss_fn = loss_fn
        leaves, _ = jax.tree_util.tree_flatten_with_path(params)
        if not leaves:
            raise InvalidInputError("params: the pytree has no leaves")
        for path, leaf in leaves:
            arr = np.asarray(leaf)
            if not np.issubdtype(arr.dtype, np.floating):
                raise InvalidInputError(
                    f"params: leaf {jax.tree_util.keystr(path)} has dtype {arr.dtype}; only "
                    "floating-point parameters can be differentiated (pass integer state "
                    "through loss_fn's closure instead)"
                )
            if not np.all(np.isfinite(arr)):
                raise InvalidInputError(f"params: leaf {jax.tree_util.keystr(path)} has NaN/inf")
        with self._ctx():
            cast = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=dtype), params)
            flat, unravel = ravel_pytree(cast)
            self._unravel = unravel
            self.X = self._array(X, "X")
            self.y = self._array(y, "y")
            dim = int(flat.shape[0])
            self.theta0 = np.asarray(flat, dtype=np.float64)

            def single(theta: Any) -> Any:
                return loss_fn(unravel(theta), self.X, self.y)

            self._single = single
            v = single(flat)
            if np.ndim(v) != 0 and np.size(v) != 1:
                raise InvalidInputError(
                    f"loss_fn: must return a scalar, got shape {np.shape(v)}; reduce over the "
                    "samples (mean or sum)"
                )
            # compiled per batch shape by `_executable` (the compilation interruptible)
            self._executables: dict[tuple[int, tuple[int, ...]], Any] = {}
            self._vvalue = jax.jit(jax.vmap(lambda t: jnp.reshape(single(t), ())))
            self._vgrad = jax.jit(jax.vmap(jax.grad(lambda t: jnp.reshape(single(t), ()))))
        # θ index of every leaf (ravel_pytree's order): unravel the index vector itself
        idx_tree = unravel(np.arange(dim, dtype=np.float64))
        self._param_idx = {}
        for path, leaf in jax.tree_util.tree_flatten_with_path(idx_tree)[0]:
            self._param_idx[jax.tree_util.keystr(path)] = np.asarray(leaf).astype(np.int64)
        self._layers = self._find_layers(params, activation)
        self.activation_kind = activation
        size_x = float(np.size(np.asarray(self.X)))
        n_rows = float(np.shape(np.asarray(self.X))[0]) if np.ndim(self.X) else 1.0
        self.batch_size = _auto_batch(
            8.0 * 3.0 * max(size_x, dim), batch_size, per_vector_work=n_rows * dim
        )
        super().__init__(self._values, dim, vectorized=True, gradient=self._gradients)
        self.name = f"jax {getattr(loss_fn, '__name__', 'loss')} (D={dim})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the constructor's arguments (loss_fn must be picklable, e.g. a module-level
        function)."""
        return (_rebuild_jax, (self._args, self._kwargs))

    def _ctx(self) -> Any:
        jax = _import_jax()
        return jax.enable_x64(self._x64)

    def _array(self, a: Any, what: str) -> Any:
        import jax.numpy as jnp

        arr = np.asarray(a)
        if arr.dtype == object:
            raise InvalidTypeError(f"{what}: expected a numeric array, got dtype object")
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise InvalidInputError(f"{what}: contains NaN or inf")
            return jnp.asarray(arr, dtype=self.dtype)
        return jnp.asarray(arr)

    def _find_layers(self, params: Any, activation: str | None) -> list[_Layer]:
        """Dense layers of a sequence / mapping of layers, each with a weight ("kernel", "w",
        "W" or "weight") and optionally a bias ("bias", "b"): Flax/Haiku style, in the order of
        the container (lists in order; dicts in insertion order)."""
        if isinstance(params, dict):
            items = list(params.items())
            # Flax: {"params": {...}}
            if len(items) == 1 and isinstance(items[0][1], dict) and items[0][0] == "params":
                prefix = f"[{items[0][0]!r}]"
                items = [(f"{prefix}[{k!r}]", v) for k, v in items[0][1].items()]
            else:
                items = [(f"[{k!r}]", v) for k, v in items]
        elif isinstance(params, (list, tuple)):
            items = [(f"[{i}]", v) for i, v in enumerate(params)]
        else:
            return []
        layers: list[_Layer] = []
        for key, layer in items:
            w_key = b_key = None
            if isinstance(layer, dict):
                w_key = next((k for k in _JAX_W if k in layer), None)
                b_key = next((k for k in _JAX_B if k in layer), None)
                w_path = None if w_key is None else f"{key}[{w_key!r}]"
                b_path = None if b_key is None else f"{key}[{b_key!r}]"
            elif isinstance(layer, (list, tuple)) and len(layer) in (1, 2):
                w_path = f"{key}[0]"
                b_path = f"{key}[1]" if len(layer) == 2 else None
            else:
                break
            if w_path is None or w_path not in self._param_idx:
                break
            w = self._param_idx[w_path]
            b = None if b_path is None else self._param_idx.get(b_path)
            if w.ndim != 2:
                break
            # orientation: kernel (in, out) as in Flax/Haiku, or weight (out, in) as in PyTorch;
            # decided by the bias length, else by the key name
            transposed = (
                b is not None and b.shape[0] == w.shape[1] and b.shape[0] != w.shape[0]
            ) or (b is None and w_key in ("kernel", "w"))
            if isinstance(layer, (list, tuple)) and b is not None and b.shape[0] == w.shape[0]:
                transposed = False
            wi = w.T if transposed else w
            lay = _Layer(key, "linear", wi, b, int(wi.shape[0]), int(wi.shape[1]))
            if layers:
                layers[-1].after = [_JAX_ACT[activation]] if activation else ["unknown"]
            layers.append(lay)
        # without a declared activation there is no symmetry to claim beyond permutations
        return layers

    def symmetries(self, layer: int = 0) -> frozenset[str]:
        """As :meth:`TorchObjective.symmetries`, from the declared ``activation`` (a JAX
        function is opaque: without ``activation=`` only permutations are claimed)."""
        a, _ = self._hidden(layer)
        if a.after == ["unknown"]:
            return frozenset({"permutation"})
        return _symmetries(a.after)

    def hidden_activation(self, layer: int = 0) -> str:
        a, _ = self._hidden(layer)
        if a.after == ["unknown"]:
            return "elementwise"
        return _activation_name(a.after)

    def _owner(self, pname: str) -> _Layer | None:
        for lay in self._layers:
            if pname.startswith(lay.name + "["):
                return lay
        return None

    def flatten(self, params: Any = None) -> np.ndarray:
        """θ (float64) from a pytree of the same structure (default: the params given)."""
        from jax.flatten_util import ravel_pytree

        if params is None:
            return self.theta0.copy()
        with self._ctx():
            flat, _ = ravel_pytree(params)
        t = np.asarray(flat, dtype=np.float64)
        if t.shape[0] != self.dim:
            raise InvalidInputError(f"params: flattens to length {t.shape[0]}, expected {self.dim}")
        return t

    def unflatten(self, theta: Any) -> Any:
        """The pytree of θ (the structure of ``params``, JAX arrays of the objective's dtype)."""
        import jax.numpy as jnp

        from ._validation import as_float_array

        t = as_float_array(theta, "theta", ndim=1)
        if t.shape[0] != self.dim:
            raise InvalidInputError(f"theta: expected length {self.dim}, got {t.shape[0]}")
        with self._ctx():
            return self._unravel(jnp.asarray(t, dtype=self.dtype))

    def _batched(self, fn: Any, thetas: np.ndarray) -> np.ndarray:
        import jax.numpy as jnp

        outs = []
        with self._ctx():
            for lo in range(0, thetas.shape[0], self.batch_size):
                th = jnp.asarray(thetas[lo : lo + self.batch_size], dtype=self.dtype)
                outs.append(np.asarray(self._executable(fn, th)(th), dtype=np.float64))
        return np.concatenate(outs, axis=0)

    def _executable(self, fn: Any, th: Any) -> Any:
        """``fn`` (jitted) compiled for the shape of ``th``, compiled once per shape.

        XLA compiles in C++ for up to seconds without returning to Python, so Ctrl-C would wait
        for it. The function is traced and lowered here (Python: interruptible, with the
        caller's JAX configuration) and the lowered module is compiled on a worker thread that
        the calling thread waits for in 10 ms steps
        (:func:`~hiddenconvex._interruptible.call_interruptibly`): Ctrl-C raises
        ``KeyboardInterrupt`` at once, the abandoned compilation finishes in the background and
        is discarded (the interpreter waits for it at exit), and the next call compiles again.
        """
        key = (id(fn), tuple(th.shape))
        exe = self._executables.get(key)
        if exe is None:
            lowered = fn.lower(th)
            exe = call_interruptibly(lowered.compile, "hiddenconvex-xla-compile")
            self._executables[key] = exe
        return exe

    def _values(self, thetas: np.ndarray) -> np.ndarray:
        return self._batched(self._vvalue, np.asarray(thetas)).reshape(-1)

    def _gradients(self, thetas: np.ndarray) -> np.ndarray:
        return self._batched(self._vgrad, np.asarray(thetas))

    def exact_hessian(self, theta: Any) -> np.ndarray:
        """``jax.hessian`` of the loss at θ (D × D; reference path, blind to kinks)."""
        jax = _import_jax()
        import jax.numpy as jnp

        t = self.flatten(self.unflatten(theta))
        with self._ctx():
            H = jax.hessian(lambda v: jnp.reshape(self._single(v), ()))(
                jnp.asarray(t, dtype=self.dtype)
            )
            return np.asarray(H, dtype=np.float64)

    def exact_hvp(self, theta: Any, V: Any) -> np.ndarray:
        """H(θ)·V by autodiff (``jax.jvp`` of ``jax.grad``); V of shape (D,) or (D, k)."""
        jax = _import_jax()
        import jax.numpy as jnp

        t = self.flatten(self.unflatten(theta))
        Vm = np.asarray(V, dtype=np.float64)
        with self._ctx():
            g = jax.grad(lambda v: jnp.reshape(self._single(v), ()))
            th = jnp.asarray(t, dtype=self.dtype)
            vs = jnp.asarray(Vm.T if Vm.ndim == 2 else Vm[None], dtype=self.dtype)
            hv = np.asarray(jax.vmap(lambda v: jax.jvp(g, (th,), (v,))[1])(vs), dtype=np.float64)
        return hv.T if Vm.ndim == 2 else hv[0]


def _rebuild_jax(args: tuple[Any, ...], kwargs: dict[str, Any]) -> JaxObjective:
    return JaxObjective(*args, **kwargs)


def from_jax(
    loss_fn: Callable[..., Any],
    params: Any,
    X: Any,
    y: Any,
    *,
    batch_size: int | None = None,
    dtype: str = "float64",
    activation: str | None = None,
) -> JaxObjective:
    r"""A JAX loss ``loss_fn(params, X, y) -> scalar`` as an objective on the flat vector θ.

    ``F(θ) = loss_fn(unravel(θ), X, y)``: the pytree ``params`` is flattened with
    ``jax.flatten_util.ravel_pytree`` (leaf order of ``jax.tree_util``: dict keys sorted), values
    and gradients are ``jax.vmap``-ed over a batch of θ and jitted.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params, X, y)`` returning a scalar (reduce over the samples yourself).
    params : pytree
        The parameters (their values give :attr:`theta0`; their structure the layout).
    X, y : array_like
        Data (floating-point arrays cast to ``dtype``).
    batch_size : int, optional
        Parameter vectors per vmapped call. Default: within a 256 MiB budget of activations and
        about 1.3·10⁸ multiply-adds (n·D per vector), so one call takes tens of milliseconds
        and Ctrl-C is seen between calls; at most 4096.
    dtype : {"float64", "float32"}
        Evaluation precision. float64 (default) runs every call inside
        ``jax.enable_x64(True)``, so JAX's global setting is left as it is.
    activation : str, optional
        The hidden activation of an MLP-style ``params`` (a sequence or mapping of dense layers
        with ``kernel``/``w``/``W``/``weight`` and ``bias``/``b``, Flax/Haiku style): one of
        "relu", "leaky_relu", "tanh", "identity", "sigmoid", "softplus", "gelu",
        "elementwise". A JAX function is opaque, so the rescaling / sign-flip symmetries are
        claimed only when declared here (permutation pairs need no declaration).

    Returns
    -------
    JaxObjective
        As :func:`from_torch` returns (flatten/unflatten, groups, unit_indices, exact
        references through ``jax.hessian`` / ``jax.jvp``).

    Raises
    ------
    InvalidInputError
        Integer or NaN leaves, empty pytree, a non-scalar loss, NaN/inf data.
    InvalidTypeError
        ``loss_fn`` not callable, object arrays.
    ImportError
        JAX is not installed (``pip install 'hiddenconvex[jax]'``).

    Notes
    -----
    The first evaluation of each batch shape compiles the vmapped function with XLA (seconds
    for a large network). The compilation runs on a worker thread while the calling thread
    waits in 10 ms steps, so Ctrl-C interrupts it at once: the abandoned compilation finishes
    in the background and its result is discarded (the interpreter waits for it at exit), and
    the next evaluation compiles again.
    """
    return JaxObjective(
        loss_fn, params, X, y, batch_size=batch_size, dtype=dtype, activation=activation
    )
