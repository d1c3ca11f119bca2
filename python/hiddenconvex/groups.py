"""Filter groups of an objective's parameters (Li et al. 2018): one group per output unit.

Used by the midpoint tests (``normalization="filter"``) and the loss slices
(:func:`hiddenconvex.random_direction`); a module of its own so that neither imports the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_bool
from .exceptions import InvalidInputError

__all__ = ["filter_groups"]


def filter_groups(objective: Any, *, include_biases: bool = False) -> list[np.ndarray]:
    """Filter groups of an objective's parameters, for filter normalisation (Li et al. 2018).

    A filter of a fully connected layer is one output unit's incoming weights: for :class:`MLP`
    / :class:`TwoLayerReLU`, row j of every W_k (with b_k[j] when ``include_biases``); for linear
    models, w (and b); for :class:`ICNN`, unit j's rows of V_k and W_k^x (and b_k[j]). Other
    objectives may define ``filter_groups(include_biases=...)`` or ``unit_indices()`` (one group
    per unit). Parameters in no group (biases by default) get a zero direction.
    """
    from .objectives import ICNN, MLP, LinearModel

    include_biases = check_bool(include_biases, "include_biases")
    fn = getattr(objective, "filter_groups", None)
    if callable(fn):
        return [np.asarray(g, dtype=np.int64).ravel() for g in fn(include_biases=include_biases)]
    if isinstance(objective, (MLP, LinearModel, ICNN)):
        idx = np.arange(objective.dim, dtype=np.float64)
        if isinstance(objective, MLP):
            p = MLP.unflatten(objective, idx)
            groups = []
            for W, b in zip(p["weights"], p["biases"], strict=True):
                for j in range(W.shape[0]):
                    g = list(W[j])
                    if include_biases and b is not None:
                        g.append(b[j])
                    groups.append(g)
        elif isinstance(objective, LinearModel):
            p = objective.unflatten(idx)
            groups = [list(p["w"]) + ([p["b"]] if include_biases and p["b"] is not None else [])]
        else:
            p = objective.unflatten(idx)
            groups = []
            for k, (Wx, b) in enumerate(zip(p["Wx"], p["b"], strict=True)):
                V = p["V"][k]
                for j in range(Wx.shape[0]):
                    g = list(Wx[j]) + ([] if V is None else list(V[j]))
                    if include_biases:
                        g.append(b[j])
                    groups.append(g)
        return [np.asarray(g, dtype=np.int64) for g in groups]
    units = getattr(objective, "unit_indices", None)
    if not callable(units):
        raise InvalidInputError(
            "normalization: 'filter' needs an objective with a known layout (MLP, linear model, "
            "ICNN, or unit_indices()) or explicit groups="
        )
    return [np.asarray(g, dtype=np.int64).ravel() for g in units()]
