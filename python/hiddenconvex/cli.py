"""The ``hiddenconvex`` command: ``demo``, ``report``, ``bench``.

Exit codes: 0 on success, 2 on bad input (one-line message on stderr, traceback only with
``--verbose``), 1 on any other failure, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hiddenconvex",
        description="Is this network's training loss convex, and where is its hidden convexity?",
    )
    parser.add_argument("--version", action="version", version=f"hiddenconvex {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the whole story on built-in data")
    demo.add_argument("--out", default="hiddenconvex-out", help="output folder")
    demo.add_argument("--quick", action="store_true", help="smaller problems (seconds)")
    demo.add_argument("--seed", type=int, default=0, help="seed for every random step")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .exceptions import HiddenConvexError

    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(out=args.out, quick=args.quick, seed=args.seed, quiet=args.quiet)
            return 0
        parser.error(f"unknown command {args.command!r}")
    except KeyboardInterrupt:
        print("hiddenconvex: interrupted", file=sys.stderr)
        return 130
    except (HiddenConvexError, ValueError, TypeError, OSError) as exc:
        if args.verbose:
            raise
        print(f"hiddenconvex {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
