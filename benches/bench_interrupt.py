"""Ctrl-C latency of every long operation at (or near) its largest accepted size.

Each trial runs the operation in a child interpreter (``tests/_interrupt.py``: the benchmark process
itself never receives a signal), sends the child SIGINT after a delay and measures the time from
the signal to the ``KeyboardInterrupt`` reaching Python. The :data:`TRIALS` delays per case are
spread over 0.03–3 s with a fixed per-case jitter (:func:`_delays`), so the signal lands in
different phases (input copy, preparation, deduplication, enumeration, set-up, solver
iterations) and at different points within them. Recorded per operation: the median and the
largest latency over the trials that were interrupted (a call that finished before its signal
does not count), how many were, and every latency. The setup (building the data) runs before the
timer starts and is not measured.

Run: ``python -m pytest benches/bench_interrupt.py --benchmark-enable -p no:cacheprovider``
(about 15 min on 2 cores), or one row group at a time, each ≤ ~5 min:
``HC_INTERRUPT_GROUP=convex`` (or ``chambers``, ``objectives``, ``adapters``; comma-separated);
then ``python benches/tables.py`` (table in ``docs/bad-input.md``). ``HC_INTERRUPT_CASES=key1,key2``
(substrings of the case names) selects cases. In the test suite (benchmarks disabled) one small
case runs once as a smoke test and nothing is written. Where a latency goes:
``benches/interrupt_gaps.py``.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _interrupt import run_interrupted  # noqa: E402

GROUP = "interrupt"

#: 10⁶ × 50 rows on 6 lines (positive multiples of 6 random rows): the largest exact chamber
#: problem accepted at this width; the work is the copy, the preparation and the deduplication.
_BIG = """
rng = np.random.default_rng(0)
B = rng.standard_normal((6, 50))
X = B[rng.integers(6, size=10**6)] * rng.uniform(0.5, 2.0, size=(10**6, 1))
"""

_SMALL = """
import itertools
X = np.random.default_rng(1).standard_normal((400, 7))
R7 = np.array([v for v in itertools.product((0, 1), repeat=7) if any(v)], float)
"""

_MLP = """
rng = np.random.default_rng(2)
Xm = rng.standard_normal((2000, 20))
ym = np.tanh(Xm @ rng.standard_normal(20))
obj = hc.MLP(Xm, ym, hidden=(50, 50), activation="tanh")
theta = obj.init(seed=0)
"""

_SPEC = """
rng = np.random.default_rng(17)
Xs = rng.standard_normal((200, 20))
ys = np.tanh(Xs @ rng.standard_normal(20) / np.sqrt(20))
obj = hc.MLP(Xs, ys, hidden=(300, 300), activation="tanh", weight_decay=1e-4)
theta = obj.init(seed=0)
"""

_RELU = """
rng = np.random.default_rng(15)
Xr = rng.standard_normal((200, 10))
yr = np.maximum(Xr @ rng.standard_normal(10), 0) + 0.1 * rng.standard_normal(200)
"""

_NEWTON = """
rng = np.random.default_rng(22)
Xn = rng.standard_normal((2500, 8))
yn = np.maximum(Xn @ rng.standard_normal(8), 0) + 0.1 * rng.standard_normal(2500)
"""

_TRAIN = """
rng = np.random.default_rng(3)
Xt = rng.standard_normal((10**5, 50))
yt = np.maximum(Xt @ rng.standard_normal(50), 0)
"""

_WEDGE = """
rng = np.random.default_rng(4)
Xw = rng.standard_normal((2000, 10))
yw = Xw[:, 0] * Xw[:, 1] + 0.1 * rng.standard_normal(2000)
"""

_CONSTRUCT = """
rng = np.random.default_rng(5)
Xc = rng.standard_normal((10**6, 50))
yc = rng.standard_normal(10**6)
"""

#: A torch MLP 20 → 50 → 50 → 1 (tanh, n = 2000, D = 3,651, the native MLP's size): the
#: adapter's vmapped calls are Python code, interrupted between sub-batches.
_TORCH = """
import torch
from torch import nn
torch.manual_seed(0)
rng = np.random.default_rng(6)
Xa = rng.standard_normal((2000, 20))
ya = np.tanh(Xa @ rng.standard_normal(20))[:, None]
model = nn.Sequential(nn.Linear(20, 50), nn.Tanh(), nn.Linear(50, 50), nn.Tanh(),
                      nn.Linear(50, 1)).double()
