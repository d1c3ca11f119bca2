"""Activation chambers: exact enumeration against independent oracles.

Oracles: Cover's count (general position), closed forms of structured arrangements (braid k!,
resonance 32/370/11,292, threshold 14/104/1,882, coordinate 2^d), an LP-feasibility enumeration
with SciPy's HiGHS (tests/_reference_chambers.py), hand-checked faces, and the witnesses
themselves (sign(X w) must reproduce every pattern with a positive margin).
"""

from __future__ import annotations

import math

import hiddenconvex as hc
import numpy as np
import pytest
from _interrupt import run_interrupted
from _reference_chambers import braid, brute_force_faces, cube, lp_chambers, resonance


def assert_witnesses_realise(ch: hc.Chambers, rel_margin: float = 1e-12) -> None:
    X = ch.X
    S = ch.witnesses[: ch.n_open] @ X.T  # (P, n)
    nonzero = np.any(X != 0, axis=1)
    assert np.array_equal(S > 0, ch.patterns[: ch.n_open])
    scale = (
        np.linalg.norm(X, axis=1)[None, :]
        * np.linalg.norm(ch.witnesses[: ch.n_open], axis=1)[:, None]
    )
    assert np.all(np.abs(S[:, nonzero]) > rel_margin * scale[:, nonzero])


def assert_sorted_distinct(patterns: np.ndarray) -> None:
    packed = np.packbits(patterns, axis=1)
    keys = [bytes(r) for r in packed]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


# ---- counts ------------------------------------------------------------------------------
GAUSSIAN_CASES = [
    (1, 1),
    (1, 3),
    (2, 2),
    (3, 3),
    (4, 6),
    (5, 2),
    (12, 2),
    (7, 3),
    (10, 3),
    (25, 3),
    (6, 4),
    (15, 4),
    (30, 4),
    (9, 5),
    (20, 5),
    (8, 6),
    (12, 6),
    (10, 7),
    (14, 8),
]


@pytest.mark.parametrize("n, d", GAUSSIAN_CASES)
def test_gaussian_count_is_cover(n, d, rng):
    X = rng.standard_normal((n, d))
    ch = hc.chambers(X, method="exact")
    expected = hc.cover_count(n, min(d, n) if n < d else d)
    assert ch.count == expected == hc.cover_count(n, d)
    assert ch.rank == min(n, d)
    assert hc.chamber_count(X) == expected
    if n <= d:
        assert ch.count == 2**n
    assert_witnesses_realise(ch)
    assert_sorted_distinct(ch.patterns)


def test_planar_count_is_twice_the_distinct_lines(rng):
    base = rng.standard_normal((6, 2))
    X = np.vstack([base, 2.5 * base[:2], -base[3:5], np.zeros((1, 2))])
    ch = hc.chambers(X, method="exact")
    assert ch.count == 2 * 6
    assert_witnesses_realise(ch)


def test_rank_deficient_rank3_in_r5(rng):
    X = rng.standard_normal((7, 3)) @ rng.standard_normal((3, 5))
    ch = hc.chambers(X, method="exact")
    assert ch.rank == 3
    assert ch.count == 44 == hc.cover_count(7, 3)
    assert ch.witnesses.shape == (44, 5)
    assert_witnesses_realise(ch, rel_margin=1e-9)
    assert hc.chamber_count(X) == 44


def test_duplicate_antiparallel_zero_rows(rng):
    base = rng.standard_normal((8, 3))
    X = np.vstack([base, base[0], 3.0 * base[1], -base[2], -0.5 * base[3], np.zeros(3)])
    ch = hc.chambers(X, method="exact")
    assert ch.count == hc.cover_count(8, 3)
    P = ch.patterns
    assert np.array_equal(P[:, 8], P[:, 0])
    assert np.array_equal(P[:, 9], P[:, 1])
    assert np.array_equal(P[:, 10], ~P[:, 2])
    assert np.array_equal(P[:, 11], ~P[:, 3])
    assert not P[:, 12].any()
    assert_witnesses_realise(ch)
    assert_sorted_distinct(P)


