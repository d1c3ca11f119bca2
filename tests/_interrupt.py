"""Run a call in a child interpreter, send the child SIGINT after a delay, report what happened.

The test process itself never receives a signal. The child installs Python's default SIGINT
handler first: a process started in the background by a non-interactive shell inherits SIGINT
*ignored*, and Python then installs no handler, so without this the signal would be lost and
the call would run to the end. ``subprocess.run(timeout=...)`` kills a child that still does not
stop, so the test fails instead of hanging.

What tests assert is the interruption itself, never a latency: the outcome, whether the core
stopped at a cancellation check before finishing its work (``stopped_early``, from the
``KeyboardInterrupt`` raised by ``rust/py/src/detach.rs``), its progress then, and that the call
returned nothing (a call written ``result = ...`` leaves ``result`` None). The latency is
measured by ``benches/bench_interrupt.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

_CHILD = """
import json, os, signal, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import hiddenconvex as hc
{setup}
fired = {{}}
def fire():
    fired["t"] = time.perf_counter()
    os.kill(os.getpid(), signal.SIGINT)
result = extra = None
stopped_early = progress = None
timer = threading.Timer({delay}, fire)
timer.start()
try:
{call}
    outcome = "finished"
except KeyboardInterrupt as exc:
    outcome = "interrupted"
    stopped_early = getattr(exc, "_hc_stopped_early", None)
    progress = getattr(exc, "_hc_progress", None)
except Exception as exc:  # a refusal or error before the signal: report it
    outcome = "raised " + type(exc).__name__
end = time.perf_counter()
timer.cancel()
try:
    timer.join()
except KeyboardInterrupt:  # the signal landed after the call: it finished first
    pass
print(json.dumps({{
    "outcome": outcome,
    "latency": end - fired.get("t", float("nan")),
    "stopped_early": stopped_early,
    "progress": None if progress is None else list(progress),
    "result": None if result is None else type(result).__name__,
    "extra": extra,
    "t_signal": fired.get("t"),
    "t_end": end,
}}))
"""


def run_interrupted(
    setup: str,
    call: str,
    delay: float = 0.3,
    timeout: float = 300.0,
    env: dict[str, str] | None = None,
) -> dict:
    """Run ``setup`` then ``call`` (Python source) in a child; SIGINT the child after ``delay``.

    Returns ``{"outcome": "interrupted" | "finished" | "raised <Exception>", "latency":
    seconds, "stopped_early": bool | None, "progress": [done, total] | None, "result":
    type name | None, "extra": ...}``: latency NaN when the call ended before the signal;
    ``stopped_early`` True when the core stopped at a cancellation check (False: it had finished
    its work; None: not a detached core call); ``result`` the type of what the call assigned to
    ``result``; ``extra`` what the call assigned to ``extra`` (JSON), e.g. in a ``finally:``.
    """
    code = _CHILD.format(
        setup=textwrap.dedent(setup),
        call=textwrap.indent(textwrap.dedent(call), "    "),
        delay=delay,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["stderr"] = out.stderr
    return res
