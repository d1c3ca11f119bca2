"""Running the work that splits into independent tasks on a Dask cluster.

Every function of hiddenconvex whose work splits into independent tasks takes ``client=``:

- ``None`` (default): the tasks run one after another in the calling process, each of them in
  parallel on the Rust core's thread pool, exactly as without this module;
- a :class:`dask.distributed.Client`: the tasks run on the cluster's workers (any cluster Dask
  can start: ``LocalCluster``, dask-jobqueue's ``SLURMCluster``, dask-kubernetes, or a plain
  ``dask scheduler`` with ``dask worker`` processes).

Results never depend on where the tasks ran, nor on the number of workers: the work is split
into independent parts (pair-index ranges of a midpoint test, β segments of a path, the runs of
a comparison, prefix-cone parts of an enumeration) and merged in the partition's order. A path's
results depend on its segments (the warm starts), which depend only on ``segment``; a midpoint
test's report does not depend on its ranges at all (the merge is exact), so they are sized from
the measured cost of a pair.

This module holds the one small layer between hiddenconvex and Dask: checking that every
worker can import the extension, capping the Rust thread pool of each worker at the worker's
own thread count (so that a worker never oversubscribes its cores), submitting tasks in a fixed
order with progress and gathering them in that order. There is no scheduler, queue or socket
code here: Dask does all of it, including re-running the tasks of a worker that dies.

Install with ``pip install "hiddenconvex[dask]"``. See ``docs/distributed.md``.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from ._progress import progress_callback
from .exceptions import HiddenConvexError, InvalidInputError, InvalidTypeError

__all__ = [
    "CPU_BOUND_WORKER_CONFIG",
    "TASK_TIMEOUT",
    "cluster_client",
    "WorkerImportError",
    "check_client",
    "run_tasks",
]

#: Seconds to wait for one task's result before ``TimeoutError`` (None: wait as long as it
#: takes). Dask re-runs the tasks of a worker that dies, so a run survives worker failures.
TASK_TIMEOUT: float | None = None

#: Environment variable holding the thread count of the Rust core's pool.
THREADS_ENV = "HIDDENCONVEX_NUM_THREADS"


#: Dask configuration for the workers of a CPU-bound cluster (``cluster_client`` starts its
#: ``LocalCluster`` with it, the benchmark's clusters too). A worker's event loop wakes up on its
#: own, for as long as the worker lives, and takes that CPU from the cores the tasks need: an
#: idle worker used 0.022 CPU-s per second with Dask's defaults (profiler off), 0.006 with these
#: (``docs/distributed.md``). The statistical profiler samples every thread's stack every 10 ms;
#: the tick (a watchdog that only measures how long the event loop was blocked, warning past
#: ``distributed.admin.tick.limit``, 3 s) runs every 20 ms by default; the memory monitor every
#: 100 ms (at 500 ms it still pauses, spills and restarts a worker near its memory limit); the
#: system monitor (the dashboard's CPU, memory and network series) every 500 ms. Give the same
#: keys to the workers of any other cluster (``DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=200ms``
#: etc. in their environment, or their Dask configuration file).
CPU_BOUND_WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


class WorkerImportError(HiddenConvexError, ImportError):
    """A Dask worker cannot import hiddenconvex (or its compiled extension)."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            'client=: running on a Dask cluster needs dask.distributed: pip install "hiddenconvex[dask]"'
        ) from exc
    return distributed


_READY: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()

_PROBE = "import hiddenconvex._core"