def test_all_zero_data_has_one_chamber():
    ch = hc.chambers(np.zeros((3, 2)), method="exact")
    assert ch.count == 1 and ch.rank == 0
    assert not ch.patterns.any()
    assert hc.chamber_count(np.zeros((3, 2))) == 1


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7])
def test_braid_arrangement(k):
    ch = hc.chambers(braid(k), method="exact")
    assert ch.count == math.factorial(k)
    assert hc.chamber_count(braid(k)) == math.factorial(k)
    assert ch.rank == k - 1
    assert_witnesses_realise(ch)


@pytest.mark.parametrize("d, expected", [(2, 6), (3, 32), (4, 370), (5, 11_292)])
def test_resonance_arrangement(d, expected):
    X = resonance(d)
    ch = hc.chambers(X, method="exact")
    assert ch.count == expected
    assert hc.chamber_count(X) == expected
    assert_witnesses_realise(ch)
    assert_sorted_distinct(ch.patterns)


@pytest.mark.parametrize("k, expected", [(2, 14), (3, 104), (4, 1_882)])
def test_threshold_arrangement(k, expected):
    ch = hc.chambers(cube(k), method="exact", bias=True)
    assert ch.count == expected
    assert ch.X.shape == (2**k, k + 1)
    assert hc.chamber_count(cube(k), bias=True) == expected
    assert_witnesses_realise(ch)


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8])
def test_coordinate_arrangement(d):
    ch = hc.chambers(np.eye(d), method="exact")
    assert ch.count == 2**d
    # every sign vector occurs, in lexicographic order
    expected = np.array([[(p >> (d - 1 - i)) & 1 for i in range(d)] for p in range(2**d)], bool)
    assert np.array_equal(ch.patterns, expected)


# ---- against the LP reference -----------------------------------------------------------
def _lp_cases():
    g = np.random.default_rng(7)
    base = g.standard_normal((5, 3))
    return {
        "gaussian-6x3": g.standard_normal((6, 3)),
        "gaussian-7x4": g.standard_normal((7, 4)),
        "gaussian-8x2": g.standard_normal((8, 2)),
        "dup-antiparallel-zero": np.vstack([base, -base[0], 2 * base[1], np.zeros(3)]),
        "rank2-in-r4": g.standard_normal((6, 2)) @ g.standard_normal((2, 4)),
        "integer": g.integers(-2, 3, size=(7, 3)).astype(float),
        "three-lines-through-a-ray": np.vstack([base[:4], base[0] + base[1]]),
        "resonance-3": resonance(3),
        "braid-4": braid(4),
    }


@pytest.mark.parametrize("name", list(_lp_cases()))
def test_exact_set_equals_lp_reference(name):
    X = _lp_cases()[name]
    ch = hc.chambers(X, method="exact")
    ref = lp_chambers(X)
    assert np.array_equal(ch.patterns, ref)


# ---- witnesses, order, packing, zonotope ----------------------------------------------------
def test_packed_and_order(rng):
    X = rng.standard_normal((13, 3))
    ch = hc.chambers(X, method="exact")
    assert np.array_equal(ch.packed, np.packbits(ch.patterns, axis=1))
    assert ch.packed.shape == (ch.count, 2)
    assert_sorted_distinct(ch.patterns)


def test_zonotope_vertices(rng):
    X = rng.standard_normal((9, 3))
    ch = hc.chambers(X, method="exact")
    V = ch.zonotope_vertices()
    assert V.shape == (ch.count, 3)
    assert len(np.unique(np.round(V, 10), axis=0)) == ch.count
    # vertex p is the unique maximiser of u·z over the vertices for u = witness p
    scores = ch.witnesses @ V.T
    assert np.array_equal(np.argmax(scores, axis=1), np.arange(ch.count))


