"""Distributed runs on a real Dask cluster started by the test suite itself.

Oracle: the same call without ``client`` (single process). A ``LocalCluster`` of two worker
processes with one thread each runs the midpoint tests (ranges of the pair index), the
regularisation paths (β segments), the comparison batches, the real-data suite and the chamber
parts; the results must equal the single-process ones exactly. Fault tests SIGKILL a worker
process (never the test process) while a run is in flight: Dask re-runs the lost tasks on the
restarted worker and the result is still identical. Every wait has a timeout
(``hiddenconvex.distributed.TASK_TIMEOUT``), so nothing can hang.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import textwrap

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex import distributed as hcd
from hiddenconvex.midpoint import MidpointReport

distributed = pytest.importorskip("distributed")

TIMEOUT = 600  # seconds, per task result: generous for a loaded 2-core machine, never infinite


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        worker_dashboard_address=":0",
    )
    cl = distributed.Client(cluster, timeout=120)
    old = hcd.TASK_TIMEOUT
    hcd.TASK_TIMEOUT = TIMEOUT
    try:
        yield cl
    finally:
        hcd.TASK_TIMEOUT = old
        cl.close(timeout=60)
        cluster.close(timeout=60)


@pytest.fixture
def small_parts(monkeypatch):
    """Midpoint parts sized without the pilot (no minimum CPU time per part): small tests still
    split into ``PARTS_PER_THREAD`` parts per worker thread."""
    monkeypatch.setattr(hcd, "MIDPOINT_PART_SECONDS", 0.0)


RNG = np.random.default_rng(21)
X = RNG.standard_normal((30, 3))
Y = X[:, 0] ** 2 - X[:, 1]
NET = hc.MLP(X, Y, [4], activation="tanh")


def assert_same_report(a: MidpointReport, b: MidpointReport) -> None:
    for f in dataclasses.fields(MidpointReport):
        if f.name in ("elapsed_s", "threads"):
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and va.shape == vb.shape, f.name
            np.testing.assert_array_equal(va, vb, err_msg=f.name)
        elif f.name == "witness":
            assert (va is None) == (vb is None)
            if va is not None:
                for g in dataclasses.fields(va):
                    x, z = getattr(va, g.name), getattr(vb, g.name)
                    if isinstance(x, np.ndarray):
                        np.testing.assert_array_equal(x, z, err_msg=g.name)
                    else:
                        assert x == z, g.name
        else:
            assert repr(va) == repr(vb), f.name  # repr: NaN-safe, exact for floats


# ---- plumbing --------------------------------------------------------------------------------
def test_workers_are_capped_at_their_thread_count(client) -> None:
    hcd.check_client(client)
    caps = client.run(
        lambda: (
            os.environ.get("HIDDENCONVEX_NUM_THREADS"),
            __import__("hiddenconvex").thread_count(),
        )
    )
    assert len(caps) == 2
    assert all(v == ("1", 1) for v in caps.values()), caps


def test_a_client_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(hc.InvalidTypeError, match="client"):
        hc.midpoint_test(NET, n_pairs=10, seed=0, client="tcp://127.0.0.1:1")


def test_run_tasks_keeps_order_and_reraises_task_errors(client) -> None:
    got = hcd.run_tasks(client, divmod, [(i, 3) for i in range(10)])
    assert got == [divmod(i, 3) for i in range(10)]
    with pytest.raises(ZeroDivisionError):
        hcd.run_tasks(client, divmod, [(1, 1), (1, 0)])
    with pytest.raises(hc.InvalidInputError, match="permutation"):
        hcd.run_tasks(client, divmod, [(1, 1), (1, 2)], first=[0, 0])


def test_run_tasks_bundles_short_tasks_by_factoring(client) -> None:
    # 16 equal tasks on 2 threads: each submission takes at most remaining / (2 × 2) tasks in
    # the order ``first`` — 4, 3, 2, then 7 single tasks — whatever the timing; the results are
    # the tasks'
    tasks = [(i, 3) for i in range(16)]
    order = list(range(15, -1, -1))
    seen: list[tuple[int, int]] = []
    with distributed.get_task_stream(client=client) as ts:
        got = hcd.run_tasks(
            client,
            divmod,
            tasks,
            first=order,
            bundle=True,
            progress=lambda d, t: seen.append((d, t)),
        )
    assert got == [divmod(i, 3) for i in range(16)]
    names = [t["key"].split("-", 1)[0] for t in ts.data if isinstance(t["key"], str)]
    assert sorted(names) == ["divmod"] * 7 + ["divmod_bundle"] * 3, names
    assert seen[-1] == (16, 16) and all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))
    # the local run ignores bundling and gives the same list
    assert hcd.run_tasks(None, divmod, tasks, first=order, bundle=True) == got


def test_run_tasks_bundles_by_the_predicted_cost(client) -> None:
    # predicted costs 12, 1 × 12 on 2 threads: the first task holds half the work and goes
    # alone; the cheap ones are bundled while their share of what is left allows it (at most
    # (12 - done) / 4 each), the last ones go alone
    n = 13
    cost = [12.0] + [1.0] * 12
    with distributed.get_task_stream(client=client) as ts:
        got = hcd.run_tasks(client, abs, [(i,) for i in range(n)], bundle=True, cost=cost)
    assert got == list(range(n))
    keys = [str(t["key"]) for t in ts.data]
    # 12 of 24 → the first alone; then 3 (12/4), 2 (9/4), 1 × 7
    assert sum(k.startswith("abs-") for k in keys) == 8, keys
    assert sum(k.startswith("abs_bundle-") for k in keys) == 2, keys
    with pytest.raises(hc.InvalidInputError, match="cost"):
        hcd.run_tasks(client, abs, [(1,), (2,)], bundle=True, cost=[1.0])
    with pytest.raises(hc.InvalidInputError, match="cost"):
        hcd.run_tasks(client, abs, [(1,), (2,)], bundle=True, cost=[1.0, float("nan")])


def test_beta_costs_rank_the_path_from_its_largest_beta() -> None:
    assert hcd.beta_costs([10.0, 5.0, 1.0, 0.5]) == [1.0, 2.0, 3.0, 4.0]
    assert hcd.beta_costs([0.5, 10.0, 0.5, 1.0]) == [3.0, 1.0, 3.0, 2.0]  # ties: same rank
    betas = [4.0, 3.0, 2.0, 1.0]
    assert [hcd.segment_cost(c, betas) for c in ([4.0, 3.0], [2.0, 1.0])] == [3.0, 7.0]
    # 16 β in segments of 2 on 2 threads: no two segments together fit in the share of what
    # is left at their turn, so none is bundled (each goes to the next free worker, the
    # costliest first)
    bs = list(np.geomspace(10.0, 0.05, 16))
    chunks = [bs[a:b] for a, b in hcd.path_segments(16, 2)]
    cost = [hcd.segment_cost(c, bs) for c in chunks]
    order = hcd._costliest_first(chunks)
    assert order == list(range(7, -1, -1))
    left = sum(cost)
    for i, j in zip(order, order[1:], strict=False):
        assert cost[i] + cost[j] > left / (hcd.BUNDLE_FACTOR * 2)
        left -= cost[i]


def test_default_segment_makes_at_least_eight_segments_of_at_most_four() -> None:
    got = {n: hcd.default_segment(n) for n in (1, 8, 15, 16, 24, 31, 32, 100)}
    assert got == {1: 1, 8: 1, 15: 1, 16: 2, 24: 3, 31: 3, 32: 4, 100: 4}
    for n in range(1, 80):
        k = len(hcd.path_segments(n, hcd.default_segment(n)))
        assert k >= min(n, hcd.PATH_MIN_SEGMENTS) and hcd.default_segment(n) <= hcd.PATH_SEGMENT


def _started_at(i: int) -> tuple[int, float]:
    import time

    t = time.time()
    time.sleep(0.3)
    return i, t


def test_run_tasks_starts_the_tasks_in_the_order_first(client) -> None:
    order = [5, 4, 3, 2, 1, 0]
    got = hcd.run_tasks(client, _started_at, [(i,) for i in range(6)], first=order)
    assert [g[0] for g in got] == list(range(6))  # results in task order
    start = {i: t for i, t in got}
    assert start[5] < start[0] and start[4] < start[1]  # started in the order given
    # locally the tasks run in task order
    assert [g[0] for g in hcd.run_tasks(None, _started_at, [(0,), (1,)], first=[1, 0])] == [0, 1]


def _ran_on(i: int, *, data: np.ndarray) -> tuple[str, float, float]:
    import time

    assert data.shape == (3,)  # the shared data, scattered to the workers
    t0 = time.time()
    time.sleep(0.2)
    return distributed.get_worker().address, t0, time.time()


@pytest.mark.parametrize("inline", [True, False])
def test_run_tasks_spreads_tasks_with_shared_data_and_starts_one_per_free_thread(
    client, monkeypatch, inline
) -> None:
    # shared data travels with the tasks or is replicated on every worker, so the first two
    # tasks start on the two idle workers (with the data on one worker only, Dask would queue
    # all four there); a further task is submitted only when one has finished, so it goes to
    # the worker that is free
    if not inline:
        monkeypatch.setattr(hcd, "SHARED_INLINE_BYTES", 0)
    got = hcd.run_tasks(client, _ran_on, [(i,) for i in range(4)], shared={"data": np.ones(3)})
    assert {w for w, _, _ in got[:2]} == set(client.scheduler_info()["workers"])
    first_end = min(e for _, _, e in got[:2])
    assert all(s >= first_end for _, s, _ in got[2:])


def test_midpoint_ranges_from_the_part_size_or_the_measured_cost(monkeypatch) -> None:
    assert hcd.midpoint_ranges(10, 2, part_pairs=4) == [(0, 4), (4, 7), (7, 10)]
    assert hcd.midpoint_ranges(10, 2, part_pairs=20) == [(0, 10)]
    assert len(hcd.midpoint_ranges(10**6, 2)) == 2 * hcd.PARTS_PER_THREAD
    # parts of at least MIDPOINT_PART_SECONDS at the piloted cost of a pair
    monkeypatch.setattr(hcd, "pair_seconds", lambda obj, total, **kw: 1e-5)
    assert hcd.midpoint_min_pairs(NET, 10**6) == round(hcd.MIDPOINT_PART_SECONDS / 1e-5)
    assert hcd.midpoint_min_pairs(NET, 10) == 10
    monkeypatch.setattr(hcd, "MIDPOINT_PART_SECONDS", 0.0)
    assert hcd.midpoint_min_pairs(NET, 10**6) == 1


def test_the_pilot_measures_the_cost_of_a_pair() -> None:
    # the pilot runs the test's first pairs; a far costlier objective costs more per pair
    cheap = hc.Quadratic(np.eye(3))
    costly = hc.LogisticRegression(np.tile(X, (20, 1)), np.tile((Y > 0).astype(float), 20))
    kw = dict(n_pairs=10**6, seed=0, scales=(1.0,), keep_arrays=False)
    per_cheap = hcd.pair_seconds(cheap, 10**6, **kw)
    per_costly = hcd.pair_seconds(costly, 10**6, **kw)
    assert 0 < per_cheap < per_costly


def test_partition_tiles_in_equal_ranges_of_at_least_the_minimum() -> None:
    assert hcd.partition(0, 3) == []
    assert hcd.partition(10, 3) == [(0, 4), (4, 7), (7, 10)]
    # no sliver: 7e5 items in ranges of >= 349,525 -> two halves, not 349,525 + 349,525 + 950
    assert hcd.partition(700_000, 8, minimum=349_525) == [(0, 350_000), (350_000, 700_000)]
    assert hcd.partition(5, 2, minimum=10) == [(0, 5)]
    for total in range(1, 40):
        for parts in range(1, 6):
            for minimum in (1, 3, 7):
                r = hcd.partition(total, parts, minimum=minimum)
                assert r[0][0] == 0 and r[-1][1] == total and len(r) <= parts
                assert all(a[1] == b[0] for a, b in zip(r[:-1], r[1:], strict=True))
                sizes = [b - a for a, b in r]
                assert max(sizes) - min(sizes) <= 1
                assert len(r) == 1 or min(sizes) >= minimum


def test_path_segments_start_with_the_smallest_beta() -> None:
    chunks = [[10.0, 5.0], [2.0, 1.0], [0.5, 0.1]]
    assert hcd._costliest_first(chunks) == [2, 1, 0]
    assert hcd._costliest_first([[0.1, 0.2], [1.0], [0.1]]) == [0, 2, 1]
    assert hcd._costliest_first([[1.0], [0.5], [0.5]]) == [1, 2, 0]  # ties: path order
    assert hcd.path_segments(10, 4) == [(0, 4), (4, 8), (8, 10)]


# ---- midpoint tests --------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [True, False])
def test_midpoint_test_on_the_cluster_equals_the_local_run(client, small_parts, keep) -> None:
    kw = dict(n_pairs=1500, seed=4, t=(0.5, 0.3), keep_arrays=keep)
    local = hc.midpoint_test(NET, **kw)
    seen = []
    dist = hc.midpoint_test(NET, client=client, progress=lambda d, n: seen.append((d, n)), **kw)
    assert local.n_violations > 0 and local.witness is not None  # a non-trivial comparison
    assert len(seen) > 4 and seen[-1][0] == seen[-1][1]  # many parts, progress across workers
    assert_same_report(local, dist)


def _set_quantile_sample(n: int) -> int:
    import hiddenconvex.midpoint as m

    old, m.QUANTILE_SAMPLE = m.QUANTILE_SAMPLE, n
    return old


def test_streamed_midpoint_quantile_sample_merges_exactly(client, small_parts) -> None:
    # a streamed run's quantiles come from every s-th record by global index: make s = 5 by
    # shrinking the sample (here and on every worker) rather than running 10^6 records
    obj = hc.LogisticRegression(X, (Y > 0).astype(float))
    kw = dict(n_pairs=3000, seed=9, t=(0.5, 0.2), scales=(1.0, 10.0, 100.0), keep_arrays=False)
    old = _set_quantile_sample(4096)
    client.run(_set_quantile_sample, 4096)
    try:
        local = hc.midpoint_test(obj, **kw)
        assert local.tolerance["quantiles"] == "from every 5th record"
        assert_same_report(local, hc.midpoint_test(obj, client=client, **kw))
    finally:
        _set_quantile_sample(old)
        client.run(_set_quantile_sample, old)


def vectorised_black_box(theta: np.ndarray) -> np.ndarray:
    return np.sum(np.sin(theta) ** 2, axis=1) - 0.1 * np.sum(theta**2, axis=1)


def test_black_box_midpoint_on_the_cluster(client, small_parts) -> None:
    kw = dict(n_pairs=800, seed=2, dim=5, vectorized=True, scales=(0.5, 3.0))
    local = hc.midpoint_test(vectorised_black_box, **kw)
    assert local.certified
    assert_same_report(local, hc.midpoint_test(vectorised_black_box, client=client, **kw))


def test_merge_refuses_parts_that_do_not_tile_the_pairs() -> None:
    kw = dict(n_pairs=100, seed=1)
    a = hc.midpoint_test(NET, pair_range=(0, 60), **kw)
    b = hc.midpoint_test(NET, pair_range=(50, 300), **kw)
    c = hc.midpoint_test(NET, pair_range=(60, 300), **kw)
    other = hc.midpoint_test(NET, pair_range=(60, 300), n_pairs=100, seed=2)
    with pytest.raises(hc.InvalidInputError, match="overlap"):
        MidpointReport.merge([a, b])
    with pytest.raises(hc.InvalidInputError, match="end at 60"):
        MidpointReport.merge([a])
    with pytest.raises(hc.InvalidInputError, match="different tests"):
        MidpointReport.merge([a, other])
    with pytest.raises(hc.InvalidInputError, match="MidpointPart"):
        MidpointReport.merge([a, hc.midpoint_test(NET, **kw)])
    with pytest.raises(hc.InvalidInputError, match="pair_range"):
        hc.midpoint_test(NET, pair_range=(0, 301), **kw)
    assert_same_report(MidpointReport.merge([c, a]), hc.midpoint_test(NET, **kw))


# ---- sweeps ----------------------------------------------------------------------------------
BETAS = [2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02]
XP, YP = X[:16], Y[:16]


def _path_local():
    est = hc.ConvexReLU(tol=1e-6)
    return est, est.regularization_path(XP, YP, BETAS, segment=3)


def test_regularization_path_on_the_cluster_equals_the_local_segments(client) -> None:
    est_l, local = _path_local()
    est_d = hc.ConvexReLU(tol=1e-6)
    dist = est_d.regularization_path(XP, YP, BETAS, client=client, segment=3)
    assert [r.objective for r in dist] == [r.objective for r in local]
    for a, b in zip(local, dist, strict=True):
        np.testing.assert_array_equal(a.blocks, b.blocks)
        assert a.beta == b.beta and a.certified == b.certified
    # the estimator ends fitted at the last β, with its β restored
    assert est_d.beta == est_l.beta
    np.testing.assert_array_equal(est_d.predict(XP), est_l.predict(XP))
    # one segment = the plain warm-started chain of the single-process method
    one = hc.ConvexReLU(tol=1e-6).regularization_path(XP, YP, BETAS[:3])
    seg = hc.ConvexReLU(tol=1e-6).regularization_path(XP, YP, BETAS[:3], segment=3)
    assert [r.objective for r in one] == [r.objective for r in seg]


@pytest.mark.parametrize("cls", [hc.ConvexReLU, hc.ConvexGatedReLU])
def test_a_fit_given_the_exact_chambers_is_the_fit_of_exact(cls) -> None:
    # what a path's segments get instead of enumerating the chambers at every β
    ch = hcd.path_patterns(cls(), XP)
    assert ch is not None and ch.method == "exact"
    for b in (1.0, 0.05):
        a = cls(beta=b, tol=1e-6).fit(XP, YP)
        c = cls(beta=b, tol=1e-6, patterns=ch).fit(XP, YP)
        assert a.result_.objective == c.result_.objective
        assert a.result_.dual_objective == c.result_.dual_objective
        np.testing.assert_array_equal(a.result_.blocks, c.result_.blocks)
        assert (a.result_.n_patterns, a.result_.patterns_exact, a.result_.certified) == (
            c.result_.n_patterns, c.result_.patterns_exact, c.result_.certified
        )  # fmt: skip
        np.testing.assert_array_equal(a.predict(X), c.predict(X))
    assert hcd.path_patterns(cls(patterns="sample"), XP) is None
    assert hcd.path_patterns(cls(bias=False), XP).patterns.shape[1] == XP.shape[0]


def test_a_segmented_path_enumerates_the_chambers_once(monkeypatch) -> None:
    import sys

    hch = sys.modules["hiddenconvex.chambers"]  # the module (hc.chambers is the function)
    calls = []
    real = hch.chambers

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(hch, "chambers", counted)
    seg = hc.ConvexReLU(tol=1e-6).regularization_path(XP, YP, BETAS, segment=3)
    assert len(calls) == 1
    # the oracle: each segment as a plain chain, enumerating the chambers at every β
    calls.clear()
    ref = [
        r.objective
        for a, b in hcd.path_segments(len(BETAS), 3)
        for r in hc.ConvexReLU(tol=1e-6).regularization_path(XP, YP, BETAS[a:b])
    ]
    assert len(calls) == len(BETAS)
    assert [r.objective for r in seg] == ref


def test_a_path_segment_sends_back_its_results_and_only_the_last_fitted_state() -> None:
    # the fitted state of a segment (cone multipliers, patterns, warm starts) is sent back only
    # from the last segment, which leaves the estimator fitted; the others send their results
    est = hc.ConvexReLU(tol=1e-6)
    first = hcd._path_segment(hc.ConvexReLU(tol=1e-6), BETAS[:3], False, X=XP, y=YP)
    last = hcd._path_segment(est, BETAS[3:], True, X=XP, y=YP)
    assert isinstance(first, hcd.PathSegment) and first.state is None
    assert [type(r) for r in first.results] == [hc.ConvexFitResult] * 3
    assert [r.beta for r in first.results + last.results] == BETAS
    assert last.state is not None and "cone_multipliers_" in last.state
    assert not set(last.state) & set(est.get_params())  # the caller keeps its parameters
    assert last.state["result_"] is last.results[-1]  # pickled once, with the results
    # the oracle: the plain warm-started chain over the same β
    chain = hc.ConvexReLU(tol=1e-6).regularization_path(XP, YP, BETAS[3:])
    assert [r.objective for r in last.results] == [r.objective for r in chain]


def test_the_cluster_of_the_command_line_runs_its_workers_cpu_bound() -> None:
    # no profiler, rarer periodic work in the workers (hcd.CPU_BOUND_WORKER_CONFIG)
    with hcd.cluster_client(workers=1) as cl:
        got = cl.run(
            lambda keys: [__import__("dask").config.get(k) for k in keys],
            list(hcd.CPU_BOUND_WORKER_CONFIG),
        )
    assert list(got.values()) == [list(hcd.CPU_BOUND_WORKER_CONFIG.values())]
    assert hcd.CPU_BOUND_WORKER_CONFIG["distributed.worker.profile.enabled"] is False


def test_compare_convex_nonconvex_on_the_cluster_equals_the_local_run(client) -> None:
    kw = dict(widths=[2, 5], seeds=3, optimizers=("gd", "adam"), epochs=30, patterns="exact")
    local = hc.compare_convex_nonconvex(XP, YP, 0.1, **kw)
    dist = hc.compare_convex_nonconvex(XP, YP, 0.1, client=client, **kw)
    np.testing.assert_array_equal(local.curves, dist.curves)
    np.testing.assert_array_equal(local.final, dist.final)
    np.testing.assert_array_equal(local.grad_norms, dist.grad_norms)
    assert local.convex_objective == dist.convex_objective


def test_realdata_suite_on_the_cluster_equals_the_local_run(client) -> None:
    kw = dict(datasets=["sine", "circle"], quick=True, seed=1, epochs=20)
    local = hc.realdata_suite(**kw)
    dist = hc.realdata_suite(client=client, **kw)
    assert len(local.comparisons) == len(dist.comparisons) == 2
    for a, b in zip(local.comparisons, dist.comparisons, strict=True):
        ra = [{k: v for k, v in r.items() if k != "time_s"} for r in a.rows()]
        rb = [{k: v for k, v in r.items() if k != "time_s"} for r in b.rows()]
        assert repr(ra) == repr(rb)


def _without_times(v):
    if isinstance(v, dict):
        return {
            k: _without_times(x)
            for k, x in v.items()
            if not any(w in k for w in ("time", "second", "elapsed"))
        }
    if isinstance(v, list):
        return [_without_times(x) for x in v]
    return v


def test_report_on_the_cluster_equals_the_local_report(client, tmp_path) -> None:
    """``hiddenconvex report --workers N``: the midpoint tests, the training runs and the convex
    β path run on the workers; every number of the report equals the local report's."""
    from hiddenconvex.app.report import run_report

    rng = np.random.default_rng(3)
    Xd = rng.standard_normal((50, 3))
    yd = np.where(np.linalg.norm(Xd[:, :2], axis=1) > 1.1, 1, 0)
    data = tmp_path / "d.npz"
    np.savez(data, X=Xd, y=yd)
    kw = dict(quick=True, quiet=True, width=3, beta=0.5, seed=2)
    local = run_report(data, "y", out=tmp_path / "local", **kw)
    with distributed.get_task_stream(client=client) as ts:
        dist = run_report(data, "y", out=tmp_path / "dist", client=client, **kw)
    ran = {t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in ts.data}
    names = {k.split("-", 1)[0] for k in ran}
    assert {"_midpoint_part", "_train_batch", "_path_segment"} <= names, names
    assert len(local["details"]["beta_path"]) == 4
    assert _without_times(local["details"]) == _without_times(dist["details"])
    assert local["verdicts"] == dist["verdicts"]
    assert [c["result"] for c in local["checks"]] == [c["result"] for c in dist["checks"]]


