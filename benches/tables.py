"""Rewrite the documentation's benchmark tables from benches/results/*.json.

Each group's table sits in a page of ``docs/`` (``docs/benchmarks.md`` unless a group has a page of
its own) between ``<!-- bench:GROUP -->`` and ``<!-- /bench:GROUP -->``.
Columns: case, then per implementation its median time, and the ratio peer / hiddenconvex
(> 1 means hiddenconvex is faster), plus any extra fields recorded by the bench (fields whose name
starts with "_" are kept in the JSON but not shown in the notes).

Only measurements of one run are compared: every entry records the run that measured it
(``_run``, see benches/conftest.py) and :func:`fresh` leaves out a peer's entry from another run
than the hiddenconvex row of its case — typically a peer no longer installed, whose bench now
skips while its old median stays in the JSON. A peer entry written before runs were recorded is
shown, with a footnote when a distribution its name gives is missing from the versions of the
run that last wrote the file (it comes from an earlier run). Tables have a column per peer
measured (no empty column for a peer with no entry left).

Groups with rows named "best of N <optimizer>" (non-convex training runs, see
benches/bench_convex.py) get a second table: per case the convex optimum p* (field ``_p_star``)
against the best final objective of each such row, and whether "convex ≤ best of N" holds ("yes"/"no") —
decided only where every activation pattern is enumerated (``_exact``), since a sampled-pattern
optimum is not the global one.
"""

from __future__ import annotations

import json
import math
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
                if k not in ("median_s", "min_s", "rounds", "calls_per_round")
                and not k.startswith("_")
            )
            rows.append(f"| {case} | {impl} | {fmt_time(e['median_s'])} | {ratio} | {extras} |")
    head = "| case | implementation | median | peer / hiddenconvex | notes |\n|---|---|---|---|---|"
    out = (
        f"{head}\n"
        + "\n".join(rows)
        + f"\n\n_Measured {doc['updated']} on {doc['machine']['cpus']} CPUs{load_note(doc)}"
        + f"{versions_note(doc)}._"
    )
    summary = nonconvex_table(doc)
    return out if summary is None else f"{out}\n\n{summary}"


def load_note(doc: dict) -> str:
    """The machine's 1/5/15-minute load averages when the file was last written (if recorded)."""
    load = doc["machine"].get("load_avg")
    if not load:
        return ""
    return ", load average " + "/".join(f"{x:g}" for x in load)


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
        + f"\n\n_Measured {doc['updated']} on {doc['machine']['cpus']} CPUs{load_note(doc)}"
        f"{versions_note(doc)}._"
    )


# ---- the convex section: the main table, then the β grid (benches/bench_convex.py) -----------
BETA_GRID_PREFIX = "beta grid "
BETA_GRID_PEERS = ("cvxpy+clarabel", "clarabel-direct", "adelie")
BETA_GRID_LABELS = {"cvxpy+clarabel": "cvxpy+Clarabel", "clarabel-direct": "Clarabel direct"}


def convex_table(doc: dict) -> str:
    """The convex group: every case but the β grid's in the usual table, the β grid's rows
    (case names starting with BETA_GRID_PREFIX) in a second one."""
    rest = {c: v for c, v in doc["cases"].items() if not c.startswith(BETA_GRID_PREFIX)}
    main = {**doc, "cases": rest}
    out = table(main)
    grid = beta_grid_table(doc)
    return out if grid is None else f"{out}\n\n{grid}"