# ---- faces ---------------------------------------------------------------------------------
def test_faces_hand_checked():
    # rows x1, -x1, x2, x3 in R^2 with x1 = e1, x2 = e2, x3 = e1 + e2
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    open_ = hc.chambers(X, method="exact")
    assert open_.count == 6  # three distinct lines
    ch = hc.chambers(X, method="exact", include_faces=True)
    assert ch.n_open == 6
    extra = ch.patterns[6:].astype(int).tolist()
    # the ray u = (0, 1) (and the origin) activates x1 and -x1 together: (1,1,1,1);
    # the ray u = (0, -1): (1,1,0,0). The other rays give patterns of open chambers.
    assert extra == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert set(map(tuple, ch.patterns.astype(int).tolist())) == brute_force_faces(X)


def test_faces_match_brute_force(rng):
    X = np.vstack([rng.integers(-1, 2, size=(5, 3)).astype(float)])
    ch = hc.chambers(X, method="exact", include_faces=True)
    assert set(map(tuple, ch.patterns.astype(int).tolist())) == brute_force_faces(X)
    assert len({bytes(r) for r in ch.packed}) == ch.count


# ---- sampling ------------------------------------------------------------------------------
def test_sampled_subset_of_exact_and_coverage(rng):
    X = rng.standard_normal((25, 4))
    exact = hc.chambers(X, method="exact")
    s = hc.chambers(X, method="sample", n_samples=3000, seed=11)
    assert s.method == "sample" and s.seed == 11 and s.n_samples == 3000
    ex = {bytes(r) for r in exact.packed}
    got = {bytes(r) for r in s.packed}
    assert got <= ex
    assert s.exact_count == exact.count
    assert s.coverage == pytest.approx(len(got) / exact.count)
    assert 0 < s.coverage < 1
    assert_witnesses_realise(s, rel_margin=0.0)
    assert_sorted_distinct(s.patterns)


def test_seed_none_is_recorded_and_reproducible(rng):
    X = rng.standard_normal((10, 3))
    a = hc.chambers(X, method="sample", n_samples=500)
    assert isinstance(a.seed, int)
    b = hc.chambers(X, method="sample", n_samples=500, seed=a.seed)
    assert np.array_equal(a.patterns, b.patterns)
    assert np.array_equal(a.witnesses, b.witnesses)


@pytest.mark.usefixtures("restore_threads")
def test_same_output_at_1_2_8_threads(rng):
    X = rng.standard_normal((30, 4))  # general position: vertex method
    R = resonance(5)  # degenerate: deletion-restriction
    outs = []
    for t in (1, 2, 8):
        hc.set_thread_count(t)
        e = hc.chambers(X, method="exact")
        r = hc.chambers(R, method="exact")
        s = hc.chambers(X, method="sample", n_samples=20_000, seed=5)
        outs.append((e.patterns, e.witnesses, r.patterns, r.witnesses, s.patterns, s.witnesses))
    for o in outs[1:]:
        for a, b in zip(outs[0], o, strict=True):
            assert np.array_equal(a, b)


# ---- auto, limits, streaming ------------------------------------------------------------------
def test_resource_limit_before_allocating(rng):
    X = rng.standard_normal((40, 5))
    with pytest.raises(hc.ResourceLimitError, match="184342 chambers"):
        hc.chambers(X, method="exact", max_chambers=1000)
    with pytest.raises(hc.ResourceLimitError, match="memory_limit"):
        hc.chambers(X, method="exact", memory_limit=10_000)
    with pytest.raises(MemoryError):
        hc.chambers(X, method="exact", max_chambers=10)


def test_auto_chooses_and_records(rng):
    X = rng.standard_normal((20, 3))
    a = hc.chambers(X)
    assert a.method == "exact" and a.requested_method == "auto" and a.coverage == 1.0
    b = hc.chambers(X, max_chambers=10, n_samples=200, seed=1)
    assert b.method == "sample" and b.requested_method == "auto"
    assert b.exact_count == hc.cover_count(20, 3)


def _row_set(patterns):
    return {bytes(r) for r in np.packbits(patterns, axis=1)}


