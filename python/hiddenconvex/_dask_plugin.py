"""The Dask worker plugin of :mod:`hiddenconvex.distributed` (imports dask.distributed)."""

from __future__ import annotations

import os
from typing import Any

from distributed import WorkerPlugin

THREADS_ENV = "HIDDENCONVEX_NUM_THREADS"


class ThreadCap(WorkerPlugin):
    """Worker plugin: cap the Rust core's thread pool of each worker at its thread count.

    Runs on every worker when registered and on every worker that joins (or is restarted)
    later: sets ``HIDDENCONVEX_NUM_THREADS`` and :func:`hiddenconvex.set_thread_count` to
    ``threads`` (default: the worker's own ``nthreads``), so that the workers of one machine
    together use as many threads as it has cores.
    """

    name = "hiddenconvex-thread-cap"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def setup(self, worker: Any) -> None:
        import hiddenconvex

        n = int(self.threads or getattr(worker.state, "nthreads", 0) or worker.nthreads or 1)
        os.environ[THREADS_ENV] = str(n)
        if hiddenconvex.thread_count() != n:
            hiddenconvex.set_thread_count(n)