tobj = hc.from_torch(model, nn.MSELoss(), Xa, ya)
ttheta = tobj.theta0
"""

_JAX = """
import jax, jax.numpy as jnp
rng = np.random.default_rng(7)
Xj = rng.standard_normal((2000, 20))
yj = np.tanh(Xj @ rng.standard_normal(20))
def loss(p, X, y):
    h = jnp.tanh(X @ p["w1"] + p["b1"])
    h = jnp.tanh(h @ p["w2"] + p["b2"])
    return jnp.mean((h @ p["w3"] - y) ** 2)
params = {"w1": rng.standard_normal((20, 100)) / 5, "b1": np.zeros(100),
          "w2": rng.standard_normal((100, 100)) / 10, "b2": np.zeros(100),
          "w3": rng.standard_normal(100) / 10}
jobj = hc.from_jax(loss, params, Xj, yj)
"""

#: 1000 × 20 Gaussian data, the regime of the interior-point method on a large working set
#: (1000 sampled patterns: the n × n Woodbury matrix and its Cholesky factor every iteration).
#: The ReLU fit spends its first seconds computing β_max (one cone NNLS per block); the gated
#: fit with ``solver="ipm"`` is in the interior-point iterations within a second.
_IPM = """
rng = np.random.default_rng(8)
Xi = rng.standard_normal((1000, 20))
yi = np.maximum(Xi @ rng.standard_normal(20), 0) + 0.1 * rng.standard_normal(1000)
"""

#: Exact patterns (1,562 chambers) on 40 × 3 data at β = 1e-4, fitted again and again: most of
#: each fit (~0.15 s) is Clarabel's conic working-set rounds (``result_.timings["conic_s"]``),
#: whose KKT factorisations are the long uninterruptible pieces; the loop keeps the call running
#: across the delays, so the signal lands inside a fit.
_CONIC = """
rng = np.random.default_rng(9)
Xe = rng.standard_normal((40, 3))
ye = np.maximum(Xe @ rng.standard_normal(3), 0) + 0.1 * rng.standard_normal(40)
"""

#: A JAX MLP 20 → 4 × 100 (tanh) → 1, n = 2000, D = 32,500: the spectrum's first gradient call
#: traces the vmapped gradient and XLA compiles it (seconds, in C++; on a worker thread so the
#: signal is seen, see ``JaxObjective._executable``).
_JAXC = """
import jax, jax.numpy as jnp
rng = np.random.default_rng(10)
Xk = rng.standard_normal((2000, 20))
yk = np.tanh(Xk @ rng.standard_normal(20))
def deep_loss(p, X, y):
    h = X
    for layer in p[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return jnp.mean((h @ p[-1]["w"] - y) ** 2)
dims = [20, 100, 100, 100, 100]
kparams = [{"w": rng.standard_normal((a, b)) / np.sqrt(a), "b": np.zeros(b)}
           for a, b in zip(dims[:-1], dims[1:])] + [{"w": rng.standard_normal(100) / 10}]
kobj = hc.from_jax(deep_loss, kparams, Xk, yk)
"""

#: name -> (setup, call). "(convex)" rows are the convex solvers (rust/core/src/convex/).
CASES: dict[str, tuple[str, str]] = {
    "chambers exact, 10⁶ × 50 (6 lines)": (
        _BIG,
        'hc.chambers(X, method="exact", memory_limit=2**62)',
    ),
    "chamber_count, 10⁶ × 50 (6 lines)": (_BIG, "hc.chamber_count(X, max_chambers=2**62)"),
    "chambers sample, 10⁶ × 50": (
        _BIG,
        'hc.chambers(X, method="sample", n_samples=10**9, seed=0, memory_limit=2**62)',
    ),
    "chambers exact, 400 × 7, memory_limit lifted": (
        _SMALL,
        'hc.chambers(X, method="exact", memory_limit=2**62)',
    ),
    "chamber_count, 400 × 7, max_chambers lifted": (
        _SMALL,
        "hc.chamber_count(X, max_chambers=2**62)",
    ),
    "iter_chambers, 400 × 7, one chunk, limits lifted": (
        _SMALL,
        "next(hc.iter_chambers(X, chunk=10**8, memory_limit=2**62, max_chambers=2**62))",
    ),
    "iter_chambers, resonance R⁷": (
        _SMALL,
        "for _ in hc.iter_chambers(R7, chunk=10**5, memory_limit=2**28):\n    pass",
    ),
    "hessian, MLP D = 3,651, n = 2000": (_MLP, "hc.hessian(obj, theta)"),
    "midpoint_test, MLP D = 3,651, 10⁶ pairs": (
        _MLP,
        "hc.midpoint_test(obj, n_pairs=10**6, seed=0, center=theta, keep_arrays=False)",
    ),
    "slice_2d, MLP D = 3,651, grid 2000": (
        _MLP,
        "hc.slice_2d(obj, theta, theta * 0 + 1, np.roll(theta * 0 + 1, 1), grid=2000)",
    ),
    "eigenvalues, MLP D = 96,901": (
        _SPEC,
        'hc.eigenvalues(obj, theta, k=3, which="smallest", tol=1e-12, max_restarts=10**4)',
    ),
    "spectral_density, MLP D = 96,901": (
        _SPEC,
        "hc.spectral_density(obj, theta, n_probes=256, n_steps=400, seed=0)",
    ),
    "train_relu_network, 10⁵ × 50, m = 1000": (
        _TRAIN,
        "hc.train_relu_network(Xt, yt, 1000, 1e-3, epochs=10**6, seed=0)",
    ),
    "WedgeLasso, 2000 × 10, 2000 sampled features": (
        _WEDGE,
        'hc.WedgeLasso(1e-4, features="sample", n_features=2000, seed=0, tol=1e-14, '
        "max_iter=10**7).fit(Xw, yw)",
    ),
    "ConvexReLU FISTA, 200 × 10, 400 patterns (convex)": (
        _RELU,
        'hc.ConvexReLU(1e-4, patterns="sample", n_patterns=400, seed=0, tol=1e-14, '
        'solver="fista", max_iter=10**7).fit(Xr, yr)',
    ),
    "MLP objective from X 10⁶ × 50 (construction)": (
        _CONSTRUCT,
        'hc.MLP(Xc, yc, hidden=(8,), activation="tanh")',
    ),
    "hessian, torch MLP D = 3,651, n = 2000 (adapter)": (_TORCH, "hc.hessian(tobj, ttheta)"),
    "eigenvalues, torch MLP D = 3,651, n = 2000 (adapter)": (
        _TORCH,
        'hc.eigenvalues(tobj, ttheta, k=3, which="smallest", tol=1e-12, max_restarts=10**4)',
    ),
    "midpoint_test, jax MLP D = 12,301 (adapter)": (
        _JAX,
        "hc.midpoint_test(jobj, n_pairs=10**6, seed=0, center=jobj.theta0, keep_arrays=False)",
    ),
    "ConvexReLU regularization_path, 200 × 10, 400 patterns (convex)": (
        _RELU,
        'hc.ConvexReLU(1e-4, patterns="sample", n_patterns=400, seed=0, tol=1e-14, '
        'solver="fista", max_iter=10**7).regularization_path(Xr, yr, [1e-2, 1e-3, 1e-4])',
    ),
    "ConvexReLU interior point, 1000 × 20, 1000 patterns (convex)": (
        _IPM,
        'hc.ConvexReLU(0.01 * 1000, patterns="sample", n_patterns=1000, seed=0).fit(Xi, yi)',
    ),
    "ConvexGatedReLU interior point, 1000 × 20, 1000 patterns (convex)": (
        _IPM,
        'hc.ConvexGatedReLU(0.01 * 1000, patterns="sample", n_patterns=1000, seed=0, '
        'solver="ipm").fit(Xi, yi)',
    ),
    "ConvexReLU FISTA, 1000 × 20, 1000 patterns (convex)": (
        _IPM,
        'hc.ConvexReLU(0.01 * 1000, patterns="sample", n_patterns=1000, seed=0, tol=1e-14, '
        'solver="fista", max_iter=10**7).fit(Xi, yi)',
    ),
    "ConvexReLU exact, 40 × 3, β = 1e-4, repeated: conic rounds (convex)": (
        _CONIC,
        '[hc.ConvexReLU(1e-4, patterns="exact").fit(Xe, ye) for _ in range(10**3)]',
    ),
    "eigenvalues, jax MLP D = 32,500, first call: XLA compile (adapter)": (
        _JAXC,
        'hc.eigenvalues(kobj, kobj.theta0, k=3, which="smallest", tol=1e-12, max_restarts=10**4)',
    ),
    "ConvexGatedReLU Newton, 2500 × 8, 600 patterns (convex)": (
        _NEWTON,
        'hc.ConvexGatedReLU(1e-3, patterns="sample", n_patterns=600, seed=0, '
        'solver="newton", tol=1e-14, max_iter=10**6).fit(Xn, yn)',
    ),
}

#: Trials per case (one child process each).
TRIALS = 10

#: Row groups (``HC_INTERRUPT_GROUP``), each ≤ ~5 min on 2 cores: a case's group is the first
#: whose key is in its name, else "objectives".
GROUPS = {"convex": "(convex)", "adapters": "(adapter)", "chambers": "chamber"}


def _group(case: str) -> str:
    return next((g for g, key in GROUPS.items() if key in case), "objectives")


def _delays(case: str, n: int = TRIALS) -> list[float]:
    """Seconds after the setup at which the signal is sent, one trial each: ``n`` points spread
    geometrically over 0.03–3 s, each moved by a fixed pseudo-random factor in [0.8, 1.25)
    drawn from the case's name, so the signal lands in every phase (early set-up to late
    iterations) and at different offsets within a phase's repeated pieces — yet the same
    delays on every run."""
    rng = random.Random(zlib.crc32(case.encode()))
    lo, hi = math.log(0.03), math.log(3.0)
    return [
        round(math.exp(lo + (hi - lo) * i / (n - 1)) * rng.uniform(0.8, 1.25), 4) for i in range(n)
    ]


def _selected() -> list[str]:
    out = sorted(CASES)
    want = os.environ.get("HC_INTERRUPT_CASES")
    if want:
        keys = [w.strip() for w in want.split(",") if w.strip()]
        out = [c for c in out if any(k in c for k in keys)]
    groups = os.environ.get("HC_INTERRUPT_GROUP")
    if groups:
        gs = {g.strip() for g in groups.split(",")}
        out = [c for c in out if _group(c) in gs]
    return out


@pytest.mark.parametrize("case", _selected())
def test_interrupt_latency(case, smoke, record):
    setup, call = CASES[case]
    if smoke:
        if case != "chambers exact, 400 × 7, memory_limit lifted":
            pytest.skip("one case in the test suite")
        res = run_interrupted(setup, call, delay=0.2)
        assert res["outcome"] == "interrupted"
        return
    delays = _delays(case)
    lat, outcomes = [], []
    for delay in delays:
        res = run_interrupted(setup, call, delay=delay)
        outcomes.append(res["outcome"])
        if res["outcome"] == "interrupted" and math.isfinite(res["latency"]):
            lat.append(res["latency"])
    assert lat, f"{case}: never interrupted ({outcomes})"
    record(
        group=GROUP,
        case=case,
        impl="hiddenconvex",
        median_s=statistics.median(lat),
        min_s=min(lat),
        rounds=len(lat),
        max_latency=f"{max(lat) * 1e3:.0f} ms",
        interrupted=f"{len(lat)}/{len(delays)}",
        latencies_ms=[round(x * 1e3, 1) for x in lat],
        row_group=_group(case),
    )
