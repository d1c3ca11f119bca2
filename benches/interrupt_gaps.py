"""Where a Ctrl-C waits: the longest stretches between cancellation checks, per interrupt case.

A developer tool beside ``bench_interrupt.py`` (not a benchmark, writes nothing). It needs an
extension built with the check tracer::

    maturin develop --release --features gaptrace     # or --profile fastdev

then runs each selected case of ``bench_interrupt.CASES`` (``HC_INTERRUPT_CASES`` or arguments
as there: comma-separated substrings of the case names) in a child with ``HC_GAPTRACE=1``, sends
SIGINT after each delay (``--delays``, seconds) and prints

- per trial, the latency and where it went: ``poll`` (signal → the binding's poll sees it and
  cancels), ``core`` (cancel → the core returned, including the drops of its buffers), ``join``
  (→ worker thread joined), ``back`` (→ the binding hands back to Python, after the allocator's
  purge) and ``py`` (→ ``KeyboardInterrupt`` caught by the caller);
- over all trials, the longest gaps between two consecutive checks on one thread, with the two
  call sites (CPU time of the thread, its wall time in parentheses). A gap ending at
  ``detach.rs`` is the last stretch of a run, one starting there its first.

Calls that do not go through ``detach.rs`` (the adapters' Python loops, ``call_interruptibly``)
show only their latency.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from _interrupt import run_interrupted  # noqa: E402
from bench_interrupt import CASES  # noqa: E402

_HEAD = re.compile(r"GAPTRACE start (\S+) cancel (\S+) done (\S+) joined (\S+) return (\S+)")
_GAP = re.compile(
    r"gap cpu\s+([\d.]+) ms \(wall\s+([\d.]+)\)\s+n\s+(\d+)\s+sum\s+([\d.]+) ms\s+(\S+) -> (\S+)"
)


def _num(s: str) -> float | None:
    return None if s == "-" else float(s)


def _breakdown(res: dict) -> str:
    """``poll/core/join/back/py`` in ms from the last traced run of a trial."""
    heads = [m.groups() for m in _HEAD.finditer(res["stderr"])]
    ts, te = res.get("t_signal"), res.get("t_end")
    if not heads or ts is None:
        return ""
    _, cancel, done, joined, back = (_num(x) for x in heads[-1])
    if cancel is None:
        return "(the signal came after the last traced run)"
    parts = [("poll", ts, cancel), ("core", cancel, done), ("join", done, joined)]
    parts += [("back", joined, back), ("py", back, te)]
    return "  ".join(
        f"{k} {(b - a) * 1e3:.1f}" for k, a, b in parts if a is not None and b is not None
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", help="substrings of case names (default: all)")
    ap.add_argument("--delays", default="0.05,0.3,1.0,3.0", help="seconds, comma-separated")
    ap.add_argument("--top", type=int, default=8, help="gaps listed per case")
    args = ap.parse_args()
    keys = args.cases or [
        k for k in os.environ.get("HC_INTERRUPT_CASES", "").split(",") if k.strip()
    ]
    names = [c for c in sorted(CASES) if not keys or any(k in c for k in keys)]
    delays = [float(d) for d in args.delays.split(",")]
    for name in names:
        setup, call = CASES[name]
        print(f"== {name}", flush=True)
        gaps: dict[tuple[str, str], list[float]] = {}
        for d in delays:
            res = run_interrupted(setup, call, delay=d, env={"HC_GAPTRACE": "1"})
            lat = (res["t_end"] - res["t_signal"]) * 1e3 if res.get("t_signal") else None
            lat_s = f"{lat:6.1f} ms" if lat is not None else "     -   "
            print(f"  delay {d:5.2f} s  {res['outcome']:12s} {lat_s}  {_breakdown(res)}")
            for m in _GAP.finditer(res["stderr"]):
                cpu, wall, n, tot = (float(m[i]) for i in range(1, 5))
                g = gaps.setdefault((m[5], m[6]), [0.0, 0.0, 0, 0.0])
                if cpu > g[0]:
                    g[0], g[1] = cpu, wall
                g[2] += int(n)
                g[3] += tot
        for (a, b), (cpu, wall, n, _tot) in sorted(gaps.items(), key=lambda kv: -kv[1][0])[
            : args.top
        ]:
            print(f"    {cpu:7.2f} ms ({wall:7.2f})  n {n:6d}  {a} -> {b}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