def check_client(client: Any, *, threads_per_worker: int | None = None) -> Any:
    """Validate ``client`` and prepare its workers; returns it (``None`` stays ``None``).

    On first use of a client: checks that every worker imports ``hiddenconvex._core`` (else
    :class:`WorkerImportError` naming the workers and their error) and registers
    :class:`ThreadCap` (the Rust pool of each worker capped at ``threads_per_worker``, default
    the worker's thread count).

    Raises
    ------
    InvalidTypeError
        ``client`` is not a ``dask.distributed.Client``.
    WorkerImportError
        A worker cannot import hiddenconvex.
    """
    if client is None:
        return None
    dist = _distributed()
    if not isinstance(client, dist.Client):
        raise InvalidTypeError(
            f"client: expected None or a dask.distributed.Client, got {type(client).__name__}"
        )
    try:
        if client in _READY and _READY[client] == threads_per_worker:
            return client
    except TypeError:  # pragma: no cover - an unhashable client subclass
        pass
    # exec is pickled by reference (builtins): the probe itself needs nothing on the worker.
    res = client.run(exec, _PROBE, on_error="return")
    if not res:
        raise InvalidInputError("client: the cluster has no workers")
    bad = {w: r for w, r in res.items() if isinstance(r, BaseException)}
    if bad:
        lines = "; ".join(f"{w}: {type(e).__name__}: {e}" for w, e in sorted(bad.items()))
        raise WorkerImportError(
            f"{len(bad)} of {len(res)} Dask worker(s) cannot import hiddenconvex ({lines}). "
            "Install the same hiddenconvex (with its compiled extension) in every worker's "
            "environment."
        )
    if threads_per_worker is not None and threads_per_worker < 1:
        raise InvalidInputError(f"threads_per_worker: must be >= 1, got {threads_per_worker}")
    from ._dask_plugin import ThreadCap

    client.register_plugin(ThreadCap(threads_per_worker), name=ThreadCap.name)
    try:
        _READY[client] = threads_per_worker
    except TypeError:  # pragma: no cover
        pass
    return client


@contextlib.contextmanager
def cluster_client(
    scheduler: str | None = None, workers: int | None = None, *, threads_per_worker: int = 1
) -> Iterator[Any]:
    """A client for the command line: ``scheduler`` (an address such as ``tcp://host:8786``)
    connects to a running cluster; ``workers`` starts a ``LocalCluster`` of that many worker
    processes (``threads_per_worker`` threads each, configured by ``CPU_BOUND_WORKER_CONFIG``:
    no profiler, rarer periodic work) for the duration of the block; neither yields ``None``
    (local run). The client is prepared by :func:`check_client`."""
    if scheduler is not None and workers is not None:
        raise InvalidInputError("scheduler/workers: give one of them, not both")
    if scheduler is None and workers is None:
        yield None
        return
    dist = _distributed()
    if workers is not None:
        if int(workers) < 1:
            raise InvalidInputError(f"workers: must be >= 1, got {workers}")
        import dask

        with (
            # the workers' periodic work takes its CPU from the tasks of a CPU-bound cluster
            dask.config.set(CPU_BOUND_WORKER_CONFIG),
            dist.LocalCluster(
                n_workers=int(workers),
                threads_per_worker=int(threads_per_worker),
                processes=True,
                dashboard_address=":0",
            ) as cluster,
            dist.Client(cluster) as client,
        ):
            yield check_client(client)
        return
    with dist.Client(scheduler, timeout=60) as client:
        yield check_client(client)


def total_threads(client: Any) -> int:
    """Sum of the workers' thread counts (1 for the local run)."""
    if client is None:
        return 1
    info = (
        client.scheduler_info(n_workers=-1)
        if _accepts_n_workers(client)
        else client.scheduler_info()
    )
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


#: Largest pickle of a shared input sent with every task (bytes); larger ones are sent once.
SHARED_INLINE_BYTES = 1 << 21


def _shared_value(value: Any) -> Any:
    return value


#: Submissions per worker thread among the remaining tasks of a bundled run (``run_tasks(...,
#: bundle=True)``): each bundle takes at most 1/(BUNDLE_FACTOR × threads) of the predicted cost
#: that remains (at least one task).
BUNDLE_FACTOR = 2


def _run_bundle(fn: Callable[..., Any], items: list[tuple[Any, ...]], /, **kw: Any) -> list[Any]:
    """The tasks ``items`` of a bundle, one after another (a Dask task)."""
    return [fn(*t, **kw) for t in items]