def _check_stream(X, chunk, ch, **kw):
    chunks = list(hc.iter_chambers(X, chunk=chunk, **kw))
    assert all(1 <= len(p) <= chunk and len(p) == len(w) for p, w in chunks)
    pats = np.concatenate([p for p, _ in chunks])
    wits = np.concatenate([w for _, w in chunks])
    # each chamber exactly once, the same set as chambers(), interior witnesses
    assert pats.shape == ch.patterns.shape
    assert _row_set(pats) == _row_set(ch.patterns) and len(_row_set(pats)) == ch.count
    Xf = np.asarray(X, dtype=np.float64)
    assert np.array_equal(Xf @ wits.T > 0, pats.T)
    nonzero = np.abs(Xf).sum(axis=1) > 0
    assert np.all(np.abs(Xf[nonzero] @ wits.T) > 0)
    assert np.allclose(np.linalg.norm(wits, axis=1), 1.0)
    return chunks


def test_iter_chambers_streams_the_same_set(rng):
    X = rng.standard_normal((15, 3))
    ch = hc.chambers(X, method="exact")
    for chunk in (1, 7, 50, 10_000):
        _check_stream(X, chunk, ch)
    # deterministic: same chunks every run and at any thread count
    ref = list(hc.iter_chambers(X, chunk=50))
    old = hc.thread_count()
    try:
        for t in (1, 2, 8):
            hc.set_thread_count(t)
            again = list(hc.iter_chambers(X, chunk=50))
            assert all(
                np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                for a, b in zip(ref, again, strict=True)
            )
    finally:
        hc.set_thread_count(old)
    with pytest.raises(hc.ResourceLimitError):
        list(hc.iter_chambers(X, max_chambers=3))
    with pytest.raises(hc.ResourceLimitError, match="memory_limit"):
        list(hc.iter_chambers(X, memory_limit=1000))


@pytest.mark.parametrize(
    "case",
    ["rank_deficient", "duplicates", "resonance4", "bias", "d2", "d1", "n_le_d", "eye6"],
)
def test_iter_chambers_degenerate_and_small_cases(rng, case):
    if case == "rank_deficient":
        X = rng.standard_normal((9, 3)) @ rng.standard_normal((3, 5))
    elif case == "duplicates":
        B = rng.standard_normal((6, 3))
        X = np.vstack([B, 2 * B[:2], -B[2:3], np.zeros((1, 3))])
    elif case == "resonance4":
        X = np.array([[(m >> j) & 1 for j in range(4)] for m in range(1, 16)], dtype=float)
    elif case == "bias":
        X = np.hstack([rng.standard_normal((12, 3)), np.ones((12, 1))])
    elif case == "d2":
        X = rng.standard_normal((9, 2))
    elif case == "d1":
        X = rng.standard_normal((5, 1))
    elif case == "eye6":
        X = np.eye(6)  # independent lines (no more lines than the rank): 2^6 chambers
    else:
        X = rng.standard_normal((3, 5))
    ch = hc.chambers(X, method="exact")
    for chunk in (3, 64):
        _check_stream(X, chunk, ch)


def _degenerate_case(name, rng):
    """(X, bias, known count or None) of degenerate arrangements (not in general position)."""
    if name == "resonance4":
        return resonance(4), False, 370
    if name == "resonance5":
        return resonance(5), False, 11_292
    if name == "threshold3":
        return cube(3), True, 104
    if name == "threshold4":
        return cube(4), True, 1_882
    if name == "braid5":
        return braid(5), False, 120
    if name == "braid6":
        return braid(6), False, 720
    if name == "dup_antiparallel_zero":
        R = resonance(4)
        return np.vstack([R, 3 * R[3:4], -R[5:6], np.zeros((1, 4)), R[:1]]), False, 370
    # rank 3 in R^5 with a dependent triple (x0, x1, x0 + x1) and an antiparallel copy
    G = rng.standard_normal((7, 3)) @ rng.standard_normal((3, 5))
    X = np.vstack([G, G[0] + G[1], -2 * G[2]])
    return X, False, None


