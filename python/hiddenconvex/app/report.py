"""``hiddenconvex report``: the demo's analysis on the user's own data (.csv or .npz).

Reading rules (every violation is a :class:`DataError` with a one-line message naming the file,
and the column / row when there is one):

- ``.csv``: the first row holds the column names (delimiter ``,``, ``;`` or tab, detected);
  every feature cell must be a number; an empty cell, ``NA`` or ``nan`` is a missing value and is
  rejected (no silent imputation). For classification the target column may hold text labels.
- ``.npz``: every 1-D array is a column named by its key; a 2-D array ``K`` of shape (n, d)
  gives the columns ``K[0]``, …, ``K[d-1]``. No pickled objects are loaded.

The target column is ``--target``; the task is ``--task`` or inferred (two distinct values or text
labels → classification, otherwise regression). Multi-class targets need ``--positive LABEL``
(one-vs-rest).
"""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._typing import Task
from .._validation import encode_pm1
from ..exceptions import InvalidInputError

__all__ = ["DataError", "read_table", "run_report"]

_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class DataError(InvalidInputError):
    """The user's data file cannot be used (the message says why, in one line)."""


def _parse_float(text: str) -> float | None:
    t = text.strip()
    if t.lower() in _MISSING:
        return math.nan
    try:
        return float(t)
    except ValueError:
        return None


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a UTF-8 text file (byte {exc.start}); expected a CSV"
        ) from exc
    if "\x00" in text:
        raise DataError(f"{path}: looks like a binary file, expected a CSV")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(_io.StringIO(text), dialect) if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header = [h.strip() for h in rows[0]]
    if len(rows) < 2:
        raise DataError(f"{path}: no data rows after the header")
    for k, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataError(f"{path}: line {k} has {len(r)} fields, the header has {len(header)}")
    return header, rows[1:]


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    if not magic:
        raise DataError(f"{path}: the file is empty")
    if magic[:2] != b"PK":
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except ValueError as exc:  # pickled objects
        raise DataError(f"{path}: holds pickled objects, which are never loaded") from exc
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__})") from exc
    if not arrays:
        raise DataError(f"{path}: the file is empty (no arrays)")
    cols: dict[str, np.ndarray] = {}
    for k, a in arrays.items():
        if a.ndim == 1:
            cols[k] = a
        elif a.ndim == 2:
            for j in range(a.shape[1]):
                cols[f"{k}[{j}]"] = a[:, j]
        else:
            raise DataError(f"{path}: array {k!r} has {a.ndim} dimensions; expected 1 or 2")
    lengths = {len(v) for v in cols.values()}
    if len(lengths) != 1:
        raise DataError(f"{path}: arrays of different lengths {sorted(lengths)}")
    if lengths == {0}:
        raise DataError(f"{path}: the file is empty (zero rows)")
    return cols


