r"""Hessian-vector products, extreme eigenvalues and spectral densities at large D.

No dense Hessian is formed: everything is built on Hessian-vector products by central differences
of gradients, so D can be 10⁵–10⁶ (memory: a Lanczos basis of ``ncv`` vectors of length D).

Hessian-vector products (:func:`hvp`)
    For v ≠ 0, u = v/‖v‖₂ and a step h,

    .. math::
        D(h) = \|v\|\,\frac{\nabla f(\theta + h u) - \nabla f(\theta - h u)}{2h}
             = H v + O(h^2).

    With Richardson (default) the product is (4D(h) − D(2h))/3 (O(h⁴)) and the per-entry error
    estimate is |D(h) − D(2h)| plus the rounding bound 8 eps ‖v‖ (|∇f(θ+hu)| + |∇f(θ−hu)|)/(2h)
    (the conventions of the gradients-method :func:`~hiddenconvex.hessian`); it bounds the error
    of D(h) and is therefore conservative for the extrapolated value. The step is a power of
    two, h = 2^round(log2(c · max(1, ‖θ‖∞/64))), with c = eps^(1/5) ≈ 7.4e-4 with Richardson and
    eps^(1/3) ≈ 6.1e-6 without (``step=c`` overrides c). Cost: 4 gradients per vector with
    Richardson, 2 without; all gradients of a block of vectors are evaluated as one batch.

Eigenvalues (:func:`eigenvalues`)
    Thick-restart Lanczos (Wu & Simon 2000) in the Rust core on the operator v ↦ D(h)
    (no Richardson, c = eps^(1/3)), with full reorthogonalisation (classical Gram–Schmidt twice),
    or ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``) on the same
    operator (``method="eigsh"``). Each Ritz pair (θ_i, y_i) is then refined with one Richardson
    product: λ_i = y_iᵀ H_R y_i, and

    .. math::
        \text{bound}_i = \|H_R y_i - \lambda_i y_i\| + \|e_i\|,

    with e_i the per-entry error estimate of H_R y_i. Some eigenvalue of the true Hessian lies in
    [λ_i − bound_i, λ_i + bound_i] (the residual bound for a unit vector, with the operator error
    added); which one is not certified (Lanczos may, with probability ≈ 0 for a random start
    vector, miss an eigenvalue whose eigenvector is orthogonal to the Krylov space).

Verdict
    - ``"indefinite"``: some refined Ritz vector has y_iᵀ H y_i ≤ λ_i + ‖e_i‖ < 0. By
      Courant–Fischer λ_min(H) ≤ yᵀHy < 0: the Hessian is certainly not PSD (up to the error
      estimate of one Hessian-vector product), converged or not;
    - ``"psd"``: the smallest eigenvalue was computed and converged, and λ_min ≥ −τ with
      τ = bound of λ_min (PSD within the stated tolerance);
    - ``"inconclusive"``: neither (smallest end not computed, not converged, or λ_min < −τ
      without a certificate).

Spectral density (:func:`spectral_density`)
    Stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019; PyHessian): for each of P
    Rademacher probes v (entries ±1/√D) m Lanczos steps give Gauss quadrature nodes θ_j and
    weights τ_j with Σ_j τ_j p(θ_j) = vᵀ p(H) v for deg p ≤ 2m − 1; E[vᵀ p(H) v] = tr p(H)/D. The
    density φ(t) = (1/D) Σ δ(t − λ_i) is approximated by
    φ_σ(t) = (1/P) Σ_p Σ_j τ_pj 𝒩(t; θ_pj, σ²) on a grid (∫φ_σ = 1).

Seeds: the Lanczos start vector and the SLQ probes come from ChaCha8 streams of ``seed``
(``None`` draws one and records it in the result). Results do not depend on the thread count.

Objectives: a native objective with an analytic gradient (gradients of a block of points are
evaluated in the Rust pool with the GIL released), or any Python callable with ``gradient=`` its
gradient (``gradient(theta) -> (D,)``, or with ``vectorized=True`` ``gradient(Theta (B, D)) ->
(B, D)``, called once per block of points from the calling thread).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from ._progress import progress_callback
from ._typing import SpectrumMethod, SpectrumWhich
from ._validation import as_float_array, check_choice, check_float, check_int, resolve_seed
from .exceptions import InvalidInputError, InvalidTypeError
from .io import Result
from .objectives import CallableObjective, Objective

__all__ = [
    "HvpResult",
    "SpectralDensityResult",
    "SpectrumResult",
    "eigenvalues",
    "hvp",
    "spectral_density",
]

Which = SpectrumWhich
_WHICH: tuple[Which, ...] = ("largest", "smallest", "both")
_METHODS: tuple[SpectrumMethod, ...] = ("auto", "lanczos", "eigsh")


def _source(objective: Any, gradient: Any, vectorized: bool) -> tuple[Any, str, int | None]:
    """``(handle for _core, name, dim or None)`` of the gradient source."""
    if isinstance(objective, Objective):
        if gradient is not None:
            raise InvalidInputError(
                "gradient: only for Python callables (a native objective has its own gradient)"
            )
        if not objective.has_gradient:
            raise InvalidInputError(f"objective: {objective.name} has no analytic gradient")
        return objective._native, str(objective.name), objective.dim
    if gradient is None:
        if objective is None or callable(objective):
            raise InvalidInputError(
                "gradient: a Python callable objective needs gradient= (its gradient ∇f; "
                "finite differences of values give only vᵀHv, not Hv)"
            )
        raise InvalidTypeError(
            "objective: expected a hiddenconvex objective or a callable, got "
            f"{type(objective).__name__}"
        )
    if not callable(gradient):
        raise InvalidTypeError(f"gradient: expected a callable, got {type(gradient).__name__}")
    if objective is not None and not callable(objective):
        raise InvalidTypeError(
            "objective: expected a hiddenconvex objective, a callable or None, got "
            f"{type(objective).__name__}"
        )
    dim = objective.dim if isinstance(objective, CallableObjective) else None
    name = getattr(objective, "__name__", None) or getattr(gradient, "__name__", "callable")
    if isinstance(objective, CallableObjective):
        name = objective.name
    return gradient, str(name), dim


def _theta(theta: Any, dim: int | None) -> np.ndarray:
    t = as_float_array(theta, "theta", ndim=1)
    if dim is not None and t.shape[0] != dim:
        raise InvalidInputError(
            f"theta: expected length {dim} (the objective's dimension), got {t.shape[0]}"
        )
    return t


def _step(step: Any) -> float | None:
    if step is None:
        return None
    return check_float(step, "step", minimum=0.0, strict_minimum=True)


# ---- Hessian-vector products ---------------------------------------------------------------


@dataclasses.dataclass(repr=False)
class HvpResult(Result):
    """Hessian-vector products H v with error estimates (see :func:`hvp`).

    Attributes
    ----------
    hv : ndarray, shape of ``V``
        H v for each column of V ((D,) for a single vector).
    error : ndarray, shape of ``V``
        Per-entry error estimates.
    theta : ndarray (D,)
        The point.
    step : float
        The relative step c; ``h`` is the absolute step used.
    """

    hv: np.ndarray
    error: np.ndarray
    theta: np.ndarray
    step: float = 0.0
    h: float = 0.0
    richardson: bool = True
    n_gradient_evaluations: int = 0
    elapsed_s: float = 0.0
    objective: str = ""

    def summary(self) -> str:
        k = 1 if self.hv.ndim == 1 else self.hv.shape[1]
        rel = float(np.max(self.error) / max(np.max(np.abs(self.hv)), np.finfo(float).tiny))
        return "\n".join(
            [
                f"Hessian-vector products of {self.objective or 'an objective'} at D = "
                f"{self.theta.shape[0]}, {k} vector(s)",
                f"  central differences of gradients{' + Richardson' if self.richardson else ''}"
                f", h = {self.h:.3g} (c = {self.step:.3g}), {self.n_gradient_evaluations} "
                f"gradient evaluations in {self.elapsed_s:.3g} s",
                f"  largest error estimate / largest |Hv| = {rel:.3g}",
            ]
        )


def hvp(
    objective: Any,
    theta: Any,
    V: Any,
    *,
    gradient: Callable[..., Any] | None = None,
    vectorized: bool = False,
    step: float | None = None,
    richardson: bool = True,
    progress: Any = None,
) -> HvpResult:
    r"""Hessian-vector products by central differences of gradients, with error estimates.

    .. math::
        H v \approx \|v\|\,\frac{\nabla f(\theta + h u) - \nabla f(\theta - h u)}{2h},
        \quad u = v / \|v\|_2,

    Richardson-extrapolated from the steps h and 2h (see the module docstring for the step and
    the error estimate).

    Parameters
    ----------
    objective : Objective, callable or None
        A native objective with an analytic gradient, or (with ``gradient=``) a Python callable
        f or ``None``.
    theta : array_like (D,)
        The point. Must be finite.
    V : array_like (D,) or (D, K)
        The vector(s); the K columns are processed as one batch of 4K (2K without Richardson)
        gradient evaluations, in blocks of at most 32 MiB of points.
    gradient : callable, optional
        ∇f for a Python objective: ``gradient(theta (D,)) -> (D,)``, or with ``vectorized=True``
        ``gradient(Theta (B, D)) -> (B, D)`` (called once per block).
    vectorized : bool
        Whether ``gradient`` takes a batch.
    step : float, optional
        Relative step c (default eps^(1/5) with Richardson, eps^(1/3) without).
    richardson : bool
        Extrapolate from h and 2h (doubles the cost; gives the truncation part of the error).
    progress : bool or callable, optional
        Progress reporting (native objectives).

    Returns
    -------
    HvpResult

    Raises
    ------
    InvalidInputError
        Shapes, NaN/inf, step ≤ 0, a callable without ``gradient=``.
    ResourceLimitError
        The outputs and work arrays would exceed 2 GiB (refused before allocating).
    Exception
        Whatever a Python gradient raises, with a note saying which batch was evaluated.
    """
    handle, name, dim = _source(objective, gradient, vectorized)
    t = _theta(theta, dim)
    Vm = as_float_array(V, "V", ndim=(1, 2))
    if Vm.shape[0] != t.shape[0]:
        raise InvalidInputError(
            f"V: expected {t.shape[0]} rows (the length of theta), got shape {Vm.shape}"
        )
    rows = np.ascontiguousarray(Vm.T) if Vm.ndim == 2 else Vm[None, :]
    c = _step(step)
    start = time.perf_counter()
    with progress_callback(progress, "hvp") as cb:
        out = _core.spectra_hvp(handle, t, rows, c, bool(richardson), bool(vectorized), progress=cb)
    hv = np.asarray(out["hv"])
    err = np.asarray(out["err"])
    if Vm.ndim == 1:
        hv, err = hv[0], err[0]
    else:
        hv, err = np.ascontiguousarray(hv.T), np.ascontiguousarray(err.T)
    return HvpResult(
        hv=hv,
        error=err,
        theta=t,
        step=float(out["step"]),
        h=float(out["h"]),
        richardson=bool(richardson),
        n_gradient_evaluations=int(out["n_gradients"]),
        elapsed_s=time.perf_counter() - start,
        objective=name,
    )


# ---- eigenvalues ----------------------------------------------------------------------------


@dataclasses.dataclass(repr=False)
class SpectrumResult(Result):
    """Extreme Hessian eigenvalues with error bounds and a PSD verdict (see :func:`eigenvalues`).

    Attributes
    ----------
    eigenvalues : ndarray (n,)
        Refined Ritz values λ_i = y_iᵀ H_R y_i: ``"largest"`` descending, ``"smallest"``
        ascending, ``"both"`` the k smallest ascending then the k largest descending.
    bounds : ndarray (n,)
        Some eigenvalue of H lies within ``bounds[i]`` of ``eigenvalues[i]``:
        residual + Hessian-vector product error.
    residuals, hvp_errors : ndarray (n,)
        ‖H_R y_i − λ_i y_i‖ and ‖e_i‖ (the two parts of the bound).
    ritz_values : ndarray (n,)
        The values of the Lanczos run before refinement.
    converged : ndarray of bool (n,)
        Whether the Lanczos residual met ``tol``.
    eigenvectors : ndarray (D, n)
        Unit Ritz vectors (columns).
    verdict : str
        ``"psd"``, ``"indefinite"`` or ``"inconclusive"`` (see the module docstring).
    tolerance : float
        τ used for the verdict (the bound of λ_min, or of the certifying vector).
    lambda_min, lambda_max : float
        Smallest / largest computed eigenvalue.
    """

    eigenvalues: np.ndarray
    bounds: np.ndarray
    residuals: np.ndarray
    hvp_errors: np.ndarray
    ritz_values: np.ndarray
    converged: np.ndarray
    eigenvectors: np.ndarray
    verdict: str
    tolerance: float
    lambda_min: float
    lambda_max: float
    which: str = "largest"
    k: int = 0
    tol: float = 0.0
    seed: int = 0
    method: str = "lanczos"
    ncv: int = 0
    n_matvec: int = 0
    n_restarts: int = 0
    n_gradient_evaluations: int = 0
    step: float = 0.0
    h: float = 0.0
    elapsed_s: float = 0.0
    dim: int = 0
    objective: str = ""

    def summary(self) -> str:
        lines = [
            f"Hessian spectrum of {self.objective or 'an objective'} at D = {self.dim} "
            f"({self.which}, k = {self.k})",
            f"  {self.method}: {self.n_matvec} products, {self.n_restarts} restarts, "
            f"{self.n_gradient_evaluations} gradient evaluations in {self.elapsed_s:.3g} s "
            f"(seed {self.seed})",
        ]
        for lam, b, c in zip(self.eigenvalues, self.bounds, self.converged, strict=True):
            lines.append(f"  λ = {lam: .10g} ± {b:.2g}{'' if c else '  (not converged)'}")
        lines.append(f"  verdict: {self.verdict} (tolerance τ = {self.tolerance:.3g})")
        return "\n".join(lines)


def _refine(
    handle: Any, t: np.ndarray, vecs: np.ndarray, vectorized: bool, c: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Rayleigh quotients, residuals and HVP errors of unit rows ``vecs`` with Richardson."""
    out = _core.spectra_hvp(handle, t, np.ascontiguousarray(vecs), c, True, vectorized)
    hy = np.asarray(out["hv"])
    err = np.asarray(out["err"])
    lam = np.einsum("ij,ij->i", vecs, hy)
    res = np.linalg.norm(hy - lam[:, None] * vecs, axis=1)
    return lam, res, np.linalg.norm(err, axis=1), int(out["n_gradients"])


