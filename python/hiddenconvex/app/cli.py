"""The ``hiddenconvex`` command: ``demo``, ``report``, ``bench``.

Exit codes (also in ``hiddenconvex --help``): every failure prints one line on stderr (a
traceback only with ``--verbose``) and exits with the code of its class, :data:`EXIT_CODES`.

``--quiet`` / ``--verbose`` may be given before or after the sub-command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Exit code of each failure class, in the order they are tested (documented in ``--help``).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_RESOURCE = 3
EXIT_NUMERICAL = 4
EXIT_IO = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error (a bug in hiddenconvex: please report it, with --verbose output)",
    EXIT_INPUT: "bad input or usage (InvalidInputError, InvalidTypeError, unreadable data file)",
    EXIT_RESOURCE: "resource limit (ResourceLimitError, out of memory): the request is too large",
    EXIT_NUMERICAL: "numerical failure (NumericalError, e.g. a diverging training run)",
    EXIT_IO: "cannot write the output or read a file (OSError)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def _epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {k:>3}  {v}" for k, v in EXIT_CODES.items())


def exit_code_of(exc: BaseException) -> int:
    """The documented exit code of a failure (see :data:`EXIT_CODES`)."""
    from ..exceptions import (
        InvalidInputError,
        InvalidTypeError,
        NumericalError,
        ResourceLimitError,
    )

    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (ResourceLimitError, MemoryError)):
        return EXIT_RESOURCE
    if isinstance(exc, (InvalidInputError, InvalidTypeError)):
        return EXIT_INPUT
    if isinstance(exc, NumericalError):
        return EXIT_NUMERICAL
    if isinstance(exc, OSError):
        return EXIT_IO
    return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) if str(exc).strip() else ""
    return text or type(exc).__name__


def _common(p: argparse.ArgumentParser, *, top: bool) -> None:
    d = None if top else argparse.SUPPRESS
    p.add_argument(
        "-v", "--verbose", action="store_true", default=d, help="show tracebacks on errors"
    )
    p.add_argument("-q", "--quiet", action="store_true", default=d, help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="hiddenconvex",
        description="Is this network's training loss convex, and where is its hidden convexity?",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hiddenconvex {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="the whole story on built-in data (about a minute on 2 cores)",
        description="Convex models, non-convex networks, ICNNs, activation chambers and hidden "
        "convexity (convex program vs SGD/Adam), on built-in data. Writes OUT/index.html, "
        "OUT/results.json and OUT/*.png.",
    )
    _common(demo, top=False)
    demo.add_argument("--out", default="hiddenconvex-demo", help="output folder")
    demo.add_argument("--quick", action="store_true", help="smaller problems (seconds)")
    demo.add_argument("--seed", type=int, default=0, help="seed for every random step")

    rep = sub.add_parser(
        "report",
        help="the same analysis on your data (.csv or .npz)",
        description="Read FILE (.csv with a header row, or .npz of named columns), standardise "
        "it, and write OUT/index.html, OUT/results.json and OUT/*.png.",
    )
    _common(rep, top=False)
    rep.add_argument("--data", default=None, metavar="FILE", help=".csv or .npz file")
    rep.add_argument("--target", default=None, metavar="COL", help="target column")
    rep.add_argument(
        "--torch-model",
        default=None,
        metavar="MODULE:ATTR",
        help="analyse your model instead of data: ATTR of the importable MODULE is an objective "
        "(hiddenconvex.from_torch / from_jax) or a function returning one or a tuple "
        "(model, loss_fn, X, y); needs hiddenconvex[torch]",
    )
    rep.add_argument("--task", choices=("regression", "classification"), default=None)
    rep.add_argument("--positive", default=None, metavar="LABEL", help="+1 class (one-vs-rest)")
    rep.add_argument("--width", type=int, default=None, help="network width (default: m*)")
    rep.add_argument("--beta", type=float, default=None, help="weight decay (sum scaling)")
    rep.add_argument("--out", default="hiddenconvex-report", help="output folder")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--quick", action="store_true", help="fewer runs and epochs")
    _cluster_options(rep)

    bench = sub.add_parser(
        "bench",
        help="the benchmark suite (from a source checkout) or the real-data comparison",
        description="From a source checkout: python -m pytest benches --benchmark-enable, then "
        "benches/tables.py (the tables in docs/). From an installed wheel: the real-data comparison "
        "suite only, written to OUT/realdata.json and OUT/realdata.md.",
    )
    _common(bench, top=False)
    bench.add_argument("--quick", action="store_true", help="only the real-data group, small")
    bench.add_argument("--out", default="hiddenconvex-bench", help="output folder (wheel mode)")
    _cluster_options(bench, " (bench: runs the real-data comparison suite there)")
    return parser


def _cluster_options(p: argparse.ArgumentParser, extra: str = "") -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run the distributable work on the Dask cluster at ADDRESS (tcp://host:8786)" + extra,
    )
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=None,
        help="run it on a local Dask cluster of N worker processes" + extra,
    )


def _source_root() -> Path | None:
    """The repository root when running from a source checkout (editable install), else None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "benches" / "conftest.py").is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def _run_bench(quick: bool, quiet: bool, out: str, client: object = None) -> int:
    root = _source_root()
    if root is None or client is not None:
        if client is None:
            print(
                "hiddenconvex bench: the pytest benchmarks live in the source repository "
                "(benches/); clone it and run `hiddenconvex bench` there. Running the real-data "
                "comparison suite only.",
                file=sys.stderr,
            )
        else:
            print(
                "hiddenconvex bench: on the Dask cluster, running the real-data comparison suite "
                "(the pytest benchmarks run locally: omit --scheduler/--workers).",
                file=sys.stderr,
            )
        from ..compare import realdata_suite
        from ..io import atomic_write_text

        kw: dict[str, Any] = {} if client is None else {"client": client}
        res = realdata_suite(quick=quick, progress=not quiet, **kw)
        outdir = Path(out)
        res.save(outdir / "realdata.json")
        atomic_write_text(outdir / "realdata.md", res.markdown() + "\n")
        print(res.markdown())
        print(f"wrote {outdir / 'realdata.json'} and {outdir / 'realdata.md'}")
        return 0
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "benches",
        "--benchmark-enable",
        "-p",
        "no:cacheprovider",
    ]
    if quick:
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "benches/bench_realdata.py",
            "--benchmark-enable",
            "-p",
            "no:cacheprovider",
        ]
    cmd += ["-q"] if quiet else []
    env = dict(os.environ)
    if quick:
        env["HIDDENCONVEX_BENCH_QUICK"] = "1"
    if not quiet:
        print("$ python " + " ".join(cmd[1:]), flush=True)
    rc = subprocess.call(cmd, cwd=root, env=env)
    if rc != 0:
        print(f"hiddenconvex bench: pytest failed (exit code {rc})", file=sys.stderr)
        return 1
    rc = subprocess.call([sys.executable, str(root / "benches" / "tables.py")], cwd=root)
    if rc != 0:
        print(f"hiddenconvex bench: benches/tables.py failed (exit code {rc})", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (``python -m hiddenconvex`` and the script exit with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help / --version (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_INPUT

    from ..distributed import cluster_client
    from ..exceptions import HiddenConvexError

    quiet = bool(getattr(args, "quiet", False))
    verbose = bool(getattr(args, "verbose", False))
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(out=args.out, quick=args.quick, seed=args.seed, quiet=quiet)
            return 0
        if args.command == "report" and args.torch_model is not None:
            from .model_report import load_model_spec, run_model_report

            if args.data is not None or args.target is not None:
                print("hiddenconvex report: --torch-model analyses a model; drop --data/--target",
                      file=sys.stderr)  # fmt: skip
                return 2
            run_model_report(
                load_model_spec(args.torch_model),
                out=args.out,
                seed=args.seed,
                quick=args.quick,
                quiet=quiet,
            )
            return 0
        if args.command == "report":
            from .report import run_report

            if args.data is None or args.target is None:
                print("hiddenconvex report: --data FILE and --target COL are required "
                      "(or --torch-model MODULE:ATTR)", file=sys.stderr)  # fmt: skip
                return 2

            with cluster_client(args.scheduler, args.workers) as client:
                run_report(
                    args.data,
                    args.target,
                    out=args.out,
                    task=args.task,
                    positive=args.positive,
                    width=args.width,
                    beta=args.beta,
                    seed=args.seed,
                    quick=args.quick,
                    quiet=quiet,
                    client=client,
                )
            return 0
        if args.command == "bench":
            with cluster_client(args.scheduler, args.workers) as client:
                return _run_bench(args.quick, quiet, args.out, client)
        print(f"hiddenconvex: unknown command {args.command!r}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hiddenconvex: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as exc:  # PanicException derives from BaseException
        if isinstance(exc, (SystemExit, GeneratorExit)):
            raise
        code = exit_code_of(exc)
        if verbose:
            traceback.print_exc()
        if code == EXIT_INTERNAL:
            msg = f"internal error: {type(exc).__name__}: {_one_line(exc)}"
            if not verbose:
                msg += " (run with --verbose for the traceback)"
        elif code == EXIT_RESOURCE and not isinstance(exc, HiddenConvexError):
            msg = f"out of memory: {_one_line(exc)}"
        else:
            msg = f"error: {_one_line(exc)}"
        print(f"hiddenconvex {args.command}: {msg}", file=sys.stderr)
        return code