# ---- chambers in parts -----------------------------------------------------------------------
def resonance(d: int) -> np.ndarray:
    return np.array([[(v >> (d - 1 - j)) & 1 for j in range(d)] for v in range(1, 2**d)], float)


@pytest.mark.parametrize("data", ["gaussian", "resonance"])
def test_chamber_parts_on_the_cluster_stream_back_the_exact_chambers(client, tmp_path, data):
    Xc = RNG.standard_normal((13, 4)) if data == "gaussian" else resonance(4)
    oracle = hc.chambers(Xc, method="exact")
    idx = hc.write_chamber_parts(Xc, tmp_path / "parts", part_chambers=40, client=client)
    assert idx.n_parts > 3 and idx.total == idx.exact_count == oracle.count
    assert idx.exact_count == hc.chamber_count(Xc)
    back = hc.load(tmp_path / "parts" / "index.json")
    assert isinstance(back, hc.ChamberParts) and back.counts == idx.counts
    pats, wits = zip(*back, strict=True)
    np.testing.assert_array_equal(np.vstack(pats), oracle.patterns)
    W = np.vstack(wits)
    np.testing.assert_array_equal(Xc @ W.T > 0, oracle.patterns.T)  # strictly interior witnesses
    assert np.all(np.abs(Xc @ W.T) > 0)
    # the same parts written locally are the same files' contents
    loc = hc.write_chamber_parts(Xc, tmp_path / "local", part_chambers=40)
    for p, q in zip(loc.iter_parts(), back.iter_parts(), strict=True):
        np.testing.assert_array_equal(p.patterns, q.patterns)
        np.testing.assert_array_equal(p.witnesses, q.witnesses)
    with pytest.raises(hc.InvalidInputError, match="already holds an index"):
        hc.write_chamber_parts(Xc, tmp_path / "parts", part_chambers=40)


