"""The string options of the public API as ``Literal`` types, in one place.

Every option is parsed once at the boundary (``_validation.check_choice``, whose error lists the
allowed values); these aliases let type checkers and IDEs see the same allowed values. They are
used by the public signatures and by the stubs of the private extension (``_core.pyi``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "Activation",
    "ChamberMethod",
    "ComparePatterns",
    "ConvexKind",
    "ConvexLoss",
    "ConvexPatterns",
    "ConvexSolver",
    "CoreConvexSolver",
    "CoreHessianMethod",
    "HessianMethod",
    "HiddenActivation",
    "ICNNActivation",
    "Init",
    "NonNeg",
    "Normalization",
    "ObjectiveLoss",
    "Optimizer",
    "Scaling",
    "SpectrumMethod",
    "SpectrumWhich",
    "Task",
    "TrainingLoss",
    "TwoLayerLoss",
    "WedgeFeatures",
    "WedgeNorm",
]

# ---- chambers ---------------------------------------------------------------------------------
#: How :func:`hiddenconvex.chambers` finds the chambers.
ChamberMethod = Literal["auto", "exact", "sample"]

# ---- objectives -------------------------------------------------------------------------------
#: Losses of the native objectives (:class:`hiddenconvex.MLP`, :class:`hiddenconvex.ICNN`, ...).
ObjectiveLoss = Literal["squared", "logistic", "hinge", "squared_hinge"]
#: Activations of the native objectives (``"identity"``: the output layer).
Activation = Literal["relu", "tanh", "softplus", "sigmoid", "identity"]
#: Hidden activations of :class:`hiddenconvex.MLP`.
HiddenActivation = Literal["relu", "tanh", "softplus", "sigmoid"]
#: Hidden activations of :class:`hiddenconvex.ICNN` (convex and non-decreasing).
ICNNActivation = Literal["relu", "softplus"]
#: Losses of :class:`hiddenconvex.TwoLayerReLU`.
TwoLayerLoss = Literal["squared", "logistic"]
#: How an ICNN keeps its hidden-to-hidden weights non-negative.
NonNeg = Literal["softplus", "clip"]

# ---- Hessians ---------------------------------------------------------------------------------
#: :func:`hiddenconvex.hessian`'s ``method``.
HessianMethod = Literal["auto", "values", "gradients"]
#: The finite-difference scheme the core runs (``"auto"`` resolved).
CoreHessianMethod = Literal["values", "gradients"]

# ---- midpoint tests and slices ----------------------------------------------------------------
#: Filter normalisation of random directions (Li et al. 2018), or none.
Normalization = Literal["filter"] | None

# ---- convex training --------------------------------------------------------------------------
#: The convex program: the exact ReLU program or the gated-ReLU relaxation.
ConvexKind = Literal["relu", "gated"]
#: Losses of the convex reformulation.
ConvexLoss = Literal["squared", "logistic", "hinge", "huber"]
#: Loss scaling: ``"sum"`` (the paper's ½‖·‖²) or ``"mean"`` (divided by n).
Scaling = Literal["sum", "mean"]
#: Solvers of the convex program (``"cvxpy"`` runs in Python).
ConvexSolver = Literal["auto", "ipm", "conic", "newton", "fista", "bcd", "admm", "al", "cvxpy"]
#: The solvers the core's driver takes.
CoreConvexSolver = Literal["auto", "ipm", "conic", "newton", "fista", "bcd", "admm", "al"]
#: Named pattern sets of the convex program: every chamber, or sampled gates.
ConvexPatterns = Literal["exact", "sample"]
#: Pattern choice of the comparisons (``"auto"``: exact when the chamber count is small).
ComparePatterns = Literal["auto", "exact", "sample"]

# ---- non-convex training ----------------------------------------------------------------------
#: Optimizers of :func:`hiddenconvex.train_relu_network`.
Optimizer = Literal["gd", "sgd", "adam"]
#: Losses of :func:`hiddenconvex.train_relu_network`.
TrainingLoss = Literal["squared", "logistic", "hinge"]
#: Weight initialisations of :func:`hiddenconvex.train_relu_network`.
Init = Literal["he", "small"]
#: A data set's task.
Task = Literal["regression", "classification"]

# ---- spectra ----------------------------------------------------------------------------------
#: Which end(s) of the spectrum :func:`hiddenconvex.eigenvalues` returns.
SpectrumWhich = Literal["largest", "smallest", "both"]
#: :func:`hiddenconvex.eigenvalues`'s ``method``.
SpectrumMethod = Literal["auto", "lanczos", "eigsh"]

# ---- wedge ------------------------------------------------------------------------------------
#: Norm of the wedge-product dictionary's neurons.
WedgeNorm = Literal["l1", "l2"]
#: Wedge-product features: all subsets, or a seeded sample.
WedgeFeatures = Literal["exact", "sample"]
