"""Figures (matplotlib is an optional extra: ``pip install hiddenconvex[plot]``).

Every helper writes a PNG and returns its path; matplotlib is imported lazily with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "plot_eigenvalues",
    "plot_gap_histogram",
    "plot_slice_1d",
    "plot_slice_2d",
    "plot_spectrum",
    "pyplot",
]


def pyplot() -> Any:
    """Import matplotlib.pyplot with a non-interactive backend, with a clear error if missing."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'hiddenconvex[plot]'") from exc
    return plt


def save_figure(fig: Any, path: Any, *, dpi: int = 150, tight: bool = False) -> Path:
    """Write ``fig`` to ``path`` (folders created; format from the suffix), close it, return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    pyplot().close(fig)
    return out


def _save(fig: Any, path: Any) -> Path:
    out = Path(path)
    if out.suffix.lower() != ".png":
        from .exceptions import InvalidInputError

        raise InvalidInputError(f"path: expected a .png file name, got {str(path)!r}")
    return save_figure(fig, out, dpi=150, tight=True)


def plot_slice_1d(result: Any, path: Any, *, title: str | None = None) -> Path:
    """Write a PNG of a 1-D slice: the curve; for a witness slice also the chord of the pair (in
    another colour), the two end points, and the tested midpoint marked with the gap.

    Parameters
    ----------
    result : Slice1D
        From :func:`hiddenconvex.slice_1d` or :func:`hiddenconvex.witness_slice`.
    path : str or Path
        Target ``.png``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    ts, vals = np.asarray(result.ts), np.asarray(result.values)
    witness = result.chord is not None
    ax.plot(
        ts, vals, color="#1f4e9c", lw=2.2, label="f along the segment" if witness else "f(θ + τ·d)"
    )
    if witness:
        inside = (ts >= 0.0) & (ts <= 1.0)
        ax.plot(
            ts[inside],
            np.asarray(result.chord)[inside],
            color="#d9480f",
            lw=2.0,
            ls="--",
            label="chord (1−τ)·f(a) + τ·f(b)",
        )
        fa = float(result.chord[np.argmin(np.abs(ts - 0.0))]) if np.any(inside) else None
        fb = float(result.chord[np.argmin(np.abs(ts - 1.0))]) if np.any(inside) else None
        if fa is not None and fb is not None:
            ax.scatter([0.0, 1.0], [fa, fb], color="#d9480f", zorder=5, s=40)
            ax.annotate("a", (0.0, fa), textcoords="offset points", xytext=(-12, 6), fontsize=11)
            ax.annotate("b", (1.0, fb), textcoords="offset points", xytext=(6, 6), fontsize=11)
        if result.t_mid is not None and result.f_mid is not None and result.chord_mid is not None:
            tm, fm, cm = float(result.t_mid), float(result.f_mid), float(result.chord_mid)
            violated = fm > cm
            ax.vlines(
                tm, min(fm, cm), max(fm, cm), color="#c92a2a" if violated else "#2b8a3e", lw=2.5
            )
            ax.scatter(
                [tm],
                [fm],
                marker="X" if violated else "o",
                s=110,
                zorder=6,
                color="#c92a2a" if violated else "#2b8a3e",
                label=(
                    "violated midpoint: f(m) above the chord"
                    if violated
                    else "midpoint: f(m) below the chord"
                ),
            )
            ax.scatter([tm], [cm], marker="_", s=200, color="#d9480f", zorder=6)
            ax.annotate(
                f"Jensen gap = {cm - fm:.3g}",
                (tm, max(fm, cm)),
                textcoords="offset points",
                xytext=(8, 8),
                fontsize=10,
            )
        ax.set_xlabel("τ   (θ = a + τ·(b − a))")
    else:
        ax.axvline(0.0, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("τ   (θ + τ·d)")
    ax.set_ylabel("loss f")
    ax.set_title(
        title
        or (
            f"{result.objective}: slice along a midpoint witness"
            if witness
            else f"{result.objective}: 1-D slice"
        )
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return _save(fig, path)


def plot_slice_2d(
    result: Any, path: Any, *, title: str | None = None, levels: int = 30, log: bool = False
) -> Path:
    """Write a PNG of a 2-D slice: filled contours with contour lines and a colour bar; θ marked.

    ``log=True`` contours log10(f − min f + 1e-12·scale) (useful for losses with a wide range).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    al, be = np.asarray(result.alphas), np.asarray(result.betas)
    z = np.asarray(result.values, dtype=float).T  # rows: beta, columns: alpha
    label = "loss f"
    if log:
        fin = z[np.isfinite(z)]
        base = fin.min() if fin.size else 0.0
        span = (fin.max() - base) if fin.size else 1.0
        z = np.log10(z - base + 1e-12 * max(span, 1e-300) + 1e-300)
        label = "log10(f − min f)"
    zm = np.ma.masked_invalid(z)
    cs = ax.contourf(al, be, zm, levels=levels, cmap="viridis")
    ax.contour(al, be, zm, levels=levels, colors="k", linewidths=0.4, alpha=0.5)
    fig.colorbar(cs, ax=ax, label=label)
    ax.scatter([0.0], [0.0], marker="*", s=160, color="#ff6b6b", edgecolor="k", zorder=5, label="θ")
    ax.set_xlabel("α (direction d₁)")
    ax.set_ylabel("β (direction d₂)")
    ax.set_title(title or f"{result.objective}: 2-D slice f(θ + α·d₁ + β·d₂)")
    ax.legend(loc="upper right", fontsize=9)
    return _save(fig, path)


def plot_eigenvalues(
    eigenvalues: Any,
    path: Any,
    *,
    bins: int = 50,
    title: str | None = None,
    tol: float | None = None,
) -> Path:
    """Write a PNG histogram of Hessian eigenvalues (any array; flattened, NaN dropped).

    Negative eigenvalues are drawn in red, non-negative in blue; λ_min and λ_max are annotated;
    ``tol`` (optional) shades the band |λ| ≤ tol treated as zero. Works on the eigenvalues of
    :func:`hiddenconvex.hessian` (shape (B, D), or the result itself: its ``eigenvalues`` are
    used) or any array.
    """
    plt = pyplot()
    if hasattr(eigenvalues, "eigenvalues"):  # a Hessian result
        eigenvalues = eigenvalues.eigenvalues
    lam = np.asarray(eigenvalues, dtype=float).ravel()
    lam = lam[np.isfinite(lam)]
    if lam.size == 0:
        from .exceptions import InvalidInputError

        raise InvalidInputError("eigenvalues: no finite value to plot")
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    edges = np.histogram_bin_edges(lam, bins=bins)
    if lam.min() < 0 < lam.max() and 0.0 not in edges:
        edges = np.sort(np.append(edges, 0.0))
    neg, pos = lam[lam < 0], lam[lam >= 0]
    ax.hist(
        [neg, pos],
        bins=edges,
        stacked=True,
        color=["#c92a2a", "#1f4e9c"],
        label=[f"λ < 0 ({neg.size})", f"λ ≥ 0 ({pos.size})"],
    )
    if tol is not None and tol > 0:
        ax.axvspan(-tol, tol, color="0.85", zorder=0, label=f"|λ| ≤ {tol:.2g}")
    ax.axvline(0.0, color="k", lw=0.8)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("eigenvalue λ of the Hessian")
    ax.set_ylabel("count")
    ax.set_title(title or f"Hessian spectrum: λ_min = {lam.min():.3g}, λ_max = {lam.max():.3g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return _save(fig, path)


def plot_gap_histogram(report: Any, path: Any, *, bins: int = 60, title: str | None = None) -> Path:
    """Write a PNG histogram of a midpoint report's Jensen gaps divided by their tolerances, on
    the signed log axis sign(r)·log10(1 + |r|); pairs beyond tolerance (r < −1) in red."""
    plt = pyplot()
    gaps, tols = np.asarray(report.gaps), np.asarray(report.tols)
    if gaps.size == 0:
        from .exceptions import InvalidInputError

        raise InvalidInputError("report: it kept no per-pair arrays (keep_arrays=False)")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (gaps / tols).ravel()
    r = r[np.isfinite(r)]
    x = np.sign(r) * np.log10(1.0 + np.abs(r))
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    edges = np.histogram_bin_edges(x, bins=bins)
    cut = -np.log10(2.0)  # gap/tol = −1
    ax.hist(x[x >= cut], bins=edges, color="#1f4e9c", label="within tolerance (gap ≥ −tol)")
    ax.hist(x[x < cut], bins=edges, color="#c92a2a", label="violations (gap < −tol)")
    ax.axvline(cut, color="#c92a2a", lw=1.0, ls="--")
    ax.set_xlabel("sign(g)·log10(1 + |g / tol|)   (g = Jensen gap)")
    ax.set_ylabel("pairs")
    ax.set_title(
        title or f"{report.objective}: {report.n_violations} of {report.pairs_tested} pairs violate"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return _save(fig, path)


def plot_spectrum(density: Any, path: Any, *, extremes: Any = (), title: str | None = None) -> Path:
    """Write a PNG of a large-D Hessian spectrum: the SLQ density (log scale) with the extreme
    eigenvalues from Lanczos marked (red: negative, blue: non-negative, with their bounds).

    Parameters
    ----------
    density : SpectralDensityResult
        From :func:`hiddenconvex.spectral_density`.
    path : str or Path
        A ``.png`` file name.
    extremes : sequence of SpectrumResult
        From :func:`hiddenconvex.eigenvalues` (e.g. the largest and the smallest).
    title : str, optional
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    grid, dens = np.asarray(density.grid), np.asarray(density.density)
    floor = max(float(dens.max()) * 1e-8, np.finfo(float).tiny)
    ax.semilogy(grid, np.maximum(dens, floor), color="0.25", lw=1.2,
                label=f"SLQ density ({density.n_probes} probes × {density.n_steps} steps)")  # fmt: skip
    lams, bnds = [], []
    for r in extremes:
        lams.extend(np.asarray(r.eigenvalues, dtype=float).tolist())
        bnds.extend(np.asarray(r.bounds, dtype=float).tolist())
    neg_done = pos_done = False
    for lam, b in zip(lams, bnds, strict=True):
        neg = lam < 0
        colour = "#c92a2a" if neg else "#1f4e9c"
        label = None
        if neg and not neg_done:
            label, neg_done = "Lanczos eigenvalues λ < 0", True
        elif not neg and not pos_done:
            label, pos_done = "Lanczos eigenvalues λ ≥ 0", True
        ax.axvline(lam, color=colour, lw=1.0, alpha=0.8, label=label)
        if np.isfinite(b) and b > 0:
            ax.axvspan(lam - b, lam + b, color=colour, alpha=0.15)
    ax.axvline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("eigenvalue λ of the Hessian")
    ax.set_ylabel("spectral density (smoothed)")
    lo = f"{min(lams):.3g}" if lams else "?"
    hi = f"{max(lams):.3g}" if lams else "?"
    ax.set_title(title or f"Hessian spectrum at D = {density.dim}: λ from {lo} to {hi}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
