"""Certificates on the hard small-data cases of the exact-pattern ReLU program.

Runs ``ConvexReLU(beta, loss=..., bias=...)`` (``solver="auto"``, default ``tol``, all exact
chambers) on seeded Gaussian data — y Gaussian for the squared loss, its sign for the logistic
loss, as in ``tests/test_convex_grid.py`` — and records per case the wall time, ``certified``,
the relative gap (network − dual) / |network|, the solver chain and the number of patterns.
Every case runs in a subprocess of its own with a wall-clock cap (``--timeout``), so a case
that stalls is recorded as such instead of holding up the rest.

Groups (``--group``):

* ``logistic4``: logistic loss, d = 3 with bias (4 columns, ~8,000 patterns), n = 30,
  β ∈ {1e-4, 1e-3}, seeds 0 … 3;
* ``squared4``: squared loss, d = 3 with bias, n = 30, β ∈ {1e-4, 1e-3}, seeds 0 … 2;
* ``logistic60``: logistic loss, n = 60, d = 3 without bias (~6,900 patterns),
  β ∈ {6e-4, 1e-3}, seeds 0 and 1.

Usage::

    python benches/certify_cases.py --group logistic4 --timeout 300 --out results.json

Writes one JSON object per case (one line each) to ``--out`` (appending) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

GROUPS = {
    "logistic4": [("logistic", 30, 3, True, b, s) for s in range(4) for b in (1e-4, 1e-3)],
    "squared4": [("squared", 30, 3, True, b, s) for s in range(3) for b in (1e-4, 1e-3)],
    "logistic60": [("logistic", 60, 3, False, b, s) for s in range(2) for b in (6e-4, 1e-3)],
}


def run_one(loss: str, n: int, d: int, bias: bool, beta: float, seed: int) -> dict:
    import warnings

    import hiddenconvex as hc
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    if loss in ("logistic", "hinge"):
        y = np.where(y > 0, 1.0, -1.0)
    t0 = time.perf_counter()
    m = hc.ConvexReLU(beta, loss=loss, bias=bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X, y)
    secs = time.perf_counter() - t0
    r = m.result_
    net, dual = r.network_objective, r.dual_objective
    return {
        "loss": loss,
        "n": n,
        "d": d,
        "bias": bias,
        "beta": beta,
        "seed": seed,
        "secs": secs,
        "certified": bool(r.certified),
        "rel_gap": (net - dual) / max(abs(net), 1e-20),
        "objective": net,
        "dual": dual,
        "solver": str(getattr(r, "solver", "")),
        "patterns": int(m.patterns_.shape[0]),
        "n_active": int(m.n_active_),
        "reason": str(getattr(r, "reason", "") or ""),
        "log_tail": [str(line) for line in list(getattr(r, "log", []) or [])[-4:]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", choices=sorted(GROUPS), action="append")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None, help="comma-separated case indices of the group")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one is not None:
        loss, n, d, bias, beta, seed = json.loads(a.one)
        print(json.dumps(run_one(loss, n, d, bias, beta, seed)))
        return
    print(f"# uptime: {os.popen('uptime').read().strip()}")
    for g in a.group or sorted(GROUPS):
        cases = GROUPS[g]
        if a.only:
            keep = {int(i) for i in a.only.split(",")}
            cases = [c for i, c in enumerate(cases) if i in keep]
        for case in cases:
            t0 = time.perf_counter()
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(case)],
                    capture_output=True,
                    text=True,
                    timeout=a.timeout,
                )
                row = json.loads(out.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                loss, n, d, bias, beta, seed = case
                row = dict(loss=loss, n=n, d=d, bias=bias, beta=beta, seed=seed)
                row.update(secs=time.perf_counter() - t0, certified=None, timeout=True)
            row["group"] = g
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
            gap = row.get("rel_gap")
            print(
                f"{g:10s} {row['loss']:8s} n={row['n']:<4d} d={row['d']} bias={row['bias']!s:5s} "
                f"beta={row['beta']:<7g} seed={row['seed']} {row['secs']:8.1f} s "
                f"certified={row['certified']} gap={'-' if gap is None else f'{gap:.2e}'} "
                f"{row.get('solver', 'timeout')}",
                flush=True,
            )


if __name__ == "__main__":
    main()
