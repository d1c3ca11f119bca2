"""Native work that cannot check for Ctrl-C, run so that the caller still can.

LAPACK (a large eigendecomposition) and XLA (the compilation of a jitted function) run for
seconds in C/C++ without returning to Python, so a ``KeyboardInterrupt`` would wait for them.
:func:`call_interruptibly` runs such a call on a worker thread (both release the GIL) and waits
for it from the calling thread in short intervals: Ctrl-C raises ``KeyboardInterrupt`` within
:data:`POLL_INTERVAL` seconds. The abandoned call finishes in the background and its result is
discarded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between two checks of the calling thread for a pending signal while it waits.
POLL_INTERVAL = 0.01


def call_interruptibly(fn: Callable[[], T], name: str) -> T:
    """``fn()``, computed on a worker thread while the calling thread waits interruptibly.

    The wait is a ``threading.Event`` polled every :data:`POLL_INTERVAL` seconds (never
    ``Thread.join``, which on CPython 3.11 marks a thread that is still running as finished when
    a signal interrupts it). An exception of ``fn`` is re-raised on the calling thread.

    Parameters
    ----------
    fn : callable
        The work, without arguments. It must not depend on thread-local state of the caller
        (e.g. JAX's configuration contexts: enter them inside ``fn``).
    name : str
        The worker thread's name. The thread is not a daemon: the interpreter waits for an
        abandoned call at exit.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C (or any exception a signal handler raises) during the wait; the worker is left
        to finish and its result is discarded.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["out"] = fn()
        except BaseException as exc:  # re-raised on the calling thread
            box["exc"] = exc
        finally:
            done.set()

    # not a daemon: the interpreter waits at exit for an abandoned call, since native code cut
    # off by the exit crashes the process (XLA's compiler aborts it, LAPACK segfaults when the
    # BLAS library is torn down under it)
    threading.Thread(target=work, name=name).start()
    while not done.wait(POLL_INTERVAL):
        pass
    if "exc" in box:
        raise box["exc"]
    return box["out"]