DEGENERATE = [
    "resonance4",
    "resonance5",
    "threshold3",
    "threshold4",
    "braid5",
    "dup_antiparallel_zero",
    "rank3_in_R5_dependent",
]


@pytest.mark.parametrize("name", DEGENERATE)
def test_iter_chambers_degenerate_data_in_sorted_parts(rng, name):
    X, bias, known = _degenerate_case(name, rng)
    ch = hc.chambers(X, method="exact", bias=bias)
    if known is not None:
        assert ch.count == known
    assert ch.count == hc.chamber_count(ch.X)
    bpc = hc._core.chambers_plan(ch.X)[2]
    for chunk in (5, 97, 100_000):
        # a memory budget that forces parts of about a fifth of the chambers
        limit = 4 * bpc * max(ch.count // 5 + 1, chunk)
        chunks = _check_stream(ch.X, chunk, ch, memory_limit=limit)
        # degenerate data streams prefix cones in lexicographic order: exactly chambers()'s
        # sorted rows, chunk after chunk (so chunks are disjoint and their union is the set)
        pats = np.concatenate([p for p, _ in chunks])
        assert np.array_equal(pats, ch.patterns)


@pytest.mark.parametrize("name", ["resonance5", "threshold4", "braid6"])
def test_iter_chambers_degenerate_memory_is_bounded_by_the_part_budget(rng, name):
    # The core stream of iter_chambers with a small part budget: no part (chambers held at
    # once) exceeds the budget and no more than 2 * budget + 1 candidates are ever held, far
    # below the number of chambers, and the output is still exactly chambers().
    X, bias, _ = _degenerate_case(name, rng)
    ch = hc.chambers(X, method="exact", bias=bias)
    budget = 60
    stream = hc._core.chambers_stream(ch.X, 16, None, None, None, budget)
    assert stream.bounded and stream.total == ch.count
    got = []
    first_stats = None
    while (block := stream.next_block()) is not None:
        patterns, _packed, witnesses, _rank = block
        assert 1 <= len(patterns) <= 16
        assert np.array_equal(ch.X @ witnesses.T > 0, patterns.T)
        got.append(patterns)
        if first_stats is None:
            first_stats = stream.part_stats  # the first block comes after one part only
    peak_part, peak_candidates, parts = stream.part_stats
    assert first_stats is not None and first_stats[2] == 1
    assert peak_part <= budget and peak_candidates <= 2 * budget + 1
    assert parts >= ch.count // budget
    assert 5 * peak_candidates < ch.count
    assert np.array_equal(np.concatenate(got), ch.patterns)


def test_iter_chambers_degenerate_beyond_the_memory_limit():
    # resonance R^5: chambers() needs several MB and is refused under 300 kB; iter_chambers
    # lowers its part budget to the limit and streams all 11,292 chambers.
    X = resonance(5)
    budget = 300_000
    with pytest.raises(hc.ResourceLimitError, match="memory_limit"):
        hc.chambers(X, method="exact", memory_limit=budget)
    rows = [p for p, _ in hc.iter_chambers(X, chunk=100, memory_limit=budget)]
    full = hc.chambers(X, method="exact")
    assert np.array_equal(np.concatenate(rows), full.patterns)


def test_iter_chambers_streams_beyond_the_memory_limit(rng):
    # 2 * sum_{k<4} C(59, k) = 68,520 chambers: chambers() needs several MB, refused under a
    # 1 MB budget, while streaming in chunks of 1000 fits it.
    X = rng.standard_normal((60, 4))
    budget = 1_000_000
    with pytest.raises(hc.ResourceLimitError, match="memory_limit"):
        hc.chambers(X, method="exact", memory_limit=budget)
    seen = set()
    rows = 0
    for p, w in hc.iter_chambers(X, chunk=1000, memory_limit=budget):
        assert len(p) <= 1000
        assert np.array_equal(X @ w.T > 0, p.T)
        rows += len(p)
        seen |= _row_set(p)
    assert rows == len(seen) == hc.cover_count(60, 4)
    full = hc.chambers(X, method="exact")
    assert seen == _row_set(full.patterns)


def test_sample_checks_memory_before_allocating(rng):
    X = rng.standard_normal((40, 5))
    with pytest.raises(hc.ResourceLimitError, match="memory_limit"):
        hc.chambers(X, method="sample", n_samples=10**12, seed=0, memory_limit=10**6)


def test_progress_and_save_roundtrip(rng, tmp_path):
    X = rng.standard_normal((30, 4))
    seen = []
    ch = hc.chambers(X, method="exact", progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (30, 30)
    p = ch.save(tmp_path / "ch.npz")
    back = hc.load(p)
    assert isinstance(back, hc.Chambers)
    assert np.array_equal(back.patterns, ch.patterns) and back.count == ch.count
    assert "exact" in ch.summary() and f"{ch.count:,}" in ch.summary()


# ---- closed forms -------------------------------------------------------------------------------
def test_cover_count_and_pattern_bound():
    assert hc.cover_count(100, 4) == 323_600
    assert hc.cover_count(40, 5) == 184_342
    assert hc.cover_count(3, 5) == 8
    assert hc.cover_count(0, 3) == 1
    big = hc.cover_count(10_000, 30)
    assert isinstance(big, int) and big > 2**64
    assert big == 2 * sum(math.comb(9_999, k) for k in range(30))
    for n in range(2, 30):
        for r in range(1, n):
            assert hc.pattern_bound(n, r) >= hc.cover_count(n, r)
    with pytest.raises(ValueError, match="r"):
        hc.cover_count(3, -1)
    with pytest.raises(TypeError, match="n"):
        hc.cover_count(2.5, 1)


# ---- inputs -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, exc, match",
    [
        ([[1.0, np.nan]], ValueError, "X: contains NaN"),
        ([[1.0, np.inf]], ValueError, "X: contains NaN or inf"),
        ([1.0, 2.0], ValueError, "X: expected a 2-dimensional"),
        (np.zeros((0, 3)), ValueError, "X: must not be empty"),
        (np.zeros((3, 0)), ValueError, "X: must not be empty"),
        (np.array([["a"]]), TypeError, "X: expected a real numeric"),
        (np.array([[object()]]), TypeError, "X: expected a real numeric"),
    ],
)
def test_bad_X(value, exc, match):
    with pytest.raises(exc, match=match):
        hc.chambers(value)
    with pytest.raises(exc, match=match):
        hc.chamber_count(value)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"method": "lp"}, ValueError, "method: expected one of"),
        ({"method": "sample", "n_samples": 0}, ValueError, "n_samples: must be >= 1"),
        ({"method": "sample", "n_samples": -5}, ValueError, "n_samples"),
        ({"method": "sample", "n_samples": 2.5}, TypeError, "n_samples"),
        ({"max_chambers": 0}, ValueError, "max_chambers"),
        ({"bias": "yes"}, TypeError, "bias"),
        ({"include_faces": 1}, TypeError, "include_faces"),
        ({"method": "sample", "seed": -1}, ValueError, "seed"),
        ({"method": "exact", "seed": "abc"}, TypeError, "seed"),
        ({"progress": 3}, TypeError, "progress"),
    ],
)
def test_bad_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hc.chambers(np.eye(3), **kwargs)