def _verdict(
    which: str, lam: np.ndarray, bounds: np.ndarray, herr: np.ndarray, conv: np.ndarray
) -> tuple[str, float]:
    neg = lam + herr < 0
    if neg.any():
        i = int(np.argmin(np.where(neg, lam + herr, np.inf)))
        return "indefinite", float(herr[i])
    if which == "largest":
        return "inconclusive", float("nan")
    i = int(np.argmin(lam))
    tau = float(bounds[i])
    if conv[i] and lam[i] >= -tau:
        return "psd", tau
    return "inconclusive", tau


def _eigsh(
    handle: Any,
    t: np.ndarray,
    k: int,
    which: str,
    tol: float,
    ncv: int | None,
    max_restarts: int,
    seed: int,
    vectorized: bool,
) -> dict[str, Any]:
    """ARPACK on the same finite-difference operator (products through the core)."""
    from scipy.sparse.linalg import (
        ArpackNoConvergence,
        LinearOperator,
    )
    from scipy.sparse.linalg import eigsh as _scipy_eigsh

    D = t.shape[0]
    count = [0, 0]

    def matmat(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64).reshape(D, -1)
        o = _core.spectra_hvp(handle, t, np.ascontiguousarray(X.T), None, False, vectorized)
        count[0] += X.shape[1]
        count[1] += int(o["n_gradients"])
        return np.ascontiguousarray(np.asarray(o["hv"]).T)

    op = LinearOperator((D, D), matvec=lambda x: matmat(x)[:, 0], matmat=matmat, dtype=float)
    v0 = np.random.default_rng(seed).standard_normal(D)
    kk = 2 * k if which == "both" else k
    mode = {"largest": "LA", "smallest": "SA", "both": "BE"}[which]
    try:
        w, V = _scipy_eigsh(
            op, k=kk, which=mode, tol=tol, ncv=ncv, v0=v0, maxiter=max(max_restarts, 1) * D
        )
        conv = np.ones(kk, dtype=bool)
    except ArpackNoConvergence as exc:
        w, V = exc.eigenvalues, exc.eigenvectors
        conv = np.zeros(w.shape[0], dtype=bool)
    order = np.argsort(w)
    if which == "largest":
        order = order[::-1]
    elif which == "both":
        order = np.concatenate([order[:k], order[k:][::-1]])
    w, V, conv = w[order], V[:, order], conv[order]
    return {
        "values": w,
        "vectors": V.T,
        "converged": conv,
        "n_matvec": count[0],
        "n_gradients": count[1],
        "n_restarts": 0,
        "ncv": ncv or 0,
    }


