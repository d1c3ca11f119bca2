r"""Batched finite-difference Hessians with error estimates, kink flags and certified verdicts.

:func:`hessian` computes H(θ_b) at a batch of points for any objective (native or Python callable).

Methods
-------
``"values"`` (any objective, black boxes included)
    Second differences of f on the stencil {θ} ∪ {θ ± m h_i e_i} ∪ {θ ± m(h_i e_i + h_j e_j), i < j},
    m ∈ {1, 2}:

    .. math::
        H_{ii} ≈ \frac{f(θ + h_i e_i) + f(θ − h_i e_i) − 2f(θ)}{h_i^2},\qquad
        H_{ij} ≈ \frac{f(θ + v) + f(θ − v) − f(θ ± h_i e_i) − f(θ ± h_j e_j) + 2f(θ)}{2 h_i h_j}

    with v = h_i e_i + h_j e_j (both O(h²)). 1 + 2(D² + D) evaluations per point with Richardson
    (1 + D² + D without). The whole batch of stencil points is built in Rust; native objectives are
    evaluated in parallel with the GIL released; Python callables are called once per chunk of up to
    2²² / D stencil points (vectorised) or once per point (scalar), always from the calling thread.
``"gradients"`` (native objectives; Python callables with a gradient, e.g. autodiff)
    Central differences of the analytic gradient, column i = (∇f(θ + h_i e_i) − ∇f(θ − h_i e_i)) /
    (2h_i), symmetrised. 4D + 1 gradient evaluations per point with Richardson (2D without).

Richardson: the result is (4 H(h) − H(2h)) / 3 (O(h⁴) truncation). The error estimate per entry is
for that returned value: 2 |H(h) − H(2h)| + (4 r(h) + r(2h)) / 3, with r the rounding bound of
each step (8 eps · Σ rounding scales / denominator, the scales being the native objectives'
Σ|summands|, or max |f| over the point's stencil for callables), plus (gradients) half the
asymmetry of the extrapolated column estimates, plus 4 times the larger of the row's and the
column's RMS of |H(h) − H(2h)| (and of the asymmetry): the rounding of analytic gradients can
exceed the model r (cancellation inside the gradient's sums), and per entry |H(h) − H(2h)| can be
small by chance while the entry's error is not. The extrapolated rounding error is
(4 E(h) − E(2h)) / 3 = (4/3)(E(h) − E(2h)) + E(2h), which a bound for H(h) alone does not cover;
|H(h) − H(2h)| measures E(h) − E(2h) plus three times the truncation of H(h), so its factor 2
covers the first term and the O(h⁴) truncation with a margin.

Steps: h_i = 2^round(log2(c · max(1, |θ_i|, ‖θ‖∞/64))), a power of two (so θ_i ± h_i and θ_i ± 2h_i are exact
floating-point numbers unless they cross a binade), with c = eps^(1/6) ≈ 2.5e-3 ("values",
Richardson: balances the h⁴ truncation against the eps/h² rounding), eps^(1/4) ("values"),
eps^(1/5) ("gradients", Richardson) or eps^(1/3) ("gradients"); ``step=c`` overrides c.

Kinks (Richardson only): each stencil line (axis e_i; direction e_i + e_j; gradient component j
along e_i) has 5 equally spaced samples. For a smooth function their consecutive second
differences (values) or first differences (gradients) agree to O(h) relative; a kink crossed by the
line makes them jump by O(1). An entry is flagged when the jump exceeds 1/4 of the largest difference
plus 1/20 · (line step)^k · max|H| plus the rounding bound, unless the differences are geometric
(one sign, consecutive ratios all above 5/4 — or all below 4/5 — and within a factor 5/4 of each
other): that is a smooth function whose curvature changes on the scale of the step (e.g. a logistic
loss far out on separable data, |w| ~ 10³), not a kink.

Kinks that are not flagged: five samples cannot see every kink (a kink close to a sample point
perturbs the differences by less than the thresholds). Measured on a two-layer ReLU network
(12 × 3 data, 3 units) with one kink placed uniformly within ±2h of the stencil centre along an
axis (300 placements each, JAX Hessian as the truth): 2.7% of the crossings unflagged with
"values", 1.0% with "gradients"; none of the unflagged ones had an entry off by more than its
error estimate (with a per-entry estimate alone, 1.0% were, by up to 2.3×). The error estimate covers
most of these: it adds to every entry COL_C = 4 times the RMS of |H(h) − H(2h)| (and, for
gradients, of the asymmetry) over its row and column, which the perturbation of an unflagged kink
raises along the whole row. Treat "psd" at points near ReLU kinks accordingly.

Verdict per point, from the eigenvalues λ of H and the tolerance τ = ‖E‖_F (Weyl: every eigenvalue
of the true Hessian is within ‖E‖₂ ≤ ‖E‖_F of the estimate's; τ is computed as
max|E|·‖E/max|E|‖_F, so it neither underflows nor overflows at any scale of f):

- ``"indefinite"``: certified (tried where λ_min < −τ, and where kinks were crossed and λ_min < 0).
  Along the eigenvector v of λ_min the 1-D second difference
  q(t) = f(θ + tv) + f(θ − tv) − 2f(θ) is negative beyond its rounding tolerance at two
  consecutive steps t and 2t (the re-check). q(t) < 0 is a violation of midpoint convexity at
  (θ − tv, θ + tv), so the certificate holds even at kinks;
- ``"unreliable"``: kinks were crossed, or λ_min < −τ could not be confirmed by q;
- ``"psd"``: λ_min ≥ −τ (PSD within the estimated error);
- ``"nonfinite"``: some evaluation was NaN or ±inf (reported per point, never an exception).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _core
from ._interruptible import call_interruptibly
from ._progress import progress_callback
from ._typing import HessianMethod
from ._validation import as_float_array, check_bool, check_choice, check_float
from .exceptions import InvalidInputError
from .io import Result
from .objectives import CallableObjective, Objective, as_objective, core_handle, infer_dim

if TYPE_CHECKING:
    from ._core import _HessianBatch, _HessianMethod

__all__ = ["HessianResult", "hessian"]

_METHODS: tuple[Literal["auto"] | _HessianMethod, ...] = ("auto", "values", "gradients")
#: Smallest relative step c accepted (machine epsilon): below it θ + h == θ.
MIN_STEP = float(np.finfo(np.float64).eps)
# The certificates' rounding allowance (256 eps · Σ scales) and their step sizes (t0 · 2^k, at
# most 5, evaluated until two consecutive negative ones) are the core's
# ``hessian::verdict::CERT_ULPS`` / ``CERT_STEPS``.


@dataclasses.dataclass(repr=False)
class HessianResult(Result):
    """Hessians of a batch of points and their diagnostics (see :func:`hessian`).

    Attributes
    ----------
    H : ndarray (B, D, D)
        Symmetric Hessian estimates.
    error : ndarray (B, D, D)
        Per-entry error estimates.
    kink : ndarray of bool (B, D, D)
        Entries whose stencil crossed a kink.
    finite : ndarray of bool (B,)
        Whether every evaluation of the point was finite.
    values : ndarray (B,)
        f at the points.
    points, steps : ndarray (B, D)
        The points and the steps h_i used.
    eigenvalues : ndarray (B, D) or None
        Ascending eigenvalues of H (NaN rows for non-finite points).
    lambda_min, lambda_max : ndarray (B,) or None
        Extreme eigenvalues.
    tolerance : ndarray (B,)
        τ = ‖error‖_F.
    min_eigenvector : ndarray (B, D) or None
        Unit eigenvector of λ_min.
    verdict : list of str or None
        "psd", "indefinite", "unreliable" or "nonfinite" per point.
    certificate_t, certificate_gap, certificate_tolerance : ndarray (B,) or None
        For certified points: the step t, q(t) = f(θ+tv) + f(θ−tv) − 2f(θ) < 0 and its
        tolerance (NaN elsewhere).

    The fields marked "or None" are None when the Hessians were computed with
    ``spectrum=False`` (:func:`hessian`); ``counts()`` is then empty.
    """

    H: np.ndarray
    error: np.ndarray
    kink: np.ndarray
    finite: np.ndarray
    values: np.ndarray
    points: np.ndarray
    steps: np.ndarray
    eigenvalues: np.ndarray | None
    lambda_min: np.ndarray | None
    lambda_max: np.ndarray | None
    tolerance: np.ndarray
    min_eigenvector: np.ndarray | None
    verdict: list[str] | None
    certificate_t: np.ndarray | None
    certificate_gap: np.ndarray | None
    certificate_tolerance: np.ndarray | None
    method: str = "values"
    richardson: bool = True
    step: float = 0.0
    n_evaluations: int = 0
    n_gradient_evaluations: int = 0
    elapsed_s: float = 0.0
    objective: str = ""

    @property
    def n_points(self) -> int:
        return int(self.H.shape[0])

    @property
    def dim(self) -> int:
        return int(self.H.shape[1])

    def counts(self) -> dict[str, int]:
        """Number of points per verdict (empty without verdicts: ``spectrum=False``)."""
        if self.verdict is None:
            return {}
        out = {k: 0 for k in ("psd", "indefinite", "unreliable", "nonfinite")}
        for v in self.verdict:
            out[v] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        ok = self.finite
        lines = [
            f"Hessians of {self.objective or 'an objective'} at {self.n_points} point(s), D = {self.dim}",
            f"  method: {self.method}{' + Richardson' if self.richardson else ''}, "
            f"relative step c = {self.step:.3g}, {self.n_evaluations} value and "
            f"{self.n_gradient_evaluations} gradient evaluations in {self.elapsed_s:.3g} s",
        ]
        if not c:
            lines.append("  no spectra or verdicts (spectrum=False)")
        else:
            lines.append(
                f"  verdicts: {c['psd']} psd, {c['indefinite']} indefinite (certified), "
                f"{c['unreliable']} unreliable, {c['nonfinite']} non-finite"
            )
        if ok.any() and self.lambda_min is not None and self.lambda_max is not None:
            lines.append(
                f"  λ_min in [{np.nanmin(self.lambda_min):.4g}, {np.nanmax(self.lambda_min):.4g}], "
                f"λ_max in [{np.nanmin(self.lambda_max):.4g}, {np.nanmax(self.lambda_max):.4g}], "
                f"median tolerance ‖E‖_F = {np.nanmedian(self.tolerance):.3g}"
            )
        nk = int(self.kink.any(axis=(1, 2)).sum())
        if nk:
            lines.append(
                f"  {nk} point(s) with kinks crossed by the stencil (estimates unreliable)"
            )
        return "\n".join(lines)


_BLAS: list[Any] = []  # the cached threadpoolctl controller (or None when unavailable)


#: Hessians of at least this order are decomposed on a worker thread (see :func:`_eigh`).
EIGH_THREAD_MIN_DIM = 256

#: Hessians up to this order are decomposed in the core (Householder tridiagonalisation, all
#: eigenvalues, the λ_min eigenvector alone by inverse iteration; no BLAS thread limit to set and
#: undo, no LAPACK call per point); larger ones by LAPACK (:func:`_eigh`, on a worker thread that
#: Ctrl-C can abandon).
CORE_EIGEN_MAX_DIM = EIGH_THREAD_MIN_DIM - 1


def _eigh(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched eigh, honouring Ctrl-C while LAPACK runs.

    LAPACK cannot be stopped and NumPy checks for signals only when it returns (minutes for
    D = 3651 on a loaded machine). From order :data:`EIGH_THREAD_MIN_DIM` on, the decomposition
    runs on a worker thread (NumPy releases the GIL) and the caller waits for it interruptibly
    (:func:`~hiddenconvex._interruptible.call_interruptibly`): Ctrl-C raises
    ``KeyboardInterrupt`` at once, and the abandoned decomposition finishes in the background,
    its result discarded (the interpreter waits for it at exit: LAPACK cut off by the exit
    would crash the process).
    """
    if H.shape[-1] < EIGH_THREAD_MIN_DIM:
        return _eigh_now(H)
    return call_interruptibly(lambda: _eigh_now(H), "hiddenconvex-eigh")