def run_tasks(
    client: Any,
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    kwargs: dict[str, Any] | None = None,
    shared: dict[str, Any] | None = None,
    progress: Any = None,
    desc: str = "tasks",
    timeout: float | None = None,
    first: Sequence[int] | None = None,
    bundle: bool = False,
    cost: Sequence[float] | None = None,
) -> list[Any]:
    """``[fn(*t, **kwargs, **shared) for t in tasks]``, locally or on the cluster, in order.

    ``shared`` values (inputs common to every task: an objective, a data set) travel with each
    task when their pickle holds at most ``SHARED_INLINE_BYTES``: a task then depends on
    nothing, Dask may start it on any worker and re-run it anywhere. A larger value is sent once,
    as the result of a task that returns it, replicated on every worker (``client.replicate``):
    Dask recomputes it if every worker holding it dies (a scattered value would be lost), and
    the replicas let Dask start the tasks on any worker (it places a task where its inputs are). Progress counts
    finished tasks across all workers. A task's exception is re-raised here (the other tasks are
    cancelled). A task whose worker dies is re-run by Dask on another worker.

    On a cluster the tasks are started in the order ``first`` (a permutation of the task
    indices; default the task order), at most one task per worker thread at a time: the next
    task is submitted when one finishes, so that it goes to the worker that is free (greedy list
    scheduling: with the longest tasks first, longest-processing-time-first scheduling, which
    keeps the workers busy until the end). Submitted all at once, Dask would assign every task to
    a worker at submission, before their durations are known, and leave it to work stealing to
    undo an unbalanced assignment. The results are returned in task order either way, and
    locally the tasks run in task order.

    With ``bundle=True`` (tasks that are independent and short) a Dask task runs several of them
    one after another: each submission takes the next tasks in the order ``first`` as long as
    their predicted ``cost`` (one number per task, in any unit; default 1 each) stays within
    ``1 / (BUNDLE_FACTOR × threads)`` of the predicted cost of the tasks not yet submitted
    (guided self-scheduling by factoring, Hummel, Schonberg & Flynn 1992; 16 equal tasks on 2
    threads go as 4, 3, 2 and 7 single tasks): long Dask tasks while much work remains, whose
    fixed cost is paid once per bundle, then single tasks at the end, which balance the
    workers; a task predicted to cost more than that share goes alone. The results are those of the tasks, whatever the bundles; ``progress`` still counts
    tasks.
    """
    kw = dict(kwargs or {})
    n = len(tasks)
    if client is None:
        kw.update(shared or {})
        out: list[Any] = []
        with progress_callback(progress, desc, unit="task") as cb:
            for i, t in enumerate(tasks):
                out.append(fn(*t, **kw))
                if cb is not None:
                    cb(i + 1, n)
        return out
    dist = _distributed()
    import cloudpickle  # a dependency of dask.distributed

    check_client(client)
    order = list(range(n)) if first is None else [int(i) for i in first]
    if sorted(order) != list(range(n)):
        raise InvalidInputError("first: must be a permutation of the task indices")
    weight = [1.0] * n if cost is None else [float(c) for c in cost]
    if len(weight) != n or not all(math.isfinite(c) and c >= 0 for c in weight):
        raise InvalidInputError("cost: must hold one finite cost >= 0 per task")
    left = math.fsum(weight)  # predicted cost of the tasks not yet submitted
    big = []
    for k, v in (shared or {}).items():
        if len(cloudpickle.dumps(v)) <= SHARED_INLINE_BYTES:  # Dask's own pickler
            kw[k] = v  # in every task: no dependency, so Dask may start a task on any worker
        else:
            # a task that returns the value, not ``scatter``: Dask recomputes a task's result
            # that every holder lost (a scattered value is gone with its workers); replicated
            # on every worker so that the tasks are not all placed where it was computed
            kw[k] = client.submit(_shared_value, v, pure=False)
            big.append(kw[k])
    if big:
        client.replicate(big)
    wait = TASK_TIMEOUT if timeout is None else timeout
    futures: list[Any] = []  # one per submission: a task, or a bundle of tasks
    members: dict[str, list[int]] = {}  # the task indices of each submission, by its key
    # each result is fetched as soon as its task has finished, while the other tasks run (not
    # one round trip per result after the last task), but after the next task is submitted:
    # the worker that has just become free does not wait for its result's transfer to the
    # caller (a task's exception is raised by ``result``)
    pending = dist.as_completed(loop=client.loop, timeout=wait)
    started = 0

    def start_next() -> None:
        nonlocal started, left
        size = 1
        if bundle:
            # factoring by predicted cost: this bundle takes 1/(BUNDLE_FACTOR × threads) of
            # the predicted work left (at least one task)
            target, acc = left / (BUNDLE_FACTOR * max(1, threads)), 0.0
            size = 0
            while started + size < n:
                nxt = acc + weight[order[started + size]]
                if size and nxt > target * (1 + 1e-9):
                    break
                acc, size = nxt, size + 1
        idx = order[started : started + size]
        left -= math.fsum(weight[i] for i in idx)
        # the priority keeps the order among tasks queued on one worker
        if len(idx) == 1:
            fut = client.submit(fn, *tasks[idx[0]], pure=False, priority=n - started, **kw)
        else:
            name = getattr(fn, "__name__", "task")  # the task stream's name of a bundle
            fut = client.submit(_run_bundle, fn, [tasks[i] for i in idx], pure=False,
                                key=f"{name}_bundle-{uuid.uuid4().hex}",
                                priority=n - started, **kw)  # fmt: skip
        futures.append(fut)
        members[fut.key] = idx
        pending.add(fut)
        started += len(idx)

    got: list[Any] = [None] * n
    try:
        threads, asked = total_threads(client), time.monotonic()
        while started < n and len(futures) < threads:
            start_next()
        finished = 0
        with progress_callback(progress, desc, unit="task") as cb:
            for done, fut in enumerate(pending, 1):
                if started < n and time.monotonic() - asked > 1.0:
                    # a worker that joined (or left) meanwhile changes the tasks in flight
                    threads, asked = total_threads(client), time.monotonic()
                while started < n and len(futures) - done < threads:
                    start_next()
                res = fut.result(timeout=wait)
                idx = members[fut.key]
                for i, r in zip(idx, res if len(idx) > 1 else [res], strict=True):
                    got[i] = r
                finished += len(idx)
                if cb is not None:
                    cb(finished, n)
        return got
    finally:
        client.cancel([f for f in futures if f is not None and not f.done()])