def eigenvalues(
    objective: Any,
    theta: Any,
    k: int = 6,
    which: SpectrumWhich = "largest",
    *,
    tol: float = 1e-8,
    seed: Any = None,
    ncv: int | None = None,
    max_restarts: int = 500,
    method: SpectrumMethod = "auto",
    refine: bool = True,
    gradient: Callable[..., Any] | None = None,
    vectorized: bool = False,
    step: float | None = None,
    progress: Any = None,
) -> SpectrumResult:
    r"""Extreme eigenvalues of the Hessian at θ by Lanczos on Hessian-vector products.

    Parameters
    ----------
    objective : Objective, callable or None
        A native objective with an analytic gradient, or (with ``gradient=``) a Python callable.
    theta : array_like (D,)
        The point. Must be finite.
    k : int
        Eigenvalues per end: 1 ≤ k ≤ D (``"both"``: k ≤ D/2; 2k values are returned).
    which : {"largest", "smallest", "both"}
        Algebraically largest, smallest, or both ends.
    tol : float
        Relative residual tolerance of the Lanczos run: a Ritz pair has converged when
        ‖A y − θ y‖ ≤ tol · ‖A‖_est (‖A‖_est = largest |Ritz value| seen). In (0, 1).
    seed : int, optional
        Seed of the start vector (``None``: drawn and recorded).
    ncv : int, optional
        Lanczos basis size m (default max(2n + 20, 40) capped at D, n the number of wanted
        values); memory ≈ (m + 1 + n) · D · 8 bytes.
    max_restarts : int
        Largest number of thick restarts (the result reports ``converged`` per value).
    method : {"auto", "lanczos", "eigsh"}
        The core's thick-restart Lanczos (``"auto"``) or ``scipy.sparse.linalg.eigsh`` (ARPACK)
        over the same batched products (a reference; needs SciPy).
    refine : bool
        Refine each Ritz pair with one Richardson product (4 gradients per value) into the
        reported eigenvalue, its bound and the verdict. Without it the Lanczos values are
        reported and the bounds are the Lanczos residuals only.
    gradient, vectorized : optional
        ∇f of a Python objective (see :func:`hvp`).
    step : float, optional
        Relative step c of the Lanczos operator (default eps^(1/3)).
    progress : bool or callable, optional
        Progress reporting (gradient evaluations; native objectives).

    Returns
    -------
    SpectrumResult

    Notes
    -----
    The Lanczos operator v ↦ (∇f(θ+hv) − ∇f(θ−hv))/(2h) (2 gradients per product) is symmetric
    and linear up to its O(h²) truncation and rounding errors (≈ 1e-10 relative to ‖H‖ for
    smooth objectives), which bounds the attainable accuracy; the refinement's bound accounts for
    it. Threads: gradients of a block run in the Rust pool; results do not depend on the thread
    count.

    Raises
    ------
    InvalidInputError
        Shapes, NaN/inf, k out of range, unknown ``which``/``method``, tol ∉ (0, 1), ncv too small.
    ResourceLimitError
        The Lanczos basis would exceed 2 GiB (refused before allocating, with the estimate).
    NumericalError
        A gradient returned NaN or inf during the iteration.
    """
    handle, name, dim = _source(objective, gradient, vectorized)
    t = _theta(theta, dim)
    D = t.shape[0]
    which = check_choice(which, "which", _WHICH)
    method = check_choice(method, "method", _METHODS)
    kmax = D // 2 if which == "both" else D
    k = check_int(k, "k", minimum=1)
    if k > kmax:
        raise InvalidInputError(
            f"k: must be in [1, {kmax}] for D = {D} and which = {which!r}, got {k}"
        )
    tol = check_float(tol, "tol", minimum=0.0, strict_minimum=True, maximum=1.0)
    if tol >= 1.0:
        raise InvalidInputError(f"tol: must be < 1, got {tol}")
    seed = resolve_seed(seed)
    if ncv is not None:
        ncv = check_int(ncv, "ncv", minimum=1)
    max_restarts = check_int(max_restarts, "max_restarts", minimum=0)
    c = _step(step)
    start = time.perf_counter()
    if method == "eigsh":
        out = _eigsh(handle, t, k, which, tol, ncv, max_restarts, seed, bool(vectorized))
        out["residuals"] = np.full(len(out["values"]), np.nan)
    else:
        with progress_callback(progress, "eigenvalues") as cb:
            out = _core.spectra_lanczos(
                handle, t, k, which, tol, ncv, max_restarts, seed % 2**64, c,
                bool(vectorized), progress=cb,
            )  # fmt: skip
    ritz = np.asarray(out["values"], dtype=float)
    vecs = np.asarray(out["vectors"], dtype=float)
    conv = np.asarray(out["converged"], dtype=bool)
    n_grad = int(out["n_gradients"])
    if refine:
        lam, res, herr, ng = _refine(handle, t, vecs, bool(vectorized), None)
        n_grad += ng
    else:
        lam = ritz.copy()
        res = np.asarray(out["residuals"], dtype=float)
        herr = np.zeros_like(lam)
    bounds = res + herr
    verdict, tau = _verdict(which, lam, bounds, herr, conv)
    return SpectrumResult(
        eigenvalues=lam,
        bounds=bounds,
        residuals=res,
        hvp_errors=herr,
        ritz_values=ritz,
        converged=conv,
        eigenvectors=np.ascontiguousarray(vecs.T),
        verdict=verdict,
        tolerance=tau,
        lambda_min=float(np.min(lam)),
        lambda_max=float(np.max(lam)),
        which=which,
        k=k,
        tol=tol,
        seed=int(seed),
        method="eigsh" if method == "eigsh" else "lanczos",
        ncv=int(out["ncv"]),
        n_matvec=int(out["n_matvec"]),
        n_restarts=int(out["n_restarts"]),
        n_gradient_evaluations=n_grad,
        step=float(c if c is not None else _core.hessian_default_step("gradients", False)),
        h=float(out.get("h", np.nan)),
        elapsed_s=time.perf_counter() - start,
        dim=D,
        objective=name,
    )


