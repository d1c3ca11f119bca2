"""Your own model in the report: a PyTorch / JAX objective analysed end to end.

:func:`analyse_objective` fills one report section for an objective built by
:func:`hiddenconvex.from_torch` / :func:`hiddenconvex.from_jax`: a certified non-convexity witness
from the hidden-unit permutation symmetry, λ_min / λ_max of the Hessian with error bars (dense
finite-difference Hessian of the autodiff gradient where D allows, Lanczos otherwise), and a
filter-normalised 2-D slice. The demo uses it on a torch MLP trained on a bundled scikit-learn data
set; ``hiddenconvex report --torch-model module:attr`` and :func:`run_model_report` on yours.
"""

from __future__ import annotations

import importlib
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .html import HtmlReport, Section

__all__ = ["analyse_objective", "load_model_spec", "run_model_report"]

#: Largest D for which the report computes a dense Hessian (else Lanczos).
DENSE_MAX_DIM = 400


def analyse_objective(
    obj: Any,
    theta: np.ndarray,
    sec: Section,
    png: Any,
    *,
    seed: int = 0,
    quick: bool = False,
    peers: bool = True,
) -> dict[str, Any]:
    """Witness, λ_min / λ_max and a 2-D slice of ``obj`` at ``theta``, written into ``sec``.

    ``png(name)`` returns the path of a new figure. Returns the numbers (JSON-ready).
    """
    from .. import (
        eigenvalues,
        hessian,
        midpoint_test,
        permutation_pairs,
        random_direction,
        slice_2d,
    )

    out: dict[str, Any] = {"dim": int(obj.dim), "objective": str(obj.name)}
    # 1. the witness: swapping two hidden units leaves the loss unchanged; the midpoint is above
    n_hidden = int(getattr(obj, "n_hidden_layers", 0))
    if n_hidden:
        pairs = permutation_pairs(obj, theta, layer=0, max_pairs=20 if quick else 200)
        rep = midpoint_test(obj, pairs=pairs)
        w = rep.witness
        out["witness"] = {
            "pairs": rep.pairs_tested,
            "violations": rep.n_violations,
            "certified": bool(rep.certified),
            "label": None if w is None else w.label,
            "gap": None if w is None else float(w.gap_verified),
            "tolerance": None if w is None else float(w.tol_verified),
        }
        txt = (
            f"{rep.n_violations} of {rep.pairs_tested} hidden-unit swaps of layer "
            f"{obj.layer_names[0]!r} violate midpoint convexity"
            + (
                f"; witness ({w.label}): f(m) − (f(a)+f(b))/2 = {-w.gap_verified:.3g} > "
                f"tolerance {w.tol_verified:.2g}"
                if w is not None
                else ""
            )
        )
        sec.verdict(
            False if rep.certified else None,
            ("non-convex (certified): " if rep.certified else "") + txt,
        )
    else:
        sec.para("No hidden layer between two affine layers was found: no permutation witness.")
    # 2. curvature: λ_min / λ_max with error bars
    if obj.dim <= DENSE_MAX_DIM:
        h = hessian(obj, theta)
        assert h.lambda_min is not None and h.lambda_max is not None and h.verdict is not None
        lmin, lmax, tol = float(h.lambda_min[0]), float(h.lambda_max[0]), float(h.tolerance[0])
        how = (
            f"dense finite-difference Hessian of the autodiff gradient ({h.n_gradient_evaluations} "
            f"gradients), verdict {h.verdict[0]}"
        )
        out["hessian"] = {"lambda_min": lmin, "lambda_max": lmax, "error": tol,
                          "verdict": h.verdict[0], "method": "dense"}  # fmt: skip
        lmin_err = lmax_err = tol
    else:
        top = eigenvalues(obj, theta, k=1, which="largest", seed=seed)
        low = eigenvalues(obj, theta, k=1, which="smallest", seed=seed)
        lmin, lmax = float(low.lambda_min), float(top.lambda_max)
        lmin_err, lmax_err = float(low.bounds[0]), float(top.bounds[-1])
        how = f"Lanczos on Hessian-vector products (verdict {low.verdict})"
        out["hessian"] = {"lambda_min": lmin, "lambda_max": lmax, "error_min": lmin_err,
                          "error_max": lmax_err, "verdict": low.verdict, "method": "lanczos"}  # fmt: skip
    sec.para(f"λ_min = {lmin:.4g} ± {lmin_err:.2g}, λ_max = {lmax:.4g} ± {lmax_err:.2g} ({how}).")
    rows = [["hiddenconvex", f"{lmin:.6g} ± {lmin_err:.2g}", f"{lmax:.6g} ± {lmax_err:.2g}"]]
    if peers:
        rows += _peer_rows(obj, theta, lmax)
    sec.table(["method", "λ_min", "λ_max"], rows)
    out["peers"] = rows[1:]
    # 3. a filter-normalised 2-D slice around θ
    n = 15 if quick else 31
    d1 = random_direction(obj, theta, seed=seed, normalization="filter")
    d2 = random_direction(obj, theta, seed=seed + 1, normalization="filter")
    s2 = slice_2d(obj, theta, d1, d2, grid=n)
    try:
        path = s2.plot(png("model_slice.png"))
        sec.figure(path, "f(θ + α d₁ + β d₂), d₁, d₂ random filter-normalised directions")
    except ImportError:  # matplotlib missing: the numbers still go into the report
        sec.para("(matplotlib is not installed: no figure)")
    v = s2.values[np.isfinite(s2.values)]
    out["slice"] = {"grid": n, "min": float(v.min()), "max": float(v.max()),
                    "centre": float(s2.values[n // 2, n // 2])}  # fmt: skip
    return out


def _peer_rows(obj: Any, theta: np.ndarray, lmax: float) -> list[list[str]]:
    """λ_max by PyHessian / hessian-eigenthings where installed (torch objectives only)."""
    rows: list[list[str]] = []
    model = getattr(obj, "model", None)
    if model is None:
        return rows
    try:
        import torch
    except ImportError:  # pragma: no cover - torch objectives imply torch
        return rows
    obj.assign(theta)
    X, y = obj.X, obj.y
    n_iter = max(1, min(60, int(obj.dim) - 1))
    try:
        import hessian_eigenthings as he
    except ImportError:
        rows.append(["hessian-eigenthings", "not installed", ""])
    else:
        try:
            op = he.HessianOperator(model, [(X, y)], he.supervised_loss(obj.loss_fn))
            r = he.lanczos(op, k=1, which="LA", tol=1e-8, seed=0, max_iter=n_iter)
            lam = f"{float(r.eigenvalues[0]):.6g}"
            rows.append(["hessian-eigenthings (Lanczos, no error bar)", "", lam])
        except Exception as exc:  # a peer's failure is reported, not fatal
            rows.append(["hessian-eigenthings", f"failed: {type(exc).__name__}", ""])
    try:
        from pyhessian import hessian as pyh
    except ImportError:
        rows.append(["PyHessian", "not installed", ""])
    else:
        try:
            torch.manual_seed(0)
            with warnings.catch_warnings():  # PyHessian's backward(create_graph=True) warns
                warnings.filterwarnings("ignore", message=".*create_graph=True.*")
                comp = pyh(model, obj.loss_fn, data=(X, y), cuda=False)
                top = comp.eigenvalues(maxIter=200, tol=1e-6, top_n=1)[0][0]
            rows.append(["PyHessian (power iteration, no error bar)", "", f"{float(top):.6g}"])
        except Exception as exc:  # a peer's failure is reported, not fatal
            rows.append(["PyHessian", f"failed: {type(exc).__name__}", ""])
    return rows


def load_model_spec(spec: str) -> Any:
    """``module:attr`` → an objective.

    ``attr`` is a hiddenconvex objective, or a callable returning one, or returning a tuple
    ``(model, loss_fn, X, y)`` (then :func:`hiddenconvex.from_torch` builds the objective).
    """
    from ..exceptions import InvalidInputError

    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise InvalidInputError(f"--torch-model: expected 'module:attr', got {spec!r}")
    mod = importlib.import_module(mod_name)
    try:
        obj = getattr(mod, attr)
    except AttributeError:
        raise InvalidInputError(f"--torch-model: module {mod_name!r} has no {attr!r}") from None
    from ..objectives import CallableObjective, Objective

    if not isinstance(obj, (Objective, CallableObjective)) and callable(obj):
        obj = obj()
    if isinstance(obj, tuple) and len(obj) == 4:
        from ..adapters import from_torch

        obj = from_torch(*obj)
    if not isinstance(obj, (Objective, CallableObjective)):
        raise InvalidInputError(
            f"--torch-model: {spec} must be an objective, or a function returning one or "
            "(model, loss_fn, X, y)"
        )
    return obj


def run_model_report(
    objective: Any,
    theta: Any = None,
    *,
    out: str | Path = "hiddenconvex-model-report",
    seed: int = 0,
    quick: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Write ``out/index.html``, ``out/results.json`` and ``out/model_slice.png`` for a model.

    Parameters
    ----------
    objective : objective
        From :func:`hiddenconvex.from_torch` / :func:`hiddenconvex.from_jax` (or any objective
        with a gradient).
    theta : array_like, optional
        Where to analyse (default: the model's current parameters, ``objective.theta0``).
    out, seed, quick, quiet
        Output folder, seed of the random directions, smaller grids, no messages.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    import json

    from .. import __version__
    from ..io import atomic_write_text

    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    th = np.asarray(objective.theta0 if theta is None else theta, dtype=np.float64)
    rep = HtmlReport(
        "Is my model's loss convex here?", f"hiddenconvex {__version__} · {objective.name}"
    )
    sec = rep.section(f"{objective.name} at θ (D = {objective.dim:,})")
    t0 = time.perf_counter()
    res = analyse_objective(objective, th, sec, lambda name: outdir / name, seed=seed, quick=quick)
    res["seconds"] = time.perf_counter() - t0
    rep.write(outdir / "index.html")
    atomic_write_text(outdir / "results.json", json.dumps(res, indent=1, default=str))
    if not quiet:
        print(f"wrote {outdir / 'index.html'}")
    return res
