"""Structured pairs for the midpoint test: the symmetries of networks.

Hidden-unit permutations, positive rescalings (ReLU) and sign flips (odd activations) leave a
network's loss unchanged, so each gives a pair (θ, θ') with f(θ) = f(θ'); a midpoint above them
certifies non-convexity (:func:`hiddenconvex.midpoint_test` with ``pairs=``).

The generators read each hidden unit's parameter indices from the objective's
``unit_indices(layer)`` (native MLPs and the PyTorch/JAX adapters provide it) or from a layout
given directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ._validation import as_float_array, check_float, check_int
from .exceptions import InvalidInputError, InvalidTypeError

__all__ = ["Pairs", "permutation_pairs", "rescaling_pairs", "sign_flip_pairs"]


class Pairs(NamedTuple):
    """Pairs for ``midpoint_test(pairs=...)``: rows of ``a`` and ``b`` (P × D), with labels."""

    a: np.ndarray
    b: np.ndarray
    labels: list[str]


# ---------------------------------------------------------------------------------------------
# Structured witnesses from the symmetries of networks
# ---------------------------------------------------------------------------------------------
def _theta(theta: Any, dim: int | None) -> np.ndarray:
    th = as_float_array(theta, "theta", ndim=1)
    if dim is not None and th.shape[0] != dim:
        raise InvalidInputError(f"theta: expected length {dim}, got {th.shape[0]}")
    return th


def _index_array(x: Any, what: str, dim: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidTypeError(f"{what}: expected integer parameter indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).ravel()
    if arr.min() < 0 or arr.max() >= dim:
        raise InvalidInputError(
            f"{what}: indices must lie in [0, {dim}), got {arr.min()}..{arr.max()}"
        )
    return arr


def _unit_layout(
    objective_or_layout: Any, layer: int | None, dim: int
) -> list[dict[str, np.ndarray]]:
    """Per hidden unit: {"all": indices, "in": incoming (incl. bias), "out": outgoing}.

    Accepts an objective with ``unit_indices()`` (``unit_indices(layer)`` for deep networks), or
    the layout directly: a sequence (one entry per unit) of index arrays, or of dicts with keys
    ``"in"`` / ``"out"`` (or ``"incoming"`` / ``"outgoing"``).
    """
    from .objectives import MLP

    src = objective_or_layout
    fn = getattr(src, "unit_indices", None)
    if isinstance(src, MLP):
        lay = 0 if layer is None else layer
        blocks = src.unit_indices(lay)
        n_in, n_next = src.widths[lay], src.widths[lay + 2]
        units = []
        for blk in blocks:
            k_in = blk.size - n_next  # row of W_layer (+ bias), then the outgoing column
            if k_in < n_in:
                raise InvalidInputError("objective: unexpected unit layout")
            units.append(
                {
                    "all": blk.astype(np.int64),
                    "in": blk[:k_in].astype(np.int64),
                    "out": blk[k_in:].astype(np.int64),
                }
            )
        return units
    if callable(fn):
        src = fn() if layer is None else fn(layer)
    elif layer is not None:
        raise InvalidInputError("layer: only meaningful with an objective that has unit_indices()")
    if isinstance(src, np.ndarray) and src.ndim == 2:
        src = list(src)
    if not isinstance(src, (list, tuple)) or len(src) == 0:
        raise InvalidInputError(
            "objective_or_layout: expected an objective with unit_indices() or a non-empty "
            "sequence of per-unit index arrays"
        )
    units = []
    for i, u in enumerate(src):
        if isinstance(u, dict) or hasattr(u, "incoming") or hasattr(u, "in_"):

            def get(key: str, u: Any = u) -> Any:
                return u.get(key) if isinstance(u, dict) else getattr(u, key, None)

            inc = get("in") if get("in") is not None else get("incoming")
            out = get("out") if get("out") is not None else get("outgoing")
            if inc is None or out is None:
                raise InvalidInputError(f"unit {i}: the layout needs 'in' and 'out' index arrays")
            ia = _index_array(inc, f"unit {i} (in)", dim)
            oa = _index_array(out, f"unit {i} (out)", dim)
            units.append({"all": np.concatenate([ia, oa]), "in": ia, "out": oa})
        else:
            units.append({"all": _index_array(u, f"unit {i}", dim)})
    return units


def _unit_pairs(n_units: int, units: Any) -> list[tuple[int, int]]:
    if units is None:
        return [(i, j) for i in range(n_units) for j in range(i + 1, n_units)]
    out = []
    for p in units:
        i, j = (int(v) for v in p)
        if not (0 <= i < n_units and 0 <= j < n_units) or i == j:
            raise InvalidInputError(f"units: invalid unit pair {p!r} for {n_units} units")
        out.append((i, j))
    return out


def permutation_pairs(
    objective_or_layout: Any,
    theta: Any,
    *,
    layer: int | None = None,
    units: Sequence[tuple[int, int]] | None = None,
    spread: Sequence[float] = (1.0,),
    max_pairs: int | None = None,
) -> Pairs:
    """Pairs (θ, π·θ) where π swaps two hidden units: f(π·θ) = f(θ) for any network.

    With ``m = (θ + π·θ)/2`` (both units replaced by their average) the pairs are
    ``(m + s·(θ − m), m − s·(θ − m))`` for s in ``spread`` (s = 1: (θ, π·θ)). Every such pair has
    f(a) = f(b) (up to rounding), so ``f(m) > f(a)`` certifies non-convexity; it holds for instance
    at any strict local minimiser θ whose two units are distinct (averaging them changes the
    function the network computes), which is why trained networks violate on every permutation
    pair while random pairs rarely do. Units with identical parameters are skipped.

    Parameters
    ----------
    objective_or_layout : objective with ``unit_indices()``, or a per-unit layout
        The parameter indices of each hidden unit (same length and order for every unit).
    theta : array_like (D,)
    layer : int, optional
        Hidden layer of a deep MLP (passed to ``unit_indices(layer)``).
    units : sequence of (i, j), optional
        Unit pairs to swap (default: all i < j).
    spread : sequence of float
        The s values (> 0).
    max_pairs : int, optional
        Keep at most this many unit pairs (the first ones).

    Returns
    -------
    Pairs
        ``(a, b, labels)`` for ``midpoint_test(pairs=...)``.
    """
    dim = getattr(objective_or_layout, "dim", None)
    th = _theta(theta, dim if isinstance(dim, int) else None)
    layout = _unit_layout(objective_or_layout, layer, th.shape[0])
    sizes = {u["all"].size for u in layout}
    if len(sizes) != 1:
        raise InvalidInputError("layout: every unit must have the same number of parameters")
    if len(layout) < 2:
        raise InvalidInputError("layout: permutation pairs need at least two hidden units")
    spreads = [check_float(s, "spread", minimum=0.0, strict_minimum=True) for s in spread]
    up = _unit_pairs(len(layout), units)
    if max_pairs is not None:
        up = up[: check_int(max_pairs, "max_pairs", minimum=1)]
    a_rows, b_rows, labels = [], [], []
    for i, j in up:
        bi, bj = layout[i]["all"], layout[j]["all"]
        if np.array_equal(th[bi], th[bj]):
            continue
        sw = th.copy()
        sw[bi], sw[bj] = th[bj], th[bi]
        m = 0.5 * th + 0.5 * sw
        for s in spreads:
            a_rows.append(m + s * (th - m))
            b_rows.append(m - s * (th - m))
            labels.append(f"swap units {i}<->{j}" + (f", spread {s:g}" if s != 1.0 else ""))
    if not a_rows:
        raise InvalidInputError("theta: all selected units are identical; no permutation pair")
    return Pairs(np.array(a_rows), np.array(b_rows), labels)


def _in_out(
    layout: list[dict[str, np.ndarray]], incoming: Any, outgoing: Any, dim: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    if incoming is not None or outgoing is not None:
        if incoming is None or outgoing is None or len(incoming) != len(outgoing):
            raise InvalidInputError("incoming/outgoing: give both, one index array per unit")
        return [
            (_index_array(i, f"incoming[{k}]", dim), _index_array(o, f"outgoing[{k}]", dim))
            for k, (i, o) in enumerate(zip(incoming, outgoing, strict=True))
        ]
    if not layout or "in" not in layout[0]:
        raise InvalidInputError(
            "this construction needs each unit's incoming and outgoing parameters: pass an "
            "objective whose unit_indices() gives them, or incoming= and outgoing="
        )
    return [(u["in"], u["out"]) for u in layout]


def _check_activation(
    obj: Any, allowed: tuple[str, ...], msg: str, *, symmetry: str = "", layer: int | None = None
) -> None:
    """Refuse a construction the network's activation does not support.

    Native MLPs are checked by their activation name; objectives with ``symmetries(layer)`` (the
    PyTorch / JAX adapters) by the set of symmetries their activations keep.
    """
    from .objectives import MLP

    if isinstance(obj, MLP) and obj.activation not in allowed:
        raise InvalidInputError(f"objective: {msg}; this network uses {obj.activation!r}")
    sym = getattr(obj, "symmetries", None)
    if symmetry and callable(sym) and not isinstance(obj, MLP):
        lay = 0 if layer is None else layer
        if symmetry not in sym(lay):
            act = getattr(obj, "hidden_activation", lambda _k: "unknown")(lay)
            raise InvalidInputError(
                f"objective: {msg}; hidden layer {lay} of this model has activations of class "
                f"{act!r} (valid here: {sorted(sym(lay))})"
            )


def rescaling_pairs(
    objective_or_layout: Any,
    theta: Any,
    *,
    c: Sequence[float] = (2.0, 0.5),
    layer: int | None = None,
    incoming: Any = None,
    outgoing: Any = None,
    per_unit: bool = True,
) -> Pairs:
    """Pairs (θ, θ') with unit j's incoming weights (and bias) times c, outgoing weights over c.

    ReLU is positively homogeneous, so f(θ') = f(θ) for any c > 0. At the midpoint unit j
    contributes (1 + c)(1 + 1/c)/4 ≥ 1 times its output (> 1 for c ≠ 1): f(m) > f(θ) certifies
    non-convexity (e.g. at a strict local minimiser). One pair per unit and per c (``per_unit``),
    plus one rescaling every unit at once.

    Parameters
    ----------
    objective_or_layout, theta, layer
        As in :func:`permutation_pairs`.
    c : sequence of float
        Factors (> 0, ≠ 1).
    incoming, outgoing : sequences of index arrays, optional
        Per unit, the indices of its incoming weights (and bias) and of its outgoing weights, if
        the objective's layout does not give them.
    """
    dim = getattr(objective_or_layout, "dim", None)
    th = _theta(theta, dim if isinstance(dim, int) else None)
    layout = (
        []
        if incoming is not None or outgoing is not None
        else _unit_layout(objective_or_layout, layer, th.shape[0])
    )
    io = _in_out(layout, incoming, outgoing, th.shape[0])
    _check_activation(
        objective_or_layout,
        ("relu",),
        "rescaling pairs need a positively homogeneous activation (ReLU)",
        symmetry="rescaling",
        layer=layer,
    )
    cs = [check_float(x, "c", minimum=0.0, strict_minimum=True) for x in c]
    if any(x == 1.0 for x in cs):
        raise InvalidInputError("c: a factor of 1 gives a = b")
    a_rows, b_rows, labels = [], [], []
    for x in cs:
        targets = [[k] for k in range(len(io))] if per_unit else []
        targets.append(list(range(len(io))))
        for tg in targets:
            b = th.copy()
            for k in tg:
                b[io[k][0]] *= x
                b[io[k][1]] /= x
            if np.array_equal(b, th):
                continue
            a_rows.append(th.copy())
            b_rows.append(b)
            labels.append(f"rescale {'all units' if len(tg) > 1 else f'unit {tg[0]}'} by c={x:g}")
    if not a_rows:
        raise InvalidInputError("theta: the selected units are zero; no rescaling pair")
    return Pairs(np.array(a_rows), np.array(b_rows), labels)


def sign_flip_pairs(
    objective_or_layout: Any,
    theta: Any,
    *,
    layer: int | None = None,
    incoming: Any = None,
    outgoing: Any = None,
) -> Pairs:
    """Pairs (θ, θ') with unit j's incoming and outgoing weights negated (odd activations).

    For odd σ (tanh, identity), σ(−z)·(−α) = σ(z)·α, so f(θ') = f(θ); the midpoint removes unit
    j (its weights become 0), so f(m) > f(θ) certifies non-convexity. One pair per unit.
    """
    dim = getattr(objective_or_layout, "dim", None)
    th = _theta(theta, dim if isinstance(dim, int) else None)
    layout = (
        []
        if incoming is not None or outgoing is not None
        else _unit_layout(objective_or_layout, layer, th.shape[0])
    )
    _check_activation(
        objective_or_layout,
        ("tanh",),
        "sign-flip pairs need an odd activation (tanh)",
        symmetry="sign_flip",
        layer=layer,
    )
    io = _in_out(layout, incoming, outgoing, th.shape[0])
    a_rows, b_rows, labels = [], [], []
    for k, (i, o) in enumerate(io):
        b = th.copy()
        b[i] = -b[i]
        b[o] = -b[o]
        if np.array_equal(b, th):
            continue
        a_rows.append(th.copy())
        b_rows.append(b)
        labels.append(f"flip the sign of unit {k}")
    if not a_rows:
        raise InvalidInputError("theta: every unit is zero; no sign-flip pair")
    return Pairs(np.array(a_rows), np.array(b_rows), labels)