def test_dtypes_and_layouts_give_identical_results(rng):
    Xi = rng.integers(-5, 6, size=(12, 3))
    ref = hc.chambers(Xi.astype(np.float64), method="exact")
    variants = [
        Xi,
        Xi.astype(np.float32),
        np.asfortranarray(Xi.astype(np.float64)),
        np.repeat(Xi.astype(np.float64), 2, axis=1)[:, ::2],  # strided view
        Xi.astype(np.int8).tolist(),
    ]
    for V in variants:
        ch = hc.chambers(V, method="exact")
        assert np.array_equal(ch.patterns, ref.patterns)
        assert np.array_equal(ch.witnesses, ref.witnesses)
        s = hc.chambers(V, method="sample", n_samples=300, seed=3)
        s_ref = hc.chambers(Xi.astype(np.float64), method="sample", n_samples=300, seed=3)
        assert np.array_equal(s.patterns, s_ref.patterns)


# ---- interrupts ---------------------------------------------------------------------------------
_CTRL_C_CALLS = {
    "count": "result = hc.chamber_count(X, max_chambers=2**62)",
    "exact": 'result = hc.chambers(X, method="exact", memory_limit=2**62)',
    # huge chunks: the interrupt lands inside the generation of a chunk
    "stream": (
        "result = next(hc.iter_chambers(X, chunk=10**8, memory_limit=2**62, max_chambers=2**62))"
    ),
    # resonance R^7 (347,326,352 chambers): prefix-cone parts, interrupted while counting or
    # enumerating a part
    "stream_degenerate": (
        "for _ in hc.iter_chambers(R7, chunk=10**5, memory_limit=2**28):\n    pass"
    ),
    "sample": 'result = hc.chambers(X[:, :3], method="sample", n_samples=10**9, seed=0)',
}