def partition(total: int, parts: int, *, minimum: int = 1) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``range(total)`` in order: ``parts`` ranges of equal
    size (to one item), fewer when that size would be below ``minimum`` (then as many as hold
    ``minimum`` items each; one range when ``total < minimum``). No range is a sliver: a task's
    fixed cost is paid on a full share of the work."""
    if total <= 0:
        return []
    k = max(1, min(max(1, int(parts)), total // max(1, int(minimum))))
    size, extra = divmod(total, k)
    out, start = [], 0
    for i in range(k):
        stop = start + size + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


# ---------------------------------------------------------------------------------------------
# Midpoint tests: ranges of the pair index
# ---------------------------------------------------------------------------------------------
#: Target CPU seconds (one thread) of one midpoint part. A part has a fixed cost of about
#: 2 ms of CPU (the test's setup in the part) and Dask adds about 10 ms per task
#: (``benches/bench_distributed.py``), so that a part of 1 s keeps both near 1% of it. The
#: cost of a pair varies by four orders of magnitude between objectives (0.9 µs for a
#: 10-dimensional quadratic, 10 µs for a logistic regression on 200 samples, far more for a
#: network or a black box), so the part size is set from a timed pilot run, not a pair count.
MIDPOINT_PART_SECONDS = 1.0

#: CPU seconds of the pilot run that measures the cost of a pair (in the caller, before the
#: parts are made; about twice this in all, as the pilot grows by factors of 4).
PILOT_SECONDS = 0.05

#: Parts per worker thread of a midpoint test (a few, so that a lost worker's parts are
#: re-run in parallel and progress is fine-grained).
PARTS_PER_THREAD = 4

#: Largest number of pair×weight records a run with ``keep_arrays=True`` returns (as the core's
#: ``MAX_RECORDS``: about 80 bytes per record, 2 GB).
MAX_KEPT_RECORDS = 25_000_000


def midpoint_ranges(
    pairs: int, threads: int, *, min_pairs: int = 1, part_pairs: int | None = None
) -> list[tuple[int, int]]:
    """The pair-index ranges of a distributed midpoint test of ``pairs`` pairs on ``threads``
    worker threads: ranges of ``part_pairs`` pairs (to one pair) when given, else
    ``PARTS_PER_THREAD`` ranges per thread of at least ``min_pairs`` pairs each."""
    if part_pairs is not None:
        return partition(pairs, -(-pairs // max(1, part_pairs)))
    return partition(pairs, PARTS_PER_THREAD * max(1, threads), minimum=min_pairs)


def pair_seconds(objective: Any, total: int, /, **kwargs: Any) -> float:
    """CPU seconds (one thread) of one pair of the midpoint test ``midpoint_test(objective,
    **kwargs)`` of ``total`` pairs: a pilot run, here, on its first pairs (256, then 4 times as
    many until it takes ``PILOT_SECONDS`` of CPU or covers the test). The CPU time of the
    process counts every thread of the Rust pool, so the figure does not depend on its size."""
    from .midpoint import midpoint_test

    k = min(total, 256)
    while True:
        c0 = time.process_time()
        midpoint_test(objective, pair_range=(0, k), **kwargs)
        used = time.process_time() - c0
        if used >= PILOT_SECONDS or k >= total:
            return used / max(1, k)
        k = min(total, 4 * k)


def midpoint_min_pairs(objective: Any, total: int, /, **kwargs: Any) -> int:
    """Fewest pairs in one part of a distributed midpoint test: ``MIDPOINT_PART_SECONDS``
    over the cost of a pair (:func:`pair_seconds`); 1 when the target is 0."""
    if MIDPOINT_PART_SECONDS <= 0 or total <= 0:
        return 1
    per_pair = pair_seconds(objective, total, **kwargs)
    return max(1, min(total, math.ceil(MIDPOINT_PART_SECONDS / max(per_pair, 1e-12))))


def _midpoint_part(lo: int, hi: int, *, objective: Any, **kwargs: Any) -> Any:
    from .midpoint import midpoint_test

    return midpoint_test(objective, pair_range=(lo, hi), **kwargs)


def midpoint_test_distributed(
    client: Any,
    objective: Any,
    *,
    pair_range: tuple[int, int] | None = None,
    part_pairs: int | None = None,
    progress: Any = None,
    **kwargs: Any,
) -> Any:
    """:func:`hiddenconvex.midpoint_test` with ``client=``: ranges of pairs on the workers.

    The test is first checked here (a run on no pair: the input errors, the seed, the black-box
    noise level), then its pair indices are split into ranges of ``part_pairs`` pairs (default:
    ``PARTS_PER_THREAD`` ranges per worker thread, each of at least ``MIDPOINT_PART_SECONDS``
    of CPU by the cost of a pair measured in a pilot run, :func:`midpoint_min_pairs`), each
    range evaluated on a worker, and the parts merged with
    :meth:`~hiddenconvex.MidpointReport.merge`: the report equals the single-process one.
    """
    from ._validation import check_int, resolve_seed
    from .exceptions import ResourceLimitError
    from .midpoint import MidpointReport, midpoint_test

    start = time.perf_counter()
    check_client(client)
    if pair_range is not None:
        raise InvalidInputError("pair_range: give either client or pair_range, not both")
    if kwargs.get("pairs") is None:
        kwargs["seed"] = resolve_seed(kwargs.get("seed"))
    probe = midpoint_test(objective, pair_range=(0, 0), **kwargs)
    n_req = probe.pairs_requested
    nt = len(probe.t)
    if kwargs.get("keep_arrays", True) and n_req * nt > MAX_KEPT_RECORDS:
        raise ResourceLimitError(
            f"midpoint_test: keep_arrays=True keeps {n_req * nt:,} pair×weight records, more "
            f"than {MAX_KEPT_RECORDS:,} (about 2 GB). Use keep_arrays=False (streamed, bounded "
            "memory, identical counts)."
        )
    threads = total_threads(client)
    if part_pairs is not None:
        part_pairs = check_int(part_pairs, "part_pairs", minimum=1)
        ranges = midpoint_ranges(n_req, threads, part_pairs=part_pairs)
    else:
        minimum = midpoint_min_pairs(objective, n_req, **kwargs)
        ranges = midpoint_ranges(n_req, threads, min_pairs=minimum)
    if not ranges:
        return probe
    parts = run_tasks(
        client, _midpoint_part, ranges, kwargs=kwargs, shared={"objective": objective},
        progress=progress, desc="midpoint test (parts)",
    )  # fmt: skip
    report = MidpointReport.merge(parts)
    report.elapsed_s = time.perf_counter() - start
    return report


# ---------------------------------------------------------------------------------------------
# Regularisation paths: segments of β, warm starts inside a segment
# ---------------------------------------------------------------------------------------------
#: Most β per segment of a distributed regularisation path (warm starts inside a segment).
PATH_SEGMENT = 4

#: Fewest segments of a path whose default segment is shortened (``default_segment``).
PATH_MIN_SEGMENTS = 8


def default_segment(n_betas: int) -> int:
    """The default ``segment`` of a path of ``n_betas`` β: ``PATH_SEGMENT``, shortened (to 1 at
    least) until the path has ``PATH_MIN_SEGMENTS`` segments — 2 for 16 β, 1 for 8 β or
    fewer. A segment is one worker's sequential work and the smallest β cost several times the
    largest, so a path of few segments leaves workers idle at its end (16 β in 4 segments: at
    most 1.9× on 2 workers, for 2.0× in 8). The interior-point solver gains little from warm
    starts (a 16-β path costs about the same CPU in segments of 1, 2, 4 or 16 β). It depends
    on the number of β only, never on the cluster, so that the results do not either."""
    return max(1, min(PATH_SEGMENT, int(n_betas) // PATH_MIN_SEGMENTS))


def path_segments(n_betas: int, segment: int) -> list[tuple[int, int]]:
    """The ``[start, stop)`` index ranges of the segments of a path of ``n_betas`` β."""
    return [(i, min(i + segment, n_betas)) for i in range(0, n_betas, segment)]


def beta_costs(betas: Sequence[float]) -> list[float]:
    """Predicted relative cost of the fit at each β of a path: 1 + the number of the path's β
    larger than it. A fit's cost grows as β decreases (more active neurons, more interior-point
    iterations), about linearly in its rank from the largest β on a geometric grid: on the
    benchmark's 16-β paths from β = 10 to 0.05 (d = 3) the fits cost 26 ms at the first β to
    0.32 s at the last (n = 24), 47 ms to 1.3 s (n = 40), the segments of 2 β from 1.5–3% of
    the path's CPU to 22–25%. The prediction only orders and bundles the segments (it never
    changes a result); a wrong one costs balance, not correctness."""
    bs = [float(b) for b in betas]
    neg = sorted(-b for b in bs)  # ascending: the largest β first
    return [1.0 + bisect.bisect_left(neg, -b) for b in bs]


def segment_cost(chunk: Sequence[float], betas: Sequence[float]) -> float:
    """Predicted relative cost of the segment ``chunk`` of the path ``betas``: the sum of its
    β's :func:`beta_costs` (each ranked among the whole path's β)."""
    costs = dict(zip((float(b) for b in betas), beta_costs(betas), strict=True))
    return math.fsum(costs[float(b)] for b in chunk)


def _costliest_first(chunks: list[list[float]]) -> list[int]:
    """Segment indices in the order the cluster should start them: the costliest first by the
    predicted cost (:func:`segment_cost`: the segments holding the smallest β), so that the
    cheap large-β segments fill the workers at the end (longest-processing-time first). Ties
    keep the path's order."""
    betas = [b for c in chunks for b in c]
    cost = [segment_cost(c, betas) for c in chunks]
    return sorted(range(len(chunks)), key=lambda i: (-cost[i], i))


