"""Rewrite the README's benchmark tables from benches/results/*.json.

Each group's table sits in README.md between ``<!-- bench:GROUP -->`` and ``<!-- /bench:GROUP -->``.
Columns: case, then per implementation its median time, and the ratio peer / hiddenconvex
(> 1 means hiddenconvex is faster), plus any extra fields recorded by the bench.
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
            if ref and impl != REF and ref.get("median_s"):
                ratio = f"{e['median_s'] / ref['median_s']:.1f}×"
            extras = ", ".join(
                f"{k}={fmt_val(v)}"
                for k, v in e.items()
                if k not in ("median_s", "min_s", "rounds")
            )
            rows.append(f"| {case} | {impl} | {fmt_time(e['median_s'])} | {ratio} | {extras} |")
    head = "| case | implementation | median | peer / hiddenconvex | notes |\n|---|---|---|---|---|"
    return (
        f"{head}\n"
        + "\n".join(rows)
        + f"\n\n_Measured {doc['updated']} on {doc['machine']['cpus']} CPUs._"
    )


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for path in sorted((ROOT / "benches" / "results").glob("*.json")):
        doc = json.loads(path.read_text())
        g = doc["group"]
        pat = re.compile(
            rf"(<!-- bench:{re.escape(g)} -->\n)(?:.*?\n)?(<!-- /bench:{re.escape(g)} -->)", re.S
        )
        if not pat.search(text):
            print(f"README has no <!-- bench:{g} --> section; skipped", file=sys.stderr)
            continue
        body = table(doc)
        text = pat.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