# ---- spectral density -----------------------------------------------------------------------


@dataclasses.dataclass(repr=False)
class SpectralDensityResult(Result):
    """Stochastic Lanczos quadrature of the Hessian spectrum (see :func:`spectral_density`).

    Attributes
    ----------
    nodes, weights : ndarray (P, m)
        Gauss quadrature nodes and weights per probe (weights sum to 1 per probe; nodes of a
        probe whose Lanczos run ended early have weight 0).
    grid, density : ndarray (G,)
        The Gaussian-smoothed density φ_σ on the grid (∫φ_σ dt = 1).
    sigma : float
        Smoothing width σ.
    trace, trace_se : float
        Estimate of tr H = D · mean_p Σ_j τ_pj θ_pj and its standard error over probes.
    trace_sq, trace_sq_se : float
        Estimate of tr H² (= ‖H‖_F²) and its standard error.
    """

    nodes: np.ndarray
    weights: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    sigma: float
    trace: float
    trace_se: float
    trace_sq: float
    trace_sq_se: float
    n_probes: int = 0
    n_steps: int = 0
    seed: int = 0
    n_matvec: int = 0
    n_gradient_evaluations: int = 0
    step: float = 0.0
    h: float = 0.0
    elapsed_s: float = 0.0
    dim: int = 0
    objective: str = ""

    def moment(self, p: int) -> float:
        """The SLQ estimate of tr(H^p)/D (exact in expectation for p ≤ 2m − 1)."""
        p = check_int(p, "p", minimum=0)
        return float(np.mean(np.sum(self.weights * self.nodes**p, axis=1)))

    def summary(self) -> str:
        live = self.weights > 0
        return "\n".join(
            [
                f"Hessian spectral density of {self.objective or 'an objective'} at D = "
                f"{self.dim}: {self.n_probes} probes × {self.n_steps} Lanczos steps, "
                f"{self.n_gradient_evaluations} gradient evaluations in {self.elapsed_s:.3g} s "
                f"(seed {self.seed})",
                f"  nodes in [{np.min(self.nodes[live]):.4g}, {np.max(self.nodes[live]):.4g}], "
                f"σ = {self.sigma:.3g}",
                f"  tr H ≈ {self.trace:.6g} ± {self.trace_se:.2g}, "
                f"tr H² ≈ {self.trace_sq:.6g} ± {self.trace_sq_se:.2g}",
            ]
        )


