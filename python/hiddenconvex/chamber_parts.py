"""Exact chamber enumeration in parts, one file per part, for runs larger than one machine.

The chambers of the rows of X are split into *prefix-cone parts* (the same parts
:func:`~hiddenconvex.iter_chambers` walks on degenerate data, here on any data): the part of a
sign vector σ on the first distinct hyperplanes holds the chambers whose pattern starts with σ.
A cone holding more than ``part_chambers`` chambers is split on its next hyperplane (each half
counted exactly, without patterns, by the constrained deletion–restriction recurrence), so the
plan is made without enumerating anything. Each part is then enumerated on its own — by a Dask
worker with ``client=``, else here one after another — checked against its exact count, and
written to its own ``.npz`` file (a :class:`~hiddenconvex.Chambers` result). An index file
(``index.json``, a :class:`ChamberParts` result) lists the parts in order; the parts' counts
add up to the exact number of chambers (checked), and their rows, in order, are the rows of
:func:`~hiddenconvex.chambers` (sorted lexicographically).

``hc.load(".../index.json")`` returns the :class:`ChamberParts`; iterating over it streams the
parts back one file at a time.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from ._progress import progress_callback
from ._validation import check_int
from .chambers import Chambers, _opt_int, _prepare
from .exceptions import HiddenConvexError, InvalidInputError, NumericalError
from .io import Result, load

__all__ = ["ChamberParts", "write_chamber_parts"]

#: Default largest number of chambers in one part (about a second of enumeration on one core
#: for moderate n, a file of about 2^18 · (n + n/8 + 8d) bytes).
PART_CHAMBERS = 1 << 18

#: Name of the index file in the output directory.
INDEX_NAME = "index.json"


@dataclasses.dataclass(repr=False)
class ChamberParts(Result):
    """The index of an exact enumeration written in parts (see :func:`write_chamber_parts`).

    Attributes
    ----------
    directory : str
        Absolute path of the directory holding the parts (where the index was written).
    files : list of str
        Part file names (relative to ``directory``), in order.
    counts : list of int
        Chambers in each part (each checked against its exact count when written).
    total : int
        Σ counts, equal to ``exact_count`` (checked).
    exact_count : int
        The exact number of chambers (deletion–restriction count).
    signs : list of list of bool
        The sign prefix σ of each part.
    rank : int
    bias : bool
    part_chambers : int
        The part budget the plan used.
    elapsed : float
        Wall time of the whole run in seconds.
    X : ndarray of float64, shape (n, d)
        The data (with the ones column when ``bias=True``).
    """

    directory: str
    files: list[str]
    counts: list[int]
    total: int
    exact_count: int
    signs: list[list[bool]]
    rank: int
    bias: bool
    part_chambers: int
    elapsed: float
    X: np.ndarray

    @property
    def n_parts(self) -> int:
        return len(self.files)

    def paths(self) -> list[Path]:
        """The part files, in order."""
        return [Path(self.directory) / f for f in self.files]

    def iter_parts(self) -> Iterator[Chambers]:
        """Each part as a :class:`~hiddenconvex.Chambers` result, one file at a time."""
        for path, count in zip(self.paths(), self.counts, strict=True):
            part = load(path)
            if not isinstance(part, Chambers) or part.count != count:
                raise HiddenConvexError(f"{os.fspath(path)!r}: not the part the index lists")
            yield part

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(patterns, witnesses)`` of each part in order (as :func:`iter_chambers` yields)."""
        for part in self.iter_parts():
            yield part.patterns, part.witnesses

    def summary(self) -> str:
        n, d = self.X.shape
        return (
            f"Chambers of X ({n} x {d}, rank {self.rank}) in {self.n_parts} part(s) of at most "
            f"{self.part_chambers:,}: {self.total:,} chambers (exact count {self.exact_count:,}), "
            f"{self.elapsed:.3g} s, in {self.directory}"
        )