@pytest.mark.parametrize("which", sorted(_CTRL_C_CALLS))
def test_ctrl_c_stops_the_core_and_returns_nothing(which):
    # in a child process (see tests/_interrupt.py): the test process gets no signal, and an
    # inherited ignored SIGINT cannot make the test hang. Each call would run for minutes: the
    # interruption is asserted (not its latency, measured by benches/bench_interrupt.py).
    setup = (
        "import itertools\n"
        "X = np.random.default_rng(1).standard_normal((400, 7))\n"
        "R7 = np.array([v for v in itertools.product((0, 1), repeat=7) if any(v)], float)\n"
    )
    res = run_interrupted(setup, _CTRL_C_CALLS[which])
    assert res["outcome"] == "interrupted"
    # the core saw the cancellation and stopped before finishing its work
    assert res["stopped_early"] is True
    done, total = res["progress"]
    assert total == 0 or done < total
    # no partial result reached the caller
    assert res["result"] is None


def test_demo_table_quick():
    from hiddenconvex.app.chambers_table import demo_table

    rows, text = demo_table(quick=True, seed=0)
    assert [r["name"].split()[0] for r in rows] == [
        "gaussian",
        "gaussian",
        "resonance",
        "threshold",
    ]
    assert rows[0]["exact"] == rows[0]["cover"] == 184_342
    assert rows[2]["exact"] == 11_292 and rows[3]["exact"] == 1_882
    assert all(0 < r["coverage"] <= 1 for r in rows)
    assert "coverage" in text


@pytest.mark.parametrize("scale", [1e-9, 1e8, 1e12])
def test_badly_scaled_columns_do_not_matter(rng, scale):
    # chambers are invariant under u -> A^{-1} u; floating data is whitened internally
    X = rng.standard_normal((14, 3))
    ref = hc.chambers(X, method="exact")
    Xs = X * np.array([scale, 1.0, 1.0])
    ch = hc.chambers(Xs, method="exact")
    assert ch.count == ref.count == hc.cover_count(14, 3)
    assert np.array_equal(ch.patterns, ref.patterns)
    assert np.array_equal(Xs @ ch.witnesses.T > 0, ch.patterns.T)
    assert hc.chamber_count(Xs) == ref.count


# --- hardening (issue 19): scale invariance, verified witnesses, fast refusals -------------


def _pattern_set(p: np.ndarray) -> set[bytes]:
    return {np.packbits(r).tobytes() for r in np.asarray(p, bool)}