# ---- faults ----------------------------------------------------------------------------------
def _killer(client, log):
    """A progress callback that SIGKILLs a busy worker process at the first finished task."""

    def cb(done: int, total: int) -> None:
        if log:
            return
        busy = [w for w, keys in client.processing().items() if keys] or list(client.processing())
        pids = client.run(os.getpid, workers=[busy[0]], on_error="return")
        pid = pids[busy[0]]
        assert isinstance(pid, int) and pid != os.getpid()  # a worker, never this process
        os.kill(pid, signal.SIGKILL)
        log.append((done, total, pid))

    return cb


@pytest.fixture
def fault_client():
    """A cluster of its own for each fault test: killing a worker leaves one running."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        worker_dashboard_address=":0",
    )
    cl = distributed.Client(cluster, timeout=120)
    old = hcd.TASK_TIMEOUT
    hcd.TASK_TIMEOUT = TIMEOUT
    try:
        yield cl
    finally:
        hcd.TASK_TIMEOUT = old
        cl.close(timeout=60)
        cluster.close(timeout=60)


def test_killing_a_worker_mid_path_still_gives_the_identical_path(fault_client) -> None:
    client = fault_client
    log: list = []
    dist = hc.ConvexReLU(tol=1e-6).regularization_path(
        XP, YP, BETAS, client=client, segment=1, progress=_killer(client, log)
    )
    assert len(log) == 1 and log[0][0] < log[0][1]  # killed while tasks were still pending
    assert log[0][2] not in client.run(os.getpid).values()  # that worker process is gone
    # segment=1 means no warm starts; the local run of the same segments is the oracle
    local = hc.ConvexReLU(tol=1e-6).regularization_path(XP, YP, BETAS, segment=1)
    assert [r.objective for r in dist] == [r.objective for r in local]
    for a, b in zip(local, dist, strict=True):
        np.testing.assert_array_equal(a.blocks, b.blocks)


def test_killing_a_worker_mid_midpoint_test_still_gives_the_identical_report(
    fault_client, monkeypatch
) -> None:
    client = fault_client
    monkeypatch.setattr(hcd, "MIDPOINT_PART_SECONDS", 0.0)
    kw = dict(n_pairs=8000, seed=8, keep_arrays=False)
    local = hc.midpoint_test(NET, **kw)
    log: list = []
    dist = hc.midpoint_test(NET, client=client, progress=_killer(client, log), **kw)
    assert len(log) == 1 and log[0][0] < log[0][1]
    assert log[0][2] not in client.run(os.getpid).values()
    assert_same_report(local, dist)


# ---- a worker without the extension -----------------------------------------------------------
HIDE = textwrap.dedent(
    '''
    """Worker preload: make hiddenconvex unimportable, as in an environment without it."""
    import sys


    class _NoHiddenConvex:
        def find_spec(self, name, path=None, target=None):
            if name == "hiddenconvex" or name.startswith("hiddenconvex."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, _NoHiddenConvex())
    '''
)


def test_a_worker_without_hiddenconvex_gives_a_clear_error(tmp_path) -> None:
    pre = tmp_path / "hide_hiddenconvex.py"
    pre.write_text(HIDE)
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            worker_dashboard_address=":0",
            preload=[str(pre)],
        ) as cluster,
        distributed.Client(cluster, timeout=120) as bad,
    ):
        with pytest.raises(hcd.WorkerImportError, match="cannot import hiddenconvex") as info:
            hc.midpoint_test(NET, n_pairs=10, seed=0, client=bad)
        assert "No module named 'hiddenconvex'" in str(info.value)
        assert isinstance(info.value, ImportError) and isinstance(info.value, hc.HiddenConvexError)


# ---- command line ----------------------------------------------------------------------------
def test_cli_bench_on_a_local_cluster_runs_the_suite_there(monkeypatch, tmp_path, capsys) -> None:
    """``hiddenconvex bench --workers 2``: a LocalCluster of 2 processes, the suite runs on it."""
    import hiddenconvex.compare as cmp
    from hiddenconvex.app import cli

    seen = {}
    real = cmp.realdata_suite

    def small_suite(quick, progress, client):
        seen["workers"] = len(client.scheduler_info()["workers"])
        seen["progress"] = progress
        return real(["sine"], quick=True, seed=0, epochs=10, client=client)

    monkeypatch.setattr(cmp, "realdata_suite", small_suite)
    rc = cli.main(["bench", "--quick", "-q", "--workers", "2", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert seen == {"workers": 2, "progress": False}
    assert "on the Dask cluster" in err
    res = hc.load(tmp_path / "realdata.json")
    assert [c.dataset for c in res.comparisons] == ["sine"]
    local = real(["sine"], quick=True, seed=0, epochs=10)
    assert local.comparisons[0].convex_objective == res.comparisons[0].convex_objective
    np.testing.assert_array_equal(local.comparisons[0].objectives, res.comparisons[0].objectives)


def test_cli_cluster_options_are_checked(capsys) -> None:
    from hiddenconvex.app import cli

    assert cli.main(["bench", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "not allowed with" in capsys.readouterr().err
    assert cli.main(["bench", "--quick", "-q", "--workers", "0"]) == 2
    assert "workers: must be >= 1" in capsys.readouterr().err