def _write_part(
    index: int, sig: list[bool], point: list[float], count: int, *, X: np.ndarray,
    directory: str, bias: bool,
) -> tuple[str, int, float]:  # fmt: skip
    """Enumerate one part and write it (a task): (file name, chambers, seconds)."""
    t0 = time.perf_counter()
    patterns, packed, witnesses, rank = _core.chambers_part(X, sig, point, count)
    el = time.perf_counter() - t0
    res = Chambers(
        patterns=patterns,
        packed=packed,
        witnesses=witnesses,
        count=int(patterns.shape[0]),
        rank=int(rank),
        method="exact",
        seed=None,
        elapsed=el,
        coverage=None,
        exact_count=int(count),
        n_open=int(patterns.shape[0]),
        n_samples=None,
        bias=bool(bias),
        requested_method="exact",
        X=X,
    )
    name = f"part-{index:06d}.npz"
    res.save(Path(directory) / name)
    return name, int(patterns.shape[0]), el


def write_chamber_parts(
    X: Any,
    directory: str | os.PathLike[str],
    *,
    part_chambers: int = PART_CHAMBERS,
    bias: bool = False,
    max_chambers: int | None = None,
    client: Any = None,
    progress: Any = None,
) -> ChamberParts:
    """Enumerate the exact chambers of the rows of X in parts, each written to its own file.

    Parameters
    ----------
    X : array_like, shape (n, d)
    directory : path
        Output directory (created; must not already hold an index). Parts are
        ``part-000000.npz``, … (each a :class:`~hiddenconvex.Chambers` result, loadable on its
        own), the index is ``index.json``. With ``client`` every worker must see the directory
        at the same path (a shared file system).
    part_chambers : int
        Largest number of chambers in one part (≥ 1); sets the number of parts, hence the
        memory and the time of one task.
    bias : bool
        Append a ones column first.
    max_chambers : int, optional
        Refuse runs with more chambers (``ResourceLimitError``), checked on the exact count
        before anything is written.
    client : dask.distributed.Client, optional
        Enumerate the parts on a Dask cluster's workers (see :mod:`hiddenconvex.distributed`).
    progress : None, bool or callable
        Progress in parts.

    Returns
    -------
    ChamberParts
        The index (also written as ``directory/index.json``; ``hc.load`` it to stream the parts).

    Raises
    ------
    InvalidInputError
        Bad X, ``part_chambers < 1``, a directory that already holds an index.
    ResourceLimitError
        More chambers than ``max_chambers``.
    NumericalError
        A part whose enumeration disagrees with its exact count (data too close to degenerate),
        or parts whose counts do not add up to the exact count.
    """
    from .distributed import run_tasks

    t0 = time.perf_counter()
    Xp = _prepare(X, bias)
    budget = check_int(part_chambers, "part_chambers", minimum=1)
    max_c = _opt_int(max_chambers, "max_chambers")
    out = Path(directory).absolute()
    if (out / INDEX_NAME).exists():
        raise InvalidInputError(f"directory: {os.fspath(out)!r} already holds an index")
    with progress_callback(progress, "chamber parts (plan)", unit="step") as cb:
        plan, total = _core.chamber_parts_plan(Xp, budget, max_c, cb)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [
        (i, [bool(b) for b in sig], [float(v) for v in point], int(count))
        for i, (sig, point, count) in enumerate(plan)
    ]
    done = run_tasks(
        client, _write_part, tasks, shared={"X": Xp}, kwargs={"directory": os.fspath(out),
        "bias": bool(bias)}, progress=progress, desc="chamber parts",
    )  # fmt: skip
    counts = [c for _, c, _ in done]
    if sum(counts) != int(total) or any(c != t[3] for c, t in zip(counts, tasks, strict=True)):
        raise NumericalError(
            f"the parts hold {sum(counts):,} chambers, the exact count is {int(total):,}"
        )
    rank = int(np.linalg.matrix_rank(Xp)) if Xp.size else 0
    index = ChamberParts(
        directory=os.fspath(out),
        files=[f for f, _, _ in done],
        counts=counts,
        total=int(sum(counts)),
        exact_count=int(total),
        signs=[t[1] for t in tasks],
        rank=rank,
        bias=bool(bias),
        part_chambers=budget,
        elapsed=time.perf_counter() - t0,
        X=Xp,
    )
    index.save(out / INDEX_NAME)
    return index
