"""Run a call in a child interpreter, send the child SIGINT after a delay, report what happened.

The test process itself never receives a signal. The child installs Python's default SIGINT
handler first: a process started in the background by a non-interactive shell inherits SIGINT
*ignored*, and Python then installs no handler, so without this the signal would be lost and
the call would run to the end. ``subprocess.run(timeout=...)`` kills a child that still does not
stop, so the test fails instead of hanging.
"""

from __future__ import annotations

import json
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
timer = threading.Timer({delay}, fire)
timer.start()
try:
{call}
    outcome = "finished"
except KeyboardInterrupt:
    outcome = "interrupted"
except Exception as exc:  # a refusal or error before the signal: report it
    outcome = "raised " + type(exc).__name__
end = time.perf_counter()
timer.cancel()
try:
    timer.join()
except KeyboardInterrupt:  # the signal landed after the call: it finished first
    pass
print(json.dumps({{"outcome": outcome, "latency": end - fired.get("t", float("nan"))}}))
"""


def run_interrupted(setup: str, call: str, delay: float = 0.3, timeout: float = 300.0) -> dict:
    """Run ``setup`` then ``call`` (Python source) in a child; SIGINT the child after ``delay``.

    Returns ``{"outcome": "interrupted" | "finished" | "raised <Exception>", "latency":
    seconds}`` (latency NaN when the call ended before the signal).
    """
    code = _CHILD.format(
        setup=textwrap.dedent(setup),
        call=textwrap.indent(textwrap.dedent(call), "    "),
        delay=delay,
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])
