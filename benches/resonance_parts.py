"""Sampled real parts of the resonance arrangement of R^d, stored for the scale study.

The scale study of ``docs/distributed.md`` projects the exact enumeration of the resonance
arrangement of R^7 (all 127 nonzero 0/1 vectors, 347,326,352 chambers) from the time of REAL
parts of its default partition (``hiddenconvex.chamber_parts.PART_CHAMBERS`` chambers at most).
Its whole plan takes hours, so parts are *sampled*: from the root cone, split the cone on its
next line exactly as the plan does (``_core.chamber_part_split``, exact counts of both halves)
and follow a child with probability proportional to its chamber count (seeded), until the cone
fits the budget. A descent reaches each part with probability (its chambers)/(total), so
``total/count × (part's time)`` estimates the whole enumeration's time without bias and
``Σ over the descent of (split time) × total/(cone's count)`` the plan's (Knuth's estimator).

Finding a part of R^7 costs many exact cone counts (the splits near the root each cost about a
count of the whole arrangement: several CPU-minutes), enumerating it seconds. So the two are
apart:

- ``python benches/resonance_parts.py --dim 7 --samples 4`` descends (seeds ``[2026, k]``,
  deterministic: the same seed reaches the same part on any machine) and writes the parts found
  with their split times to ``benches/data/resonance_parts_R7.json``. Splits already made by an
  earlier descent (same cone) are not made again; samples already in the file are kept, so an
  interrupted run resumes. Long (an hour or more per new sample of R^7 on 2 cores; R^6 takes
  seconds); the split times are measurements of the machine that ran it (its load is recorded).
- ``bench_distributed.py -k resonance`` (group ``distributed_scale``) enumerates the stored
  parts, one thread, each checked against its exact count: the per-task time of the scale
  study, repeatable in minutes (about 10 s per part of R^7 on an idle core).

``benches/tables.py`` turns the bench's JSON into the docs' scale table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"

#: The exact chamber count of the resonance arrangement of R^7 (OEIS A034997), used as its root
#: count (counting it again takes as long as several splits); the root's first split is checked
#: to be exactly half of it (x ↦ −x maps one half onto the other), which checks the number.
KNOWN_TOTAL = {7: 347_326_352}


def resonance(d: int) -> np.ndarray:
    """The 2^d − 1 nonzero 0/1 vectors of R^d, as rows (in binary order)."""
    return np.array([[(v >> (d - 1 - j)) & 1 for j in range(d)] for v in range(1, 2**d)], float)


def path_for(d: int) -> Path:
    return DATA / f"resonance_parts_R{d}.json"


def load_parts(d: int) -> dict | None:
    p = path_for(d)
    return json.loads(p.read_text()) if p.exists() else None


def _key(sig) -> str:
    return "".join("1" if s else "0" for s in sig)


def root(d: int) -> tuple[tuple[list, list, int], float]:
    """The root cone (no sign fixed) and the CPU seconds of its exact count (0 when known)."""
    from hiddenconvex import _core

    point = [1.0] + [0.0] * (d - 1)
    if d in KNOWN_TOTAL:
        return ([], point, KNOWN_TOTAL[d]), 0.0
    c0 = time.process_time()
    (r,), total = _core.chamber_parts_plan(resonance(d), 2**62)
    return (list(r[0]), list(r[1]), int(total)), time.process_time() - c0


def descend(
    d: int, budget: int, rng: np.random.Generator, memo: dict, threads: int, on_split=None
) -> tuple[tuple[list, list, int], list[tuple[int, float]]]:
    """One random descent from the root to a part of ≤ ``budget`` chambers: the part (sig,
    point, count) and the splits on the way ((cone count, CPU seconds), memoised in ``memo`` by
    the cone's signs: a split reused from an earlier descent keeps its measured time;
    ``on_split()`` is called after each new split, to save the memo)."""
    import hiddenconvex as hc
    from hiddenconvex import _core

    Xr = resonance(d)
    (sig, point, count), _ = root(d)
    splits = []
    old = hc.thread_count()
    hc.set_thread_count(threads)
    try:
        while count > budget:
            k = _key(sig)
            if k not in memo:
                c0 = time.process_time()
                kids = _core.chamber_part_split(Xr, sig, point, count)
                memo[k] = {
                    "cpu_s": time.process_time() - c0,
                    "kids": [[list(map(bool, s)), list(map(float, p)), int(c)] for s, p, c in kids],
                }
                if on_split is not None:
                    on_split()
            kids, cpu = memo[k]["kids"], memo[k]["cpu_s"]
            splits.append((count, cpu))
            if not kids:
                break
            if not sig and len(kids) == 2:  # the root's halves are mirror images
                assert kids[0][2] * 2 == count, "the root count is not the arrangement's"
            assert sum(c for _, _, c in kids) == count, "a split lost chambers"
            u = rng.integers(count)
            acc = 0
            for ksig, kpoint, kcount in kids:
                acc += kcount
                if u < acc:
                    sig, point, count = list(ksig), list(kpoint), int(kcount)
                    break
    finally:
        hc.set_thread_count(old)
    return (sig, point, count), splits


def main(argv: list[str] | None = None) -> int:
    from hiddenconvex.chamber_parts import PART_CHAMBERS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=7)
    ap.add_argument("--samples", type=int, default=4, help="samples wanted in the file in all")
    ap.add_argument("--budget", type=int, default=PART_CHAMBERS)
    ap.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    d, budget = args.dim, args.budget
    doc = load_parts(d) or {}
    if doc and int(doc.get("budget", budget)) != budget:
        raise SystemExit(f"{path_for(d)} holds parts of budget {doc['budget']}, not {budget}")
    (_, _, total), t_root = root(d)
    doc.update(dim=d, budget=budget, chambers_total=total, root_count_cpu_s=t_root)
    samples = doc.setdefault("samples", [])
    memo = doc.setdefault("splits", {})
    DATA.mkdir(exist_ok=True)

    def save() -> None:  # after each split and each sample: an interrupted run resumes
        tmp = path_for(d).with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(path_for(d))

    for k in range(len(samples), args.samples):
        load0 = round(os.getloadavg()[0], 2)
        (sig, point, count), splits = descend(
            d, budget, np.random.default_rng([2026, k]), memo, args.threads, on_split=save
        )
        samples.append(dict(
            seed=[2026, k], sig=[bool(s) for s in sig], point=[float(p) for p in point],
            count=int(count), depth=len(sig), splits=[[int(c), float(s)] for c, s in splits],
            threads=args.threads, load_start=load0, load_end=round(os.getloadavg()[0], 2),
        ))  # fmt: skip
        save()
        print(f"R^{d} sample {k}: part of {count:,} chambers at depth {len(sig)}; "
              f"{len(splits)} splits, {sum(s for _, s in splits):.1f} CPU-s", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