def spectral_density(
    objective: Any,
    theta: Any,
    *,
    n_probes: int = 8,
    n_steps: int = 60,
    seed: Any = None,
    sigma: float | None = None,
    n_grid: int = 400,
    gradient: Callable[..., Any] | None = None,
    vectorized: bool = False,
    step: float | None = None,
    progress: Any = None,
) -> SpectralDensityResult:
    r"""Hessian spectral density by stochastic Lanczos quadrature.

    .. math::
        \phi_\sigma(t) = \frac{1}{P}\sum_{p=1}^{P}\sum_{j=1}^{m}
            \tau_{pj}\,\frac{1}{\sqrt{2\pi}\sigma}
            \exp\!\Big(-\frac{(t - \theta_{pj})^2}{2\sigma^2}\Big)

    with the nodes θ_pj and weights τ_pj of m Lanczos steps from Rademacher probe p (see the
    module docstring). Cost: P·m Hessian-vector products, 2 gradients each; probes run together
    in groups (one block of gradients per step).

    Parameters
    ----------
    objective : Objective, callable or None
        As in :func:`eigenvalues`.
    theta : array_like (D,)
        The point.
    n_probes : int
        P ≥ 1.
    n_steps : int
        m ≥ 1 Lanczos steps per probe (capped at D); memory ≈ (m + 3) · D · 8 bytes per probe of a
        group.
    seed : int, optional
        Probe p uses the ChaCha8 stream p of ``seed`` (``None``: drawn and recorded).
    sigma : float, optional
        Smoothing width σ > 0 (default: (max node − min node)/100, at least 1e-12 · max |node|).
    n_grid : int
        Grid points G ≥ 2 over [min node − 5σ, max node + 5σ].
    gradient, vectorized, step, progress : optional
        As in :func:`eigenvalues`.

    Returns
    -------
    SpectralDensityResult

    Raises
    ------
    InvalidInputError
        Shapes, NaN/inf, n_probes / n_steps / n_grid out of range, σ ≤ 0.
    ResourceLimitError
        The Lanczos bases would exceed 2 GiB (refused before allocating).
    """
    handle, name, dim = _source(objective, gradient, vectorized)
    t = _theta(theta, dim)
    D = t.shape[0]
    n_probes = check_int(n_probes, "n_probes", minimum=1)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    n_grid = check_int(n_grid, "n_grid", minimum=2)
    if sigma is not None:
        sigma = check_float(sigma, "sigma", minimum=0.0, strict_minimum=True)
    seed = resolve_seed(seed)
    c = _step(step)
    start = time.perf_counter()
    with progress_callback(progress, "spectral density") as cb:
        out = _core.spectra_slq(
            handle, t, n_probes, n_steps, seed % 2**64, c, None, bool(vectorized), progress=cb
        )
    nodes = np.asarray(out["nodes"])
    weights = np.asarray(out["weights"])
    live = weights > 0
    lo, hi = float(np.min(nodes[live])), float(np.max(nodes[live]))
    if sigma is None:
        sigma = max((hi - lo) / 100.0, 1e-12 * max(abs(lo), abs(hi)), np.finfo(float).tiny)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, n_grid)
    dens = np.zeros(n_grid)
    for p in range(nodes.shape[0]):
        z = (grid[:, None] - nodes[p][None, :]) / sigma
        dens += np.exp(-0.5 * z**2) @ weights[p]
    dens /= nodes.shape[0] * sigma * np.sqrt(2 * np.pi)
    m1 = D * np.sum(weights * nodes, axis=1)
    m2 = D * np.sum(weights * nodes**2, axis=1)
    P = nodes.shape[0]

    def se(a: np.ndarray) -> float:
        return float(np.std(a, ddof=1) / np.sqrt(P)) if P > 1 else float("nan")

    return SpectralDensityResult(
        nodes=nodes,
        weights=weights,
        grid=grid,
        density=dens,
        sigma=float(sigma),
        trace=float(np.mean(m1)),
        trace_se=se(m1),
        trace_sq=float(np.mean(m2)),
        trace_sq_se=se(m2),
        n_probes=n_probes,
        n_steps=int(min(n_steps, D)),
        seed=int(seed),
        n_matvec=int(out["n_matvec"]),
        n_gradient_evaluations=int(out["n_gradients"]),
        step=float(out["step"]),
        h=float(out["h"]),
        elapsed_s=time.perf_counter() - start,
        dim=D,
        objective=name,
    )