def beta_grid_table(doc: dict) -> str | None:
    """One line per β-grid row: hiddenconvex's median, whether it certified, the chain that
    ran, and each peer's median with the ratio peer / hiddenconvex. A mean-scaling row is the
    sum-scaling program divided by n: its peers are the sum row's (they run there only)."""
    cases = {
        c[len(BETA_GRID_PREFIX) :]: v
        for c, v in doc["cases"].items()
        if c.startswith(BETA_GRID_PREFIX)
    }

    def peer_entry(name: str, impls: dict, peer: str) -> dict | None:
        src = cases.get(name.replace(" mean beta=", " sum beta="), {})
        e = impls.get(peer) or src.get(peer)
        return e if e and e.get("median_s") else None

    # a column per peer measured on at least one row (a peer not measured in this run has no
    # entry left after :func:`fresh`: no empty column for it)
    peers = [
        p
        for p in BETA_GRID_PEERS
        if any(peer_entry(name, impls, p) for name, impls in cases.items() if impls.get(REF))
    ]
    rows = []
    for name, impls in cases.items():
        ours = impls.get(REF)
        if not ours or not ours.get("median_s"):
            continue
        cells = []
        for peer in peers:
            e = peer_entry(name, impls, peer)
            if e:
                cells += [fmt_time(e["median_s"]), f"{e['median_s'] / ours['median_s']:.1f}×"]
            else:
                cells += ["–", ""]
        rows.append(
            f"| {name} | {fmt_time(ours['median_s'])} | {ours.get('certified', '')} | "
            f"{ours.get('solver', '')} | " + " | ".join(cells) + " |"
        )
    if not rows:
        return None
    head = (
        "| β grid case | hiddenconvex | certified | chain |"
        + "".join(f" {BETA_GRID_LABELS.get(p, p)} | ratio |" for p in peers)
        + "\n|"
        + "---|" * (4 + 2 * len(peers))
    )
    absent = [p for p in BETA_GRID_PEERS if p not in peers]
    skips = any("| – |" in r for r in rows)
    return (
        f"{head}\n"
        + "\n".join(rows)
        + "\n\n_β grid: all exact patterns, default tol (relative gap 1e-8), β in the sum "
        "scaling; hiddenconvex median of 3, peers one run each on the sum-scaling rows (a "
        "mean-scaling row is the same program divided by n and is compared with them)"
        + ("; –: the peer's bench skips that row (adelie: β ≥ 0.1 only)" if skips else "")
        + "".join(
            f"; no column for {p}: not measured in the run of these rows ("
            + (
                "not installed"
                if _dists(p) - set(doc.get("versions") or {})
                else "its bench skipped every row"
            )
            + ")"
            for p in absent
        )
        + "._"
    )


# Distributions a peer's name can give (its "+"-separated parts, lower case), as recorded in a
# results file's "versions" (benches/conftest.py PEER_DISTRIBUTIONS).
PEER_DISTRIBUTIONS = (
    "numpy", "scipy", "cvxpy", "clarabel", "scs", "pyscnn", "torch", "adelie", "numdifftools",
    "jax", "scikit-learn",
)  # fmt: skip


def _dists(impl: str) -> set[str]:
    parts = {p.strip().lower() for p in impl.replace("-direct", "").split("+")}
    return parts & set(PEER_DISTRIBUTIONS)


def stale_reason(impls: dict, impl: str) -> str | None:
    """Why entry ``impl`` of a case (``impls``: its entries) is not comparable with the case's
    hiddenconvex row, or None: it was measured in another run (``_run`` differs; entries
    written before runs were recorded have none and are judged by :func:`unversioned`)."""
    if impl == REF or REF not in impls:
        # a case without a hiddenconvex row (e.g. the kink-flag rates, one row per method of
        # ours) has nothing to be compared with
        return None
    e, ref = impls[impl], impls[REF]
    if ("_run" in ref or "_run" in e) and e.get("_run") != ref.get("_run"):
        return "measured in another run than hiddenconvex's rows"
    return None


def unversioned(doc: dict, impls: dict, impl: str) -> list[str]:
    """The distributions of a peer's entry without ``_run`` that the run which last wrote the
    file did not have installed: the entry comes from an earlier run (whether its case's
    hiddenconvex row was measured again since is not recorded)."""
    versions = doc.get("versions")
    if impl == REF or not versions or "_run" in impls[impl]:
        return []
    return sorted(_dists(impl) - set(versions))