def test_chambers_are_scale_invariant_at_extreme_scales():
    # chambers of X and of s·X are the same for any s > 0; the oracle is an LP enumeration of
    # the unscaled X, and the witnesses must realise the patterns on the unscaled rows
    X = np.random.default_rng(0).standard_normal((12, 4))
    want = _pattern_set(lp_chambers(X))
    assert len(want) == hc.cover_count(12, 4) == 464
    for scale in [1e154, 1e-162, 1e-300, 1e300, 5e-324 * 2**40]:
        ch = hc.chambers(X * scale, method="exact")
        assert ch.count == 464, scale
        assert _pattern_set(ch.patterns) == want, scale
        assert np.array_equal(ch.witnesses @ X.T > 0, ch.patterns), scale
        assert hc.chamber_count(X * scale) == 464, scale
        (pats, wit), *rest = list(hc.iter_chambers(X * scale, chunk=10**6))
        assert not rest and _pattern_set(pats) == want, scale
        assert np.array_equal(wit @ X.T > 0, pats), scale


def test_chambers_are_invariant_under_wild_row_scaling():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 3))
    s = 10.0 ** rng.uniform(-300, 300, size=10)
    Xs = X * s[:, None]
    want = lp_chambers(X)
    ch = hc.chambers(Xs, method="exact")
    assert _pattern_set(ch.patterns) == _pattern_set(want)
    assert np.array_equal(ch.witnesses @ X.T > 0, ch.patterns)
    assert hc.chamber_count(Xs) == want.shape[0]
    # sampling sees the same patterns as on the unscaled rows (same gates, same signs)
    sm = hc.chambers(Xs, method="sample", n_samples=20_000, seed=0)
    sm0 = hc.chambers(X, method="sample", n_samples=20_000, seed=0)
    assert np.array_equal(sm.patterns, sm0.patterns)
    assert _pattern_set(sm.patterns) <= _pattern_set(want)


def test_impossible_exact_runs_are_refused_before_the_preparation():
    # rank 50: at least 2^50 chambers. The refusal comes from an O(n·d) sketch, before the
    # O(n·d²) whitening; the message gives the real Cover bound, not u128::MAX.
    X = np.random.default_rng(0).standard_normal((10_000, 50))
    with pytest.raises(hc.ResourceLimitError) as ei:
        hc.chambers(X, method="exact")
    msg = str(ei.value)
    assert "at least" in msg and "rank(X) >= " in msg
    assert str(2**128 - 1) not in msg
    assert "2.923e133" in msg  # Cover(10^4, 50) = 2 Σ_{k<50} C(9999, k), printed as a float
    with pytest.raises(hc.ResourceLimitError):
        hc.chamber_count(X)
    with pytest.raises(hc.ResourceLimitError):
        hc.iter_chambers(X)
    # auto decides to sample (the plan reports "does not fit"), sampling then runs
    ch = hc.chambers(X[:, :20], method="auto", n_samples=64, seed=0, memory_limit=2**31)
    assert ch.method == "sample" and ch.count == 64 and ch.coverage is None


def test_chamber_count_respects_max_chambers():
    X = np.random.default_rng(5).standard_normal((60, 5))
    want = hc.cover_count(60, 5)
    assert hc.chamber_count(X, max_chambers=want) == want
    with pytest.raises(hc.ResourceLimitError, match="max_chambers"):
        hc.chamber_count(X, max_chambers=want - 1)
    with pytest.raises(hc.ResourceLimitError, match="max_chambers"):
        hc.chamber_count(X, max_chambers=1000)


def test_include_faces_honours_method_and_limits():
    X = np.random.default_rng(2).standard_normal((6, 3))
    with pytest.raises(hc.InvalidInputError, match="include_faces"):
        hc.chambers(X, method="sample", include_faces=True, n_samples=100, seed=0)
    # 32 chambers fit in 20 kB, the faces (Σ_j C(6, j) Cover(6, 3 − j) = 154) do not
    assert hc.chambers(X, method="exact", memory_limit=20_000).count == 32
    with pytest.raises(hc.ResourceLimitError, match="faces"):
        hc.chambers(X, method="exact", include_faces=True, memory_limit=20_000)
    ch = hc.chambers(X, method="exact", include_faces=True)
    assert _pattern_set(ch.patterns) == {
        np.packbits(np.array(f, bool)).tobytes() for f in brute_force_faces(X)
    }