class PathSegment(NamedTuple):
    """What a segment of a distributed path sends back: its fit results, in β order, and —
    from the last segment only — the fitted state of its estimator at the last β (its ``*_``
    and private attributes, not the estimator: its parameters are the caller's). The other
    segments' fitted states (cone multipliers, patterns, warm starts: about 1 MB for a path on
    40 samples in 3 dimensions) stay on the worker."""

    results: list[Any]
    state: dict[str, Any] | None


def _fitted_state(estimator: Any) -> dict[str, Any]:
    names = set(getattr(estimator, "_param_names", ()))
    return {k: v for k, v in estimator.__dict__.items() if k not in names}


def _path_segment(
    estimator: Any, betas: list[float], last: bool, *, X: Any, y: Any, patterns: Any = None
) -> PathSegment:
    if patterns is not None:  # the path's chambers, enumerated once by the caller
        estimator.patterns = patterns
    results = estimator.regularization_path(X, y, betas)
    return PathSegment(results, _fitted_state(estimator) if last else None)


def path_patterns(estimator: Any, X: Any) -> Any:
    """The activation patterns every fit of a path of ``estimator`` on ``X`` would enumerate,
    enumerated once: the exact chambers of X (with its bias column when the estimator has one)
    when ``estimator.patterns == "exact"``, as a ``Chambers`` result that the segments' fits
    take as their ``patterns`` (identical patterns, gates and certificate: a fit given the
    exact ``Chambers`` is the fit of ``"exact"``); ``None`` for any other ``patterns`` (sampled
    patterns depend on the seed, given ones are already there)."""
    p = getattr(estimator, "patterns", None)
    if not (isinstance(p, str) and p == "exact"):
        return None
    from .chambers import chambers

    return chambers(estimator._augment(X), method="exact", bias=False)