def fresh(doc: dict) -> tuple[dict, dict[str, str]]:
    """``doc`` without the entries :func:`stale_reason` rejects, and {peer: reason} of those
    left out and of those kept from an earlier run (:func:`unversioned`) — for the footnote."""
    cases: dict = {}
    notes: dict[str, str] = {}
    for case, impls in doc["cases"].items():
        kept = {}
        for impl, e in impls.items():
            why = stale_reason(impls, impl)
            if why is None:
                kept[impl] = e
                missing = unversioned(doc, impls, impl)
                if missing:
                    notes.setdefault(
                        impl,
                        f"shown from an earlier run: {', '.join(missing)} not installed in the "
                        "run that last wrote these results",
                    )
            else:
                notes[impl] = f"not shown: {why}"
        cases[case] = kept
    return {**doc, "cases": cases}, notes


def peers_note(notes: dict[str, str]) -> str:
    """The footnote of :func:`fresh`'s notes ("" when none)."""
    if not notes:
        return ""
    items = "; ".join(f"{impl} — {why}" for impl, why in sorted(notes.items()))
    return f"_Peers: {items}._"


#: Groups with a table of their own (default: :func:`table`).
#: The hessian group's same-job pairs: (hiddenconvex row, JAX row, what both compute).
HESSIAN_PAIRS = (
    ("hiddenconvex (H only)", "jax", "H"),
    ("hiddenconvex", "jax+eigh", "H + spectra"),
)


#: The finite-difference peers, which compute H alone (same job as ``spectrum=False``).
FD_PEERS = ("numdifftools", "scipy.differentiate")


def hessian_table(doc: dict) -> str:
    """The generic table, then per case the same-job ratios against JAX: H alone
    (``spectrum=False`` against ``jax.hessian``) and H with its spectra (hiddenconvex's default
    output, verdicts included, against ``jax.hessian`` + ``jnp.linalg.eigh``)."""
    out = table(doc)
    rows = []
    for case, impls in doc["cases"].items():
        cells = []
        for ours, peer, _ in HESSIAN_PAIRS:
            a, b = impls.get(ours), impls.get(peer)
            if a and b:
                r = a["median_s"] / b["median_s"]
                cells += [fmt_time(a["median_s"]), fmt_time(b["median_s"]), f"{r:.2f}×"]
            else:
                cells += ["", "", ""]
        h = impls.get("hiddenconvex (H only)")
        for peer in FD_PEERS:
            p = impls.get(peer)
            cells.append(f"{p['median_s'] / h['median_s']:.0f}×" if h and p else "")
        if any(cells):
            rows.append(f"| {case} | " + " | ".join(cells) + " |")
    if not rows:
        return out
    head = (
        "| case | hiddenconvex (H only) | jax | ratio | hiddenconvex (H + spectra, verdicts) "
        "| jax + eigh | ratio | numdifftools / H only | scipy.differentiate / H only |\n|"
        + "---|"
        * 9
    )
    note = (
        "_Same job, ratio hiddenconvex / JAX (< 1 means hiddenconvex is faster): H alone "
        "(`spectrum=False`, no Richardson) against `jax.jit(jax.vmap(jax.hessian(f)))`, and H "
        "with its spectra (no Richardson; eigenvalues, λ_min eigenvector, certificates and "
        "verdicts) against the same JAX Hessian followed by `jnp.linalg.eigh` in one jitted "
        "function. numdifftools and scipy.differentiate compute H alone: their last two columns "
        "are the same-job ratios peer / hiddenconvex (H only), > 1 means hiddenconvex is faster "
        "(the first table's ratios are against the full call, spectra and verdicts included)._"
    )
    return f"{out}\n\n{head}\n" + "\n".join(rows) + f"\n\n{note}"


GROUP_TABLES = {"interrupt": interrupt_table, "convex": convex_table, "hessian": hessian_table}

DOCS = ROOT / "docs"


# ---- docs/distributed.md: measured scaling and the scale study (from distributed*.json) -------
WORKERS = (8, 64, 512)