def read_table(
    path: str | Path, target: str, *, task: str | None = None, positive: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str], Task]:
    """Read ``path`` and return ``(X, y, feature_names, task)``.

    ``y`` is numeric; for classification it holds two distinct values (the labels +1 for the
    ``positive`` label or the larger/later one, −1 otherwise, as :func:`hiddenconvex.datasets.prepare`
    maps them).

    Raises
    ------
    DataError
        Missing, empty, unreadable or binary file; unknown suffix; missing target column; no
        feature columns; non-numeric or missing values (with column and line); a classification
        target without exactly two labels (and no ``positive``).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a .csv or .npz file")
    suffix = p.suffix.lower()
    if task is not None and task not in ("regression", "classification"):
        raise DataError(f"task: expected 'regression' or 'classification', got {task!r}")
    if suffix == ".csv":
        header, rows = _read_csv(p)
        if target not in header:
            raise DataError(f"{p}: no column {target!r} (columns: {', '.join(header)})")
        t = header.index(target)
        names = [h for j, h in enumerate(header) if j != t]
        if not names:
            raise DataError(f"{p}: no feature columns besides the target {target!r}")
        X = np.empty((len(rows), len(names)))
        for i, r in enumerate(rows):
            jj = 0
            for j, cell in enumerate(r):
                if j == t:
                    continue
                v = _parse_float(cell)
                if v is None:
                    raise DataError(
                        f"{p}: column {header[j]!r}, line {i + 2}: non-numeric value {cell.strip()!r}"
                    )
                if not math.isfinite(v):
                    what = "missing value" if math.isnan(v) else f"infinite value {cell.strip()!r}"
                    raise DataError(f"{p}: column {header[j]!r}, line {i + 2}: {what}")
                X[i, jj] = v
                jj += 1
        labels_raw = [r[t].strip() for r in rows]
        for i, cell in enumerate(labels_raw):
            if cell.lower() in _MISSING:
                raise DataError(f"{p}: column {target!r}, line {i + 2}: missing value")
        numeric = [_parse_float(c) for c in labels_raw]
        if all(v is not None for v in numeric):
            yv: Any = np.array(numeric, dtype=np.float64)
            if not np.all(np.isfinite(yv)):
                i = int(np.flatnonzero(~np.isfinite(yv))[0])
                raise DataError(f"{p}: column {target!r}, line {i + 2}: infinite value")
        else:
            if task == "regression":
                i = next(k for k, v in enumerate(numeric) if v is None)
                raise DataError(
                    f"{p}: column {target!r}, line {i + 2}: non-numeric value "
                    f"{labels_raw[i]!r} (a regression target must be numeric)"
                )
            yv = np.array(labels_raw, dtype=object)
    elif suffix == ".npz":
        cols = _read_npz(p)
        if target not in cols:
            raise DataError(f"{p}: no column {target!r} (columns: {', '.join(cols)})")
        names = [k for k in cols if k != target]
        if not names:
            raise DataError(f"{p}: no feature columns besides the target {target!r}")
        for k in names:
            if cols[k].dtype.kind not in "biuf":
                raise DataError(f"{p}: column {k!r}: non-numeric values (dtype {cols[k].dtype})")
        X = np.column_stack([cols[k].astype(np.float64) for k in names])
        bad = ~np.isfinite(X)
        if np.any(bad):
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(
                f"{p}: column {names[j]!r}, row {i}: missing or infinite value (NaN/inf)"
            )
        yraw = cols[target]
        if yraw.dtype.kind in "biuf":
            yv = yraw.astype(np.float64)
            if not np.all(np.isfinite(yv)):
                i = int(np.flatnonzero(~np.isfinite(yv))[0])
                raise DataError(f"{p}: column {target!r}, row {i}: missing or infinite value")
        elif yraw.dtype.kind in "US":
            if task == "regression":
                raise DataError(f"{p}: column {target!r}: a regression target must be numeric")
            yv = yraw.astype(str).astype(object)
        else:
            raise DataError(f"{p}: column {target!r}: unsupported dtype {yraw.dtype}")
    else:
        raise DataError(f"{p}: expected a .csv or .npz file, got {suffix or 'no suffix'!r}")

    if X.shape[0] < 4:
        raise DataError(f"{p}: need at least 4 rows, got {X.shape[0]}")
    labels = np.unique(yv.astype(str)) if yv.dtype == object else np.unique(yv)
    if task is None:
        task = "classification" if (yv.dtype == object or labels.size == 2) else "regression"
    if task == "classification":
        if positive is not None:
            keys = yv.astype(str) if yv.dtype == object else np.array([f"{v:g}" for v in yv])
            if positive not in set(keys):
                shown = ", ".join(sorted(set(keys))[:8])
                raise DataError(
                    f"{p}: no label {positive!r} in column {target!r} (labels: {shown})"
                )
            y = encode_pm1(keys, positive)
            if np.all(y == 1.0):
                raise DataError(f"{p}: column {target!r} holds only the label {positive!r}")
        else:
            if labels.size != 2:
                shown = ", ".join(str(v) for v in labels[:8])
                raise DataError(
                    f"{p}: classification needs exactly two labels in column {target!r}, got "
                    f"{labels.size} ({shown}{', ...' if labels.size > 8 else ''}); pass --positive LABEL "
                    "for one-vs-rest"
                )
            if yv.dtype == object:
                y = encode_pm1(yv.astype(str), labels[1])
            else:
                y = encode_pm1(yv, labels[1])
    else:
        y = np.asarray(yv, dtype=np.float64)
        if labels.size < 2:
            raise DataError(f"{p}: the target column {target!r} is constant")
    return np.ascontiguousarray(X), y, names, cast("Task", task)  # validated above


#: Rows the report analyses (a seeded, stratified subsample above it; ``--quick``: half).
REPORT_MAX_ROWS = 2000


def plan_data(
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    task: str,
    seed: int = 0,
    quick: bool = False,
    max_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], dict[str, Any]]:
    """Plan the report's work on ``(X, y)`` before any analysis.

    - constant feature columns carry no information (and cannot be standardised): they are
      dropped and named; if every column is constant the data are refused (DataError);
    - columns of extreme magnitude (max |x| outside [1e-150, 1e150]) are kept: the
      standardisation is scale-safe, and a note says so;
    - above ``max_rows`` rows (default :data:`REPORT_MAX_ROWS`, half with ``quick``) the
      analysis runs on a seeded subsample (stratified for classification), and says so.

    Returns ``(X, y, names, notes, plan)``: the data to analyse, one line per decision for the
    report, and the same decisions for ``results.json``.
    """
    n, d = X.shape
    notes: list[str] = []
    const = [j for j in range(d) if X[0, j] == X[:, j].min() == X[:, j].max()]
    const_names = [names[j] for j in const]
    if len(const) == d:
        raise DataError(
            f"every feature column is constant ({', '.join(names[:8])}"
            f"{', ...' if d > 8 else ''}): nothing to learn from"
        )
    if const:
        notes.append(
            f"dropped {len(const)} constant feature column(s): "
            + ", ".join(names[j] for j in const[:12])
            + (", ..." if len(const) > 12 else "")
        )
        keep = [j for j in range(d) if j not in set(const)]
        X = np.ascontiguousarray(X[:, keep])
        names = [names[j] for j in keep]
    mags = np.max(np.abs(X), axis=0)
    extreme = [j for j in range(X.shape[1]) if not (1e-150 <= mags[j] <= 1e150)]
    if extreme:
        notes.append(
            f"{len(extreme)} column(s) of extreme magnitude ("
            + ", ".join(f"{names[j]} ~ {mags[j]:.1e}" for j in extreme[:6])
            + "): standardised scale-safely (each column divided by a power of two first)"
        )
    if task == "regression" and not (1e-150 <= float(np.max(np.abs(y))) <= 1e150):
        notes.append(
            f"the target has extreme magnitude (max |y| = {float(np.max(np.abs(y))):.1e}): "
            "standardised scale-safely"
        )
    limit = REPORT_MAX_ROWS // 2 if quick else REPORT_MAX_ROWS
    if max_rows is not None:
        limit = max_rows
    plan: dict[str, Any] = {
        "rows": int(n),
        "rows_used": int(n),
        "subsampled": False,
        "dropped_constant_columns": const_names,
        "extreme_magnitude_columns": [names[j] for j in extreme],
    }
    if n > limit:
        rng = np.random.default_rng(seed)
        if task == "classification":
            idx_parts = []
            for lab in np.unique(y):
                members = np.flatnonzero(y == lab)
                k = max(2, int(round(limit * members.size / n)))
                idx_parts.append(rng.choice(members, size=min(k, members.size), replace=False))
            idx = np.sort(np.concatenate(idx_parts))
        else:
            idx = np.sort(rng.choice(n, size=limit, replace=False))
        X, y = np.ascontiguousarray(X[idx]), np.ascontiguousarray(y[idx])
        notes.append(
            f"{n} rows: the analysis runs on a seeded random subsample of {idx.size} rows "
            f"({'stratified by label, ' if task == 'classification' else ''}seed {seed}) so that "
            "every part finishes in minutes"
        )
        plan.update(rows_used=int(idx.size), subsampled=True)
    return X, y, names, notes, plan


def run_report(
    data: str | Path,
    target: str,
    *,
    out: str | Path = "hiddenconvex-report",
    task: str | None = None,
    positive: str | None = None,
    width: int | None = None,
    beta: float | None = None,
    seed: int = 0,
    quick: bool = False,
    quiet: bool = False,
    client: Any = None,
) -> dict[str, Any]:
    """Read the user's data and write the analysis to ``out`` (index.html, results.json, PNGs).

    Returns the machine-readable results (also written to ``out/results.json``). With a Dask
    ``client`` the report's independent sweeps run on the cluster — the midpoint tests (pair
    ranges), the SGD/Adam training runs of the comparison (per optimizer) and the convex β path
    (segments) — with the same results as without it.
    """
    from .demo import analyse_user_data

    X, y, names, task_v = read_table(data, target, task=task, positive=positive)
    return analyse_user_data(
        X,
        y,
        names,
        task=task_v,
        name=Path(data).name,
        out=Path(out),
        width=width,
        beta=beta,
        seed=seed,
        quick=quick,
        quiet=quiet,
        client=client,
    )
