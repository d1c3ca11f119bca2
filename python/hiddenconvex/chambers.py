"""Activation chambers of a data set: the D_i of the convex reformulation of ReLU training.

For data X (n × d) every gate u ∈ R^d gives the activation pattern ``1[X u > 0]``. The distinct
patterns of gates that lie on no hyperplane ``{u : x_i·u = 0}`` are the *chambers* (open cones)
of the central hyperplane arrangement of the rows of X. The convex reformulation of two-layer
ReLU training (Pilanci & Ergen 2020; Zeger & Pilanci, "Unveiling Hidden Convexity in Deep
Learning", Theorem 1) is a group Lasso over exactly the matrices ``D_i = diag(pattern_i)``.

Functions
---------
chambers        every chamber exactly (LP-free, exact on degenerate data), or sampled.
iter_chambers   the exact chambers in chunks, memory bounded whatever the number of chambers.
chamber_count   the exact number of chambers, without building patterns.
cover_count     Cover's count 2 Σ_{k<r} C(n−1, k) (general position), exact integers.
pattern_bound   the bound 2r(e(n−1)/r)^r on the number of patterns.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import _core
from ._progress import progress_callback
from ._typing import ChamberMethod
from ._validation import as_matrix, check_choice, check_int, resolve_seed
from .exceptions import InvalidInputError, InvalidTypeError, ResourceLimitError
from .io import Result

__all__ = [
    "Chambers",
    "chamber_count",
    "chambers",
    "cover_count",
    "iter_chambers",
    "pattern_bound",
]

#: Default memory budget (bytes) of an exact enumeration; above it ``chambers`` raises
#: :class:`~hiddenconvex.exceptions.ResourceLimitError` (``method="exact"``) or samples
#: (``method="auto"``).
DEFAULT_MEMORY_LIMIT: int = 2 * 1024**3

#: Gaussian gates drawn by ``method="sample"`` when ``n_samples`` is not given.
DEFAULT_N_SAMPLES: int = 100_000

#: Largest Cover bound for which a sampled result also counts the chambers exactly (coverage).
COVERAGE_COUNT_LIMIT: int = 50_000_000

#: Default ``max_chambers`` of :func:`chamber_count` and :func:`iter_chambers`: larger runs are
#: refused (:class:`~hiddenconvex.exceptions.ResourceLimitError`) unless a larger limit is given.
#: Counting visits about every chamber once (about 10^7–10^8 chambers/s per core).
DEFAULT_MAX_COUNT: int = 10**11

Method = ChamberMethod


@dataclasses.dataclass(repr=False)
class Chambers(Result):
    """Activation patterns of a data set with a gate realising each one.

    Attributes
    ----------
    patterns : ndarray of bool, shape (P, n)
        Row p is ``diag(D_p)``: ``patterns[p, i] = 1[x_i · witnesses[p] > 0]``. Rows are sorted
        lexicographically (row 0 of X most significant, ``False < True``), which is also the
        byte order of ``packed``; the order never depends on the thread count. With
        ``include_faces=True`` the ``n_open`` open chambers come first, then the face-only
        patterns (also sorted).
    packed : ndarray of uint8, shape (P, ceil(n / 8))
        ``np.packbits(patterns, axis=1)`` (big-endian bits, zero padded).
    witnesses : ndarray of float64, shape (P, d)
        Unit-norm gates. For open chambers, strictly interior: ``sign(X @ w)`` reproduces the
        pattern with a positive margin on every nonzero row. For face rows, a point of the face
        (ties are exact only up to rounding; use the pattern).
    count : int
        Number of rows P.
    rank : int
        Rank of X (with the bias column when ``bias=True``).
    method : str
        ``"exact"`` or ``"sample"`` (what was run; ``requested_method`` is what was asked).
    seed : int or None
        The seed of the sampled gates (drawn from the OS when None was given); None for exact.
    elapsed : float
        Wall time in seconds.
    coverage : float or None
        Fraction of the chambers found: 1.0 for exact; for sampling found / exact count when the
        exact count is affordable (Cover bound ≤ ``COVERAGE_COUNT_LIMIT``), else None.
    exact_count : int or None
        The exact number of open chambers when known.
    n_open : int
        Number of open chambers among the rows (the rest are face-only patterns).
    n_samples : int or None
        Gaussian gates drawn (sampling only).
    bias : bool
        Whether a ones column was appended to X (gates are then (u, b)).
    requested_method : str
        The ``method`` argument (``"auto"`` records which method it chose in ``method``).
    X : ndarray of float64, shape (n, d)
        The data the patterns refer to (with the ones column when ``bias=True``).
    """

    patterns: np.ndarray
    packed: np.ndarray
    witnesses: np.ndarray
    count: int
    rank: int
    method: str
    seed: int | None
    elapsed: float
    coverage: float | None
    exact_count: int | None
    n_open: int
    n_samples: int | None
    bias: bool
    requested_method: str
    X: np.ndarray

    def zonotope_vertices(self) -> np.ndarray:
        """Vertices ``Xᵀ D_p 1`` of the zonotope ``Σ_i [0, x_i]``, one per open chamber.

        The normal fan of this zonotope is the arrangement, so the vertices are in bijection
        with the open chambers (the first ``n_open`` rows): vertex p maximises ``u·z`` over the
        zonotope for every gate u in chamber p.

        Returns
        -------
        ndarray of float64, shape (n_open, d)
        """
        pats = self.patterns[: self.n_open].astype(np.float64)
        return pats @ self.X

    def summary(self) -> str:
        """A short report: counts, method, coverage, timing."""
        n, d = self.X.shape
        lines = [
            f"Chambers of X ({n} x {d}{', with bias column' if self.bias else ''}, rank {self.rank})",
            f"  method      : {self.method} (requested {self.requested_method!r})",
            f"  patterns    : {self.count:,}"
            + (
                f" ({self.n_open:,} open + {self.count - self.n_open:,} faces)"
                if self.count != self.n_open
                else ""
            ),
            f"  Cover count : {cover_count(n, self.rank):,} (general position, rank {self.rank})",
        ]
        if self.exact_count is not None:
            lines.append(f"  exact count : {self.exact_count:,}")
        if self.coverage is not None:
            lines.append(f"  coverage    : {100 * self.coverage:.2f}%")
        if self.n_samples is not None:
            lines.append(f"  samples     : {self.n_samples:,} (seed {self.seed})")
        lines.append(f"  elapsed     : {self.elapsed:.4f} s")
        return "\n".join(lines)


def cover_count(n: int, r: int) -> int:
    """Cover's count ``2 Σ_{k<r} C(n−1, k)``, exact.

    The number of chambers of n central hyperplanes in general position in R^r (Cover 1965):
    the number of activation patterns of n data points in general position with rank r.
    ``n <= r`` gives ``2**n``; ``n = 0`` gives 1 (the whole space); ``r = 0`` gives 1: points of
    rank 0 are all zero, every weight vector gives them the same pattern, so there is one chamber
    (the whole space) — the closed form's empty sum (0) does not count it, the enumeration does.

    Parameters
    ----------
    n : int
        Number of hyperplanes (data points), ``n >= 0``.
    r : int
        Dimension (rank of the data), ``r >= 0``.

    Returns
    -------
    int
        An exact Python integer.

    Raises
    ------
    TypeError
        If n or r is not an integer.
    ValueError
        If n or r is negative.
    """
    n = check_int(n, "n", minimum=0)
    r = check_int(r, "r", minimum=0)
    if n == 0 or r == 0:
        return 1
    if r >= n:
        return 2**n
    return 2 * sum(math.comb(n - 1, k) for k in range(r))


def pattern_bound(n: int, r: int) -> float:
    """The bound ``2r (e (n−1) / r)^r`` on the number of activation patterns.

    Valid for n points of rank r (Pilanci & Ergen 2020): at least :func:`cover_count` for
    ``1 <= r <= n - 1``, and polynomial in n for fixed r. For ``r >= n`` (where the formula is
    no bound: it is 0 at n = 1) the exact count ``2**n`` is returned. A bound beyond the float
    range is ``inf`` (never an OverflowError).

    Parameters
    ----------
    n : int
        Number of data points, ``n >= 1``.
    r : int
        Rank of the data, ``r >= 1``.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        On non-integers or values below 1.
    """
    n = check_int(n, "n", minimum=1)
    r = check_int(r, "r", minimum=1)
    if r >= n:
        return math.ldexp(1.0, n) if n < 1024 else math.inf
    try:
        return float(2 * r * (math.e * (n - 1) / r) ** r)
    except OverflowError:
        return math.inf


def _prepare(X: Any, bias: Any) -> np.ndarray:
    X = as_matrix(X, "X")
    if not isinstance(bias, (bool, np.bool_)):
        raise InvalidTypeError(f"bias: expected a bool, got {type(bias).__name__}")
    if bias:
        X = np.ascontiguousarray(np.hstack([X, np.ones((X.shape[0], 1))]))
    return X


def _opt_int(value: Any, name: str, minimum: int = 1) -> int | None:
    return None if value is None else check_int(value, name, minimum=minimum)


def chambers(
    X: Any,
    *,
    method: Method = "auto",
    bias: bool = False,
    n_samples: int | None = None,
    seed: int | None = None,
    max_chambers: int | None = None,
    include_faces: bool = False,
    progress: Any = None,
    memory_limit: int | None = None,
) -> Chambers:
    """All activation patterns ``1[X u > 0]`` of the data, with a gate realising each.

    The patterns are the chambers of the central arrangement ``{u : x_i·u = 0}``; their number
    is at most :func:`cover_count` ``(n, rank)``, with equality in general position.

    ``method="exact"`` enumerates every chamber by deletion–restriction (no linear programs):
    adding a hyperplane splits exactly the chambers that meet it, which correspond to the
    chambers of the arrangement restricted to that hyperplane (one dimension lower, enumerated
    recursively); each split yields interior gates ``u0 ± ε n`` on both sides. The result is
    exact on degenerate data: when rank(X) = r < d the enumeration runs in the row space;
    duplicate or positively scaled rows are one hyperplane and get equal pattern bits;
    antiparallel rows are one hyperplane with complementary bits; zero rows are never active.
    Integer data (braid, resonance, threshold arrangements) is restricted in exact integer
    arithmetic. ``method="sample"`` draws ``n_samples`` standard Gaussian gates and keeps the
    distinct patterns (pyscnn's ``sample_gate_vectors`` + ``np.unique``); it may miss chambers,
    see ``coverage``. ``method="auto"`` runs exact when the planned size fits ``max_chambers``
    and ``memory_limit``, else samples; ``result.method`` says which ran.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Data, one point per row. Converted to float64 (float32, int, bool, Fortran-ordered and
        strided arrays are accepted and give the same result).
    method : {"auto", "exact", "sample"}
    bias : bool
        Append a ones column, i.e. gates ``(u, b)`` with patterns ``1[X u + b > 0]``; the count is
        then that of a central arrangement in R^{d+1}.
    n_samples : int, optional
        Gaussian gates for sampling (default ``DEFAULT_N_SAMPLES``), ``>= 1``.
    seed : int, optional
        Seed of the sampled gates; chunk k of 4096 gates uses the ChaCha8 stream k of the seed,
        so the output is identical for any thread count. None draws a seed (recorded).
    max_chambers : int, optional
        Refuse (``method="exact"``) or avoid (``"auto"``) exact runs with more chambers.
    include_faces : bool
        Also list the patterns ``1[X u >= 0]`` (ties counted active) of lower-dimensional faces,
        including u = 0, that are not already patterns of open chambers — the patterns the
        convex reformulation's D_i range over when ties count as active. Small problems only:
        the number of faces grows like 3^rank times the chambers.
    progress : None, bool or callable(done, total)
        Progress report (``True``: a tqdm bar).
    memory_limit : int, optional
        Byte budget (default ``DEFAULT_MEMORY_LIMIT``) of an exact run, and of the patterns a
        sampled run may keep; checked before allocating.

    Returns
    -------
    Chambers

    Raises
    ------
    ValueError
        NaN/inf in X, ndim != 2, an empty axis, an unknown method, n_samples/max_chambers < 1
        (:class:`~hiddenconvex.exceptions.InvalidInputError`).
    TypeError
        Non-numeric X, non-integer counts, non-bool flags.
    ResourceLimitError
        ``method="exact"`` and the estimate (exact count or Cover's bound) exceeds
        ``max_chambers`` or ``memory_limit``; raised before allocating, with the estimate. Also
        for sampling when ``min(n_samples, Cover's bound)`` kept patterns would exceed
        ``memory_limit``.
    KeyboardInterrupt
        On Ctrl-C (the GIL is released; the run stops within a few tens of ms).

    Notes
    -----
    Threading: the enumeration is parallel over the restrictions (rayon, ``thread_count()``
    threads); the output (order included) does not depend on the thread count.

    Examples
    --------
    >>> import numpy as np, hiddenconvex as hc
    >>> X = np.random.default_rng(0).standard_normal((10, 3))
    >>> ch = hc.chambers(X, method="exact")
    >>> ch.count == hc.cover_count(10, 3) == 92
    True
    >>> bool(np.array_equal(X @ ch.witnesses.T > 0, ch.patterns.T))
    True
    """
    start = time.perf_counter()
    Xp = _prepare(X, bias)
    method = check_choice(method, "method", ("auto", "exact", "sample"))
    n_samples = _opt_int(n_samples, "n_samples")
    max_chambers = _opt_int(max_chambers, "max_chambers")
    memory_limit = _opt_int(memory_limit, "memory_limit")
    if memory_limit is None:
        memory_limit = DEFAULT_MEMORY_LIMIT
    if seed is not None:
        seed = resolve_seed(seed)  # validate now, whichever method runs
    if not isinstance(include_faces, (bool, np.bool_)):
        raise InvalidTypeError(
            f"include_faces: expected a bool, got {type(include_faces).__name__}"
        )
    run = method
    if method == "auto":
        est, _exact, bpc, _rank, _lines = _core.chambers_plan(Xp, max_chambers, memory_limit)
        fits = (max_chambers is None or est <= max_chambers) and est * bpc <= memory_limit
        run = "exact" if fits else "sample"
    used_seed: int | None = None
    coverage: float | None
    exact_count: int | None
    with progress_callback(progress, f"chambers ({run})", unit="step") as cb:
        if run == "exact":
            patterns, packed, witnesses, rank = _core.chambers_exact(
                Xp, max_chambers, memory_limit, cb
            )
            exact_count = int(patterns.shape[0])
            coverage = 1.0
        else:
            used_seed = resolve_seed(seed)
            n_samples = DEFAULT_N_SAMPLES if n_samples is None else n_samples
            patterns, packed, witnesses, rank = _core.chambers_sample(
                Xp, n_samples, used_seed, cb, memory_limit
            )
            exact_count = _affordable_count(Xp)
            coverage = None if exact_count is None else patterns.shape[0] / exact_count
    n_open = int(patterns.shape[0])
    if include_faces:
        if run != "exact":
            if method == "sample":
                raise InvalidInputError(
                    "include_faces: the face patterns need the exact chambers; use "
                    "method='exact' (or 'auto') with include_faces=True"
                )
            raise ResourceLimitError(
                "include_faces: the exact chambers do not fit max_chambers / memory_limit "
                "(method='auto' chose sampling), and the faces are more numerous still"
            )
        fp, fpk, fw, _ = _core.chamber_faces(Xp, None, max_chambers, memory_limit)
        patterns = np.concatenate([patterns, fp])
        packed = np.concatenate([packed, fpk])
        witnesses = np.concatenate([witnesses, fw])
    return Chambers(
        patterns=patterns,
        packed=packed,
        witnesses=witnesses,
        count=int(patterns.shape[0]),
        rank=int(rank),
        method=run,
        seed=used_seed,
        elapsed=time.perf_counter() - start,
        coverage=coverage,
        exact_count=exact_count,
        n_open=n_open,
        n_samples=n_samples if run == "sample" else None,
        bias=bool(bias),
        requested_method=method,
        X=Xp,
    )


#: The plan's estimate when an O(n·d) lower bound already exceeds the budget.
_TOO_LARGE = 2**128 - 1


def _affordable_count(Xp: np.ndarray) -> int | None:
    bound, _exact, _bpc, rank, lines = _core.chambers_plan(Xp, COVERAGE_COUNT_LIMIT, None)
    if bound == _TOO_LARGE or cover_count(lines, rank) > COVERAGE_COUNT_LIMIT:
        return None
    return int(_core.chamber_count(Xp, None))


def chamber_count(
    X: Any, *, bias: bool = False, progress: Any = None, max_chambers: int | None = None
) -> int:
    """The exact number of chambers (activation patterns) without building them.

    Uses the deletion–restriction recurrence ``r(A) = r(A ∖ H) + r(A^H)`` unrolled over the
    hyperplanes (``1 + Σ_t r(A_t^{H_t})``), exact on degenerate data like :func:`chambers`;
    the cost is about that of enumerating the restrictions, with no patterns or witnesses.

    Parameters
    ----------
    X : array_like, shape (n, d)
    bias : bool
        Append a ones column first.
    progress : None, bool or callable(done, total)
    max_chambers : int, optional
        Refuse arrangements with more chambers (default ``DEFAULT_MAX_COUNT`` = 10^11): at
        once, in O(n·d), when a lower bound (2^r for a rank r ≤ rank(X) from a sketch, then
        Zaslavsky's 2^(r−1)(L − r + 2) for L distinct lines) exceeds it, else as soon as the
        running count passes it, so the work stays proportional to ``max_chambers``.

    Returns
    -------
    int

    Raises
    ------
    ValueError, TypeError
        On invalid X (see :func:`chambers`).
    ResourceLimitError
        More than ``max_chambers`` chambers (the message gives the bound).
    KeyboardInterrupt
        On Ctrl-C.
    """
    Xp = _prepare(X, bias)
    max_chambers = _opt_int(max_chambers, "max_chambers")
    if max_chambers is None:
        max_chambers = DEFAULT_MAX_COUNT
    with progress_callback(progress, "chamber count") as cb:
        return int(_core.chamber_count(Xp, cb, max_chambers))


def iter_chambers(
    X: Any,
    *,
    chunk: int = 65_536,
    bias: bool = False,
    max_chambers: int | None = None,
    progress: Any = None,
    memory_limit: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The exact chambers in chunks of at most ``chunk`` rows: ``(patterns, witnesses)``.

    The union of the chunks is exactly the set of :func:`chambers` (each chamber once, chunks
    disjoint), with strictly interior witnesses as in :func:`chambers`. Memory is bounded
    independently of the number of chambers on every kind of data, so problems whose chambers
    do not fit in memory can be streamed (to disk or into a running reduction):

    * **General position** (e.g. Gaussian data): the chunks are generated on demand by the
      vertex method; memory O(chunk). This costs a first pass over all chunks (nothing kept)
      that checks general position before the first chunk is returned, i.e. about twice the
      time of :func:`chambers`. Order (deterministic, identical for every run and thread
      count): chunk by chunk, the chambers with ``x_0·u > 0`` (``x_0`` the first nonzero row)
      in vertex-method order — one chamber per lowest vertex, i.e. per set of ``rank − 1``
      hyperplanes in lexicographic order, level by level of the recursion — followed by their
      antipodal chambers (complementary patterns) in reverse order. Chunks hold at most
      ``chunk`` rows (for odd ``chunk`` usually ``chunk − 1``: chambers come in antipodal pairs).
    * **Degenerate data** (resonance / threshold arrangements, integer lattices, duplicate,
      antiparallel or zero rows, dependent rows of a rank-deficient X), rank ≥ 3: a depth-first
      walk over *prefix cones*. The chambers whose pattern starts with a sign vector σ on the
      first distinct hyperplanes form one part, the cone ``{u : 1[y_i·u > 0] = σ_i, i < j}``.
      A part with more than ``B`` chambers (counted exactly, without patterns, by the
      deletion–restriction recurrence restricted to the cone) is split on its next hyperplane
      (σ0 before σ1; empty cones are detected by an LP-free Seidel-style feasibility test);
      otherwise it is enumerated by deletion–restriction inside the cone and handed out. Parts
      are disjoint and visited in lexicographic order, so the chunks are exactly the rows of
      :func:`chambers` in its sorted order. ``B = max(chunk, memory_limit / (4 b))`` with
      ``b`` the bytes per chamber of an exact run, so a part, its ≤ 2B candidates and the
      sub-enumerations of the worker threads stay well under ``memory_limit`` (plus O(lines²)
      numbers), whatever the number of chambers. Time: every part and every split (one exact
      count of a cone) traverses the restriction tree of the lines meeting its cone at about
      the cost of one :func:`chamber_count`, so streaming is fast when few parts are needed
      (the default 2 GiB holds the 1,066,044 chambers of the resonance arrangement of R^6 in
      one part: same time as :func:`chambers`; forced into 6 parts: about 3×) and slow when
      ``memory_limit`` is small compared with the output (about 2 counts per part).
    * **Rank ≤ 2** (at most ``2n`` chambers): one enumeration, sliced.

    Parameters
    ----------
    X : array_like, shape (n, d)
    chunk : int
        Rows per chunk, ``>= 1``.
    bias : bool
        Append a ones column first.
    max_chambers : int, optional
        Refuse runs with more chambers (ResourceLimitError; default ``DEFAULT_MAX_COUNT`` =
        10^11, checked against a lower bound in O(n·d), then against Cover's bound or the exact
        count before the first chunk).
    progress : None, bool or callable(done, total)
        Reports the general-position pass, then the chunks.
    memory_limit : int, optional
        Byte budget (default ``DEFAULT_MEMORY_LIMIT``) of one chunk, checked before allocating
        (ResourceLimitError); on degenerate data it also caps the part size ``B`` above.

    Yields
    ------
    patterns : ndarray of bool, shape (c, n)
    witnesses : ndarray of float64, shape (c, d)
        Unit-norm, strictly interior gates, as in :func:`chambers`.

    Raises
    ------
    ResourceLimitError
        Raised by the call itself (before the first chunk), like the input errors.
    KeyboardInterrupt
        On Ctrl-C, between and within chunks.
    """
    Xp = _prepare(X, bias)
    chunk = check_int(chunk, "chunk", minimum=1)
    max_chambers = _opt_int(max_chambers, "max_chambers")
    if max_chambers is None:
        max_chambers = DEFAULT_MAX_COUNT
    memory_limit = _opt_int(memory_limit, "memory_limit")
    if memory_limit is None:
        memory_limit = DEFAULT_MEMORY_LIMIT
    with progress_callback(progress, "chambers (general-position check)", unit="step") as cb:
        stream = _core.chambers_stream(Xp, max(chunk, 2), max_chambers, memory_limit, cb)

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        with progress_callback(progress, "chambers (stream)", unit="chamber") as cb:
            while True:
                block = stream.next_block(cb)
                if block is None:
                    return
                patterns, _packed, witnesses, _rank = block
                for s in range(0, patterns.shape[0], chunk):
                    yield patterns[s : s + chunk], witnesses[s : s + chunk]

    return gen()