def _fmt_wall(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h"


def _loads(*entries: dict) -> str:
    vals = [e[k] for e in entries for k in ("load_start", "load_end") if k in e]
    return f"{min(vals):.1f}–{max(vals):.1f}" if vals else "?"


def _scaling_inputs(doc: dict) -> list[dict]:
    """Per case of group ``distributed``: times of 2 workers / 1 worker / in process, speed-up,
    per-task time and Dask's cost per task."""
    out = []
    for case, impls in doc["cases"].items():
        two, one, ip = impls.get("hiddenconvex"), impls.get("1 worker"), impls.get("in process")
        if not (two and one):
            continue
        # Dask tasks of the 1-worker run (a bundle of path segments is one) when recorded
        tasks = int(one.get("dask_tasks") or one.get("tasks", 1))
        # CPU seconds (one thread: the wall time on an idle core) when recorded: on a loaded
        # machine they measure the work where wall times measure the contention. Without an
        # in-process row the 1-worker row gives the per-task time (Dask's cost included).
        key = "cpu_s" if "cpu_s" in one and (ip is None or "cpu_s" in ip) else "median_s"
        t_task = (ip or one)[key] / tasks
        cost = (one[key] - ip[key]) / tasks if ip is not None else None
        # the part of it inside the tasks (work threads of the worker) when recorded
        inside = (
            (one["work_cpu_s"] - ip["cpu_s"]) / tasks
            if ip is not None and "work_cpu_s" in one and "cpu_s" in ip
            else None
        )
        # Dask's overhead from the workers' own task records (task stream): the time between a
        # worker's first task start and last task end not spent computing, over the compute
        # time (per worker, summed), in the 1- and 2-worker runs; the largest of the two is the
        # overhead per task of the projection (a fraction of a task's time)
        stream = [e["task_overhead"] for e in (one, two) if "task_overhead" in e]
        overhead = max(stream) if stream else None
        out.append(dict(case=case, two=two, one=one, ip=ip, tasks1=tasks,
                        tasks2=int(two.get("dask_tasks") or two.get("tasks", 1)),
                        t_task=t_task, cost=cost,
                        inside=inside, overhead=overhead,
                        stream_cost=None if overhead is None else overhead * t_task,
                        speedup=one["median_s"] / two["median_s"]))  # fmt: skip
    return out


def _wave_wall(
    tasks: int, workers: int, t_task: float, cost: float | None, serial: float = 0.0
) -> float:
    return serial + -(-tasks // workers) * (t_task + max(cost or 0.0, 0.0))


def distributed_projection(results: Path) -> str | None:
    """Measured speed-ups and the projected wall times on 8, 64 and 512 workers."""
    path = results / "distributed.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    rows = _scaling_inputs(doc)
    lines = [
        "| case | 2 workers | 1 worker | in process | speed-up 2 vs 1 | tasks (1 / 2 workers) "
        "| per task (CPU, in process) | Dask's overhead per task (task stream, 1 / 2 workers) "
        "| workers idle before their first / after their last task (1 / 2 workers) "
        "| CPU difference per task (1 worker − in process) | of which inside the task "
        "| load (1-min avg) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        stream_txt = " / ".join(
            f"{100 * e['task_overhead']:.2f}%" if "task_overhead" in e else "–"
            for e in (r["one"], r["two"])
        )
        idle_txt = " / ".join(
            f"{100 * e['task_idle']:.1f}%" if "task_idle" in e else "–"
            for e in (r["one"], r["two"])
        )
        inside_txt = "–"
        if r["cost"] is None:
            cost_txt, ip_txt = "–", "–"
        else:
            pct = 100 * r["cost"] / r["t_task"] if r["t_task"] > 0 else float("nan")
            cost_txt = f"{fmt_time(max(r['cost'], 0.0))} ({pct:+.1f}%)"
            ip_txt = fmt_time(r["ip"]["median_s"])
            if r["inside"] is not None and r["t_task"] > 0:
                inside_txt = (
                    f"{fmt_time(max(r['inside'], 0.0))} ({100 * r['inside'] / r['t_task']:+.1f}%)"
                )
        rows_loads = [e for e in (r["two"], r["one"], r["ip"]) if e]
        lines.append(
            f"| {r['case']} | {fmt_time(r['two']['median_s'])} | {fmt_time(r['one']['median_s'])} "
            f"| {ip_txt} | **{r['speedup']:.2f}×** | {r['tasks1']} / {r['tasks2']} | "
            f"{fmt_time(r['t_task'])} | {stream_txt} | {idle_txt} | {cost_txt} | {inside_txt} "
            f"| {_loads(*rows_loads)} |"
        )
    measured = "\n".join(lines)
    proj = [
        "| work | tasks on W workers | per task | "
        + " | ".join(f"{w} workers" for w in WORKERS)
        + " |",
        "|---|---|---|" + "---|" * len(WORKERS),
    ]
    # Dask's cost per task for the chamber parts: the smallest measured (each is an upper bound:
    # a worker's periodic work lasts as long as the wall time, which load stretches)
    for r in rows:
        # the task stream's overhead when recorded (the CPU difference is noise-dominated)
        if r["stream_cost"] is not None:
            r["cost"] = r["stream_cost"]
    costs = [
        r["cost"] for r in rows if r["cost"] is not None and not r["case"].startswith("control")
    ]
    cost_mid = max(0.0, min(costs)) if costs else None
    for r in rows:
        if r["case"].startswith("path of"):
            nb = int(r["case"].split()[2])
            seg = int(r["one"].get("segment", 1))
            segs = int(r["one"].get("segments", -(-nb // seg)))
            # per segment: the in-process time over the segments (bundled on a cluster into
            # fewer Dask tasks, so ⌈segments / W⌉ waves with Dask's cost each is an upper bound)
            t = r["t_task"] * r["tasks1"] / segs
            for betas, s in ((nb, seg), (512, 4)):  # distributed.default_segment(512) = 4
                tasks = -(-betas // s)
                ts = t * s / seg
                walls = [_wave_wall(tasks, w, ts, r["cost"]) for w in WORKERS]
                proj.append(
                    f"| path of {betas} β (ConvexReLU, as measured; segments of {s}) | "
                    f"{tasks} | {fmt_time(ts)} | " + " | ".join(_fmt_wall(x) for x in walls) + " |"
                )
        elif r["case"].startswith("midpoint") and "pairs" in r["one"]:
            per_pair = r["t_task"] * r["tasks1"] / r["one"]["pairs"]
            # hiddenconvex.distributed.midpoint_min_pairs: parts of >= part_seconds of CPU
            if "part_seconds" in r["one"]:
                minimum = max(1, math.ceil(float(r["one"]["part_seconds"]) / per_pair))
            else:
                minimum = int(r["one"].get("min_part_pairs", 1))
            per_thread = int(r["one"].get("parts_per_thread", 4))

            for n in (10**8, 10**9):
                cells, counts = [], []
                for w in WORKERS:
                    # hiddenconvex.distributed.partition: equal ranges of >= minimum pairs
                    tasks = max(1, min(per_thread * w, n // max(1, minimum)))
                    size = n / tasks
                    counts.append(str(tasks))
                    cells.append(_fmt_wall(_wave_wall(tasks, w, size * per_pair, r["cost"])))
                label = r["case"].split(", ")[1].replace(" (large)", "")
                proj.append(
                    f"| midpoint test, {label}, 10^{len(str(n)) - 1} pairs | "
                    f"{' / '.join(counts)} | {per_pair * 1e6:.3g} µs per pair | "
                    + " | ".join(cells)
                    + " |"
                )
    scale = results / "distributed_scale.json"
    notes = []
    if scale.exists():
        sdoc = json.loads(scale.read_text())
        samples = [impls["hiddenconvex"] for impls in sdoc["cases"].values()
                   if "hiddenconvex" in impls and "_parts_estimate" in impls["hiddenconvex"]]  # fmt: skip
        by_total: dict[int, list[dict]] = {}
        for e in samples:
            by_total.setdefault(int(e["chambers_total"]), []).append(e)
        for total, es in sorted(by_total.items()):
            k = len(es)
            parts = sum(e["_parts_estimate"] for e in es) / k
            enum = sum(e.get("part_cpu_s", e["median_s"]) * e["_parts_estimate"] for e in es) / k
            plan = sum(e["_plan_estimate_cpu_s"] for e in es) / k
            t_part = enum / parts
            c = cost_mid or 0.0
            d = es[0].get("dim")
            name = f"R^{d} resonance" if d else f"arrangement of {total:,} chambers"
            walls = [_wave_wall(round(parts), w, t_part, c) for w in WORKERS]
            proj.append(
                f"| {name} ({total:,} chambers): enumeration of the parts | ≈ {parts:,.0f} | "
                f"{fmt_time(t_part)} | " + " | ".join(_fmt_wall(x) for x in walls) + " |"
            )
            proj.append(
                f"| {name}: + the plan, serial in the caller | 1 | {_fmt_wall(plan)} | "
                + " | ".join(_fmt_wall(plan + x) for x in walls)
                + " |"
            )
            per_chamber = [
                1e6 * e.get("part_cpu_s", e["median_s"]) / e["part_chambers"] for e in es
            ]
            notes.append(
                f"{name}: {k} sampled part(s) of the default budget {es[0]['budget']:,} "
                f"({', '.join(format(e['part_chambers'], ',') for e in es)} chambers at depths "
                f"{', '.join(str(e['depth']) for e in es)}; "
                f"{', '.join(f'{v:.0f}' for v in per_chamber)} µs per chamber; load "
                f"{_loads(*es)}); estimates: {parts:,.0f} parts, {enum:,.0f} CPU-s of enumeration, "
                f"{plan:,.0f} CPU-s of plan"
                + (
                    # the splits of the stored descents (benches/resonance_parts.py)
                    f" (split times measured under load {', '.join(sorted({e['split_load'] for e in es}))})"
                    if all(e.get("split_load") not in (None, "None–None") for e in es)
                    else ""
                )
                + (
                    f" (the whole plan, made as a check: {es[0]['exact_parts']:,} parts, "
                    f"{es[0]['exact_plan_cpu_s']:,.1f} CPU-s)"
                    if "exact_parts" in es[0]
                    else ""
                )
            )
    body = (
        measured
        + "\n\nDask's overhead per task (task stream): per worker, the time between its first "
        "task's start and its last task's end during which it computed no task (the round trip "
        "to the scheduler between two tasks, the inputs' transfer and deserialisation), summed "
        "over the workers, over their summed compute time, from the workers' own per-task "
        "records (`distributed.get_task_stream`); the idle column is the run's start-up and "
        "end imbalance on the same scale. The CPU difference compares CPU seconds across "
        "processes and is noise-dominated (see the control row).\n\n"
        "Projected wall time = serial part + ⌈tasks / W⌉ × (per-task time + Dask's cost "
        "per task), W idle workers of 1 thread, from the CPU seconds above (one thread's CPU "
        "seconds = its wall time on an idle core; Dask's cost per task: the task stream's "
        "overhead (the larger of the 1- and 2-worker runs) × the per-task time when recorded; "
        "midpoint tests: the default partition on W workers; chamber parts: the smallest "
        "Dask's cost per task of the measured cases):\n\n"
        + "\n".join(proj)
        + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
        + f"\n\n_Measured {doc['updated']} on {doc['machine']['cpus']} CPUs._"
    )
    return body


DERIVED = {"distributed-projection": distributed_projection}


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
        shown, notes = fresh(doc)
        body = GROUP_TABLES.get(g, table)(shown)
        if notes:
            body += "\n\n" + peers_note(notes)
        for page in hits:
            pages[page] = pat.sub(
                lambda m, body=body: m.group(1) + body + "\n" + m.group(2), pages[page]
            )
            changed.add(page)
    for name, fn in DERIVED.items():
        body = fn(ROOT / "benches" / "results")
        pat = re.compile(
            rf"(<!-- bench:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /bench:{re.escape(name)} -->)",
            re.S,
        )
        for page, text in pages.items():
            if body is not None and pat.search(text):
                pages[page] = pat.sub(
                    lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text
                )
                changed.add(page)
    for page in sorted(changed):
        page.write_text(pages[page], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