def _eigh_now(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched eigh with BLAS limited to one thread when threadpoolctl is available.

    Multi-threaded OpenBLAS on small matrices is slow on loaded machines (its threads compete
    with the Rust pool): single-threaded it is ~100x faster for D = 100.
    """
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except ImportError:  # pragma: no cover - optional
            _BLAS.append(None)
    ctl = _BLAS[0]
    if ctl is None:  # pragma: no cover - optional
        return np.linalg.eigh(H)
    with ctl.limit(limits=1, user_api="blas"):
        return np.linalg.eigh(H)


def _points(points: Any, dim: int) -> np.ndarray:
    pts = as_float_array(points, "points", ndim=(1, 2))
    if pts.ndim == 1:
        pts = pts[None, :]
    if pts.shape[1] != dim:
        raise InvalidInputError(
            f"points: expected {dim} columns (the objective's dimension), got {pts.shape[1]}"
        )
    return pts  # C-contiguous float64 (as_float_array), as is a row view of a 1-D one


def hessian(
    objective: Any,
    points: Any,
    *,
    method: HessianMethod = "auto",
    step: float | None = None,
    richardson: bool = True,
    dim: int | None = None,
    vectorized: bool = False,
    gradient: Any = None,
    progress: Any = None,
    spectrum: bool = True,
) -> HessianResult:
    """Finite-difference Hessians at a batch of points, with error estimates and verdicts.

    Parameters
    ----------
    objective : Objective or callable
        A native objective (:mod:`hiddenconvex.objectives`) or a Python callable ``f(theta)``
        (or, with ``vectorized=True``, ``f(Theta (B, D)) -> (B,)``).
    points : array_like, shape (B, D) or (D,)
        Where to evaluate H. Must be finite.
    method : {"auto", "values", "gradients"}
        ``"auto"``: gradients for objectives with a gradient (native objectives with an analytic
        gradient, a :class:`CallableObjective` or adapter with a gradient, or ``gradient=``), else
        values.
    step : float, optional
        Relative step c (h_i = 2^round(log2(c·max(1, |θ_i|, ‖θ‖∞/64)))); default depends on the method (see
        the module docstring). Must be at least machine epsilon (2.2e-16): below it θ + h
        rounds to θ and no difference is resolved (InvalidInputError).
    richardson : bool
        Richardson extrapolation from steps h and 2h (also needed for the error estimate's
        truncation part and for kink detection). Without it, the error estimate is the rounding
        bound only and no kinks are flagged; for linear models with the gradients method it is a
        derived bound of the computed gradient differences (one product XᵀQ per point, see
        "Gradient differences of linear models" in the diagnostics docs).
    dim : int, optional
        D of a Python callable; inferred from ``points`` when not given.
    vectorized : bool
        Whether the callable (and ``gradient``) take a batch.
    gradient : callable, optional
        ∇f of a Python callable (``gradient(theta (D,)) -> (D,)``, or with ``vectorized=True``
        ``gradient(Theta (B, D)) -> (B, D)``), e.g. from autodiff. Not needed for objectives that
        carry their gradient (:func:`hiddenconvex.from_torch`, :func:`hiddenconvex.from_jax`).
        The gradients method differentiates it by central differences (kink-aware), calling it
        from the calling thread once per chunk of shifted points.
    progress : bool or callable, optional
        Progress reporting (see :mod:`hiddenconvex._progress`).
    spectrum : bool
        Whether to compute the spectra (eigenvalues, the eigenvector of λ_min), the certificates
        and the verdicts (default). With ``False`` only H, the error estimates, the kink flags
        and τ = ‖error‖_F are computed, and the result's ``eigenvalues``, ``lambda_min``,
        ``lambda_max``, ``min_eigenvector``, ``verdict`` and ``certificate_*`` are None: the
        cheaper call when only H is wanted (the eigenvalues cost about as much as the Hessian
        itself at D ≈ 100).

    Returns
    -------
    HessianResult

    Notes
    -----
    Threads: native evaluations run in the Rust pool (points × stencil rows in parallel), results
    do not depend on the thread count. NaN/inf values of the objective give verdict
    ``"nonfinite"`` for that point only.

    Raises
    ------
    InvalidInputError
        Shape or dimension mismatch, non-finite points, step ≤ 0, unknown method, "gradients"
        for a callable without a gradient.
    Exception
        Whatever a Python callable raises, with a note saying which batch was being evaluated.
    """
    if isinstance(objective, Objective) and dim is None:
        # a native objective: nothing to infer or coerce (as_objective's checks, once)
        check_bool(vectorized, "vectorized")
        obj: Objective | CallableObjective = objective
    else:
        obj = as_objective(objective, infer_dim(objective, dim, points), vectorized=vectorized)
    choice = check_choice(method, "method", _METHODS)
    if gradient is not None:
        if isinstance(obj, Objective):
            raise InvalidInputError(
                "gradient: only for Python callables (a native objective has its own gradient)"
            )
        obj = CallableObjective(obj.f, obj.dim, vectorized=obj.vectorized, gradient=gradient)
    richardson = check_bool(richardson, "richardson")
    spectrum = check_bool(spectrum, "spectrum")
    if step is not None:
        step = check_float(step, "step", minimum=0.0, strict_minimum=True)
        if step < MIN_STEP:
            # h_i = c·max(1, |θ_i|, …) with c < eps: θ_i + h_i rounds to θ_i, every difference
            # is 0 (or 0/0 once h² underflows), so H would be 0 or NaN from finite values
            raise InvalidInputError(
                f"step: the relative step {step:.3g} is below the resolvable scale (machine "
                f"epsilon {MIN_STEP:.3g}): θ + h rounds to θ, so every finite difference is 0; "
                "use step >= 2.2e-16 (the defaults are about 1e-3 to 1e-5)"
            )
    how: _HessianMethod = "values"
    if choice == "auto":
        how = "gradients" if obj.has_gradient else "values"
    else:
        how = choice
    handle, d, vec = core_handle(obj)
    pts = _points(points, d)
    grad = obj.gradient_fn if isinstance(obj, CallableObjective) else None
    # Up to CORE_EIGEN_MAX_DIM, one call computes the Hessians, τ = ‖E_b‖_F, the spectra (the core's
    # eigensolver), the certificates and the verdicts; larger Hessians are decomposed
    # by LAPACK (_eigh) and certified by a second call.
    core_eigen = spectrum and pts.shape[1] <= CORE_EIGEN_MAX_DIM
    start = time.perf_counter()
    if core_eigen and isinstance(obj, Objective) and (progress is None or progress is False):
        # a native objective: the result's fields, in their order, from one core call
        (H, err, kink, ok, f0, steps, eig, lam_min, lam_max, tol, vmin, verdict, c_t, c_gap, c_tol,
         used_step, n_values, n_gradients) = _core.hessian_analysis(
            handle, pts, how, step, richardson
        )  # fmt: skip
        return HessianResult(
            H, err, kink, ok, f0, pts, steps, eig, lam_min, lam_max, tol, vmin, verdict,
            c_t, c_gap, c_tol, how, richardson, used_step, n_values, n_gradients,
            time.perf_counter() - start, str(obj.name),
        )  # fmt: skip
    if progress is None or progress is False:
        out = _core.hessian_batch(
            handle, pts, how, step, richardson, d, vec, gradient=grad, verdicts=core_eigen
        )
    else:
        with progress_callback(progress, "hessian") as cb:
            out = _core.hessian_batch(
                handle,
                pts,
                how,
                step,
                richardson,
                d,
                vec,
                progress=cb,
                gradient=grad,
                verdicts=core_eigen,
            )
    if spectrum and not core_eigen:
        _large_verdicts(out, handle, pts, d, vec)
    # with spectrum=False the spectral, verdict and certificate keys are absent: those fields are
    # None (H, error estimates, kinks and τ only; τ and the flags are computed with H)
    return HessianResult(
        H=out["H"],
        error=out["err"],
        kink=out["kink"],
        finite=out["ok"],
        values=out["f0"],
        points=pts,
        steps=out["steps"],
        eigenvalues=out.get("eig"),
        lambda_min=out.get("lambda_min"),
        lambda_max=out.get("lambda_max"),
        tolerance=out["tol"],
        min_eigenvector=out.get("vmin"),
        verdict=out.get("verdict"),
        certificate_t=out.get("cert_t"),
        certificate_gap=out.get("cert_gap"),
        certificate_tolerance=out.get("cert_tol"),
        method=how,
        richardson=richardson,
        step=out["step"],
        n_evaluations=out.get("n_evaluations", out["n_values"]),
        n_gradient_evaluations=out["n_gradients"],
        elapsed_s=time.perf_counter() - start,
        objective=str(obj.name),
    )


def _large_verdicts(out: _HessianBatch, handle: Any, pts: np.ndarray, d: int, vec: bool) -> None:
    """Spectra by LAPACK (:func:`_eigh`), then the certificates and verdicts of the core, added
    to ``out`` (the keys the one-call path returns)."""
    spec = _core.hessian_spectrum(out["H"], out["err"], out["finite"], False)
    ok, eig, vmin, tol = spec["ok"], spec["eig"], spec["vmin"], spec["tol"]
    if ok.any():
        w, V = _eigh(out["H"][ok])
        eig[ok] = w
        vmin[ok] = V[:, :, 0]
    lam_min = eig[:, 0].copy()
    cert = _core.hessian_certify(
        handle, pts, out["steps"], out["f0"], out["s0"], out["kink"], ok, tol, lam_min, vmin, d, vec
    )
    out["ok"], out["eig"], out["vmin"], out["tol"] = ok, eig, vmin, tol
    out["lambda_min"], out["lambda_max"] = lam_min, eig[:, -1].copy()
    out["cert_t"], out["cert_gap"], out["cert_tol"] = (
        cert["cert_t"],
        cert["cert_gap"],
        cert["cert_tol"],
    )
    out["verdict"] = cert["verdict"]
    out["n_evaluations"] = out["n_values"] + cert["n_certificate_evaluations"]
