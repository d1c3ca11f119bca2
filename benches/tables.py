"""Rewrite the documentation's benchmark tables from benches/results/*.json.

Each group's table sits in a page of ``docs/`` (``docs/benchmarks.md`` unless a group has a page of
its own) between ``<!-- bench:GROUP -->`` and ``<!-- /bench:GROUP -->``.
Columns: case, then per implementation its median time, and the ratio peer / hiddenconvex
(> 1 means hiddenconvex is faster), plus any extra fields recorded by the bench (fields whose name
starts with "_" are kept in the JSON but not shown in the notes).

Groups with rows named "best of N <optimizer>" (non-convex training runs, see
benches/bench_convex.py) get a second table: per case the convex optimum p* (field ``_p_star``)
against the best final objective of each such row, and whether "convex ≤ best of N" holds ("yes"/"no") —
decided only where every activation pattern is enumerated (``_exact``), since a sampled-pattern
optimum is not the global one.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = "hiddenconvex"


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_val(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def table(doc: dict) -> str:
    rows = []
    for case, impls in doc["cases"].items():
        ref = impls.get(REF)
        for impl, e in impls.items():
            ratio = ""
            # no ratio for the non-convex runs: they solve a different problem (no certificate)
            if (
                ref
                and impl != REF
                and ref.get("median_s")
                and not impl.startswith(NONCONVEX_PREFIX)
            ):
                ratio = f"{e['median_s'] / ref['median_s']:.1f}×"
            extras = ", ".join(
                f"{k}={fmt_val(v)}"
                for k, v in e.items()
                if k not in ("median_s", "min_s", "rounds") and not k.startswith("_")
            )
            rows.append(f"| {case} | {impl} | {fmt_time(e['median_s'])} | {ratio} | {extras} |")
    head = "| case | implementation | median | peer / hiddenconvex | notes |\n|---|---|---|---|---|"
    out = (
        f"{head}\n"
        + "\n".join(rows)
        + f"\n\n_Measured {doc['updated']} on {doc['machine']['cpus']} CPUs{versions_note(doc)}._"
    )
    summary = nonconvex_table(doc)
    return out if summary is None else f"{out}\n\n{summary}"


def versions_note(doc: dict) -> str:
    """The package versions of the run that last wrote the file (older files have none)."""
    versions = doc.get("versions")
    if not versions:
        return ""
    return " (last run's versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ")"


NONCONVEX_PREFIX = "best of "
# "convex ≤ best run" allows the convex solver's certified tolerance (relative).
TARGET_RTOL = 1e-6


def nonconvex_table(doc: dict) -> str | None:
    """p* against the best of N non-convex runs per case (None when no such rows)."""
    names: list[str] = []
    for impls in doc["cases"].values():
        for impl in impls:
            if impl.startswith(NONCONVEX_PREFIX) and impl not in names:
                names.append(impl)
    if not names:
        return None
    names.sort()
    rows = []
    n_runs: object = "N"
    for case, impls in doc["cases"].items():
        runs = {k: e for k, e in impls.items() if k.startswith(NONCONVEX_PREFIX)}
        if not runs:
            continue
        first = next(iter(runs.values()))
        p = first.get("_p_star", impls.get(REF, {}).get("objective"))
        if p is None:
            continue
        exact = bool(first.get("_exact", False))
        n_runs = first.get("_n_runs", "N")
        cells = []
        for name in names:
            e = runs.get(name)
            if e is None:
                cells.append("")
                continue
            rel = (e["objective"] - p) / abs(p)
            cells.append(
                f"{e['objective']:.7g} ({rel:+.1e}); "
                f"{e.get('runs_above', '?')}/{e.get('_n_runs', '?')} above p*"
            )
        best = min(e["objective"] for e in runs.values())
        below = best < p - TARGET_RTOL * abs(p)
        if exact:
            status = "**no**" if below else "yes"
            if not first.get("_certified", True):
                status += " (p* not certified: the convex solver stopped early)"
        else:
            gap = f"{(best - p) / abs(p):+.1%}"
            status = (
                f"n/a (sampled patterns: p* is optimal over them only; best run {gap} vs p*"
                + (", i.e. below it)" if below else ")")
            )
        rows.append(
            f"| {case} | {'all (exact)' if exact else 'sampled'} | {p:.7g} | "
            + " | ".join(cells)
            + f" | {status} |"
        )
    head = (
        "| case | patterns | convex p* | "
        + " | ".join(f"{n} (vs p*); runs ending above p*" for n in names)
        + f" | convex ≤ best of {n_runs} |\n|"
        + "---|" * (len(names) + 4)
    )
    rtol = f"{TARGET_RTOL:.0e}".replace("e-0", "e-")
    return (
        "The convex optimum p* (hiddenconvex, relative duality gap ≤ 1e-6) against the best final "
        "objective of the non-convex runs at width m*, same objective and sum scaling (in "
        "parentheses: relative to p*; a run ends above p* when its final objective exceeds "
        f"p*·(1 + {rtol})):\n\n{head}\n" + "\n".join(rows)
    )


def interrupt_table(doc: dict) -> str:
    """Ctrl-C latency (benches/bench_interrupt.py): one row per operation."""
    head = "| operation | median latency | largest | trials interrupted |\n|---|---|---|---|"
    rows = [
        f"| {case} | {fmt_time(e['median_s'])} | {e.get('max_latency', '')} | "
        f"{e.get('interrupted', e.get('rounds', ''))} |"
        for case, impls in doc["cases"].items()
        for e in impls.values()
    ]
    return (
        f"{head}\n"
        + "\n".join(rows)
        + f"\n\n_Measured {doc['updated']} on {doc['machine']['cpus']} CPUs{versions_note(doc)}._"
    )


#: Groups with a table of their own (default: :func:`table`).
GROUP_TABLES = {"interrupt": interrupt_table}

DOCS = ROOT / "docs"


def main() -> int:
    pages = {path: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md"))}
    changed: set[Path] = set()
    for path in sorted((ROOT / "benches" / "results").glob("*.json")):
        doc = json.loads(path.read_text())
        g = doc["group"]
        pat = re.compile(
            rf"(<!-- bench:{re.escape(g)} -->\n)(?:.*?\n)?(<!-- /bench:{re.escape(g)} -->)", re.S
        )
        hits = [page for page, text in pages.items() if pat.search(text)]
        if not hits:
            print(f"docs/ has no <!-- bench:{g} --> section; skipped", file=sys.stderr)
            continue
        body = GROUP_TABLES.get(g, table)(doc)
        for page in hits:
            pages[page] = pat.sub(
                lambda m, body=body: m.group(1) + body + "\n" + m.group(2), pages[page]
            )
            changed.add(page)
    for page in sorted(changed):
        page.write_text(pages[page], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