def regularization_path(
    estimator: Any,
    X: Any,
    y: Any,
    betas: Any,
    *,
    client: Any = None,
    segment: int | None = None,
    progress: Any = None,
) -> list[Any]:
    """A regularisation path in segments of ``segment`` consecutive β (default
    :func:`default_segment`: 4, or fewer to make at least 8 segments), each segment fitted with
    warm starts from one β to the next, segments independently (locally one after another, or
    on the workers of ``client``).

    The results depend on ``segment`` (the warm starts), never on where the segments run nor
    on the number of workers. With ``patterns="exact"`` the chambers of X are enumerated once,
    here (:func:`path_patterns`), and sent to the segments (identical fits). On a cluster the
    segments predicted costliest (:func:`segment_cost`: those holding the smallest β) start
    first, several segments per Dask task while much predicted work remains (``run_tasks(...,
    bundle=True, cost=...)``), single segments at the end, so that the workers finish
    together. The estimator ends fitted at the last β.
    """
    from ._validation import check_int

    bs = [float(b) for b in betas]
    seg = default_segment(len(bs)) if segment is None else check_int(segment, "segment", minimum=1)
    chunks = [bs[a:b] for a, b in path_segments(len(bs), seg)]
    params = dict(estimator.get_params())
    params["progress"] = None
    tasks = [(type(estimator)(**params), c, i == len(chunks) - 1) for i, c in enumerate(chunks)]
    shared = {"X": X, "y": y}
    patterns = path_patterns(estimator, X)
    if patterns is not None:
        shared["patterns"] = patterns
    outs = run_tasks(
        client,
        _path_segment,
        tasks,
        shared=shared,
        progress=progress,
        desc="regularization path (segments)",
        first=_costliest_first(chunks),
        bundle=True,
        cost=[segment_cost(c, bs) for c in chunks],
    )
    results = [r for seg_out in outs for r in seg_out.results]
    state = outs[-1].state if outs else None
    for k, v in (state or {}).items():  # the fitted state (``*_`` attributes and private ones)
        setattr(estimator, k, v)
    return results
