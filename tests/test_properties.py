"""Property-based fuzzing of the public entry points (Hypothesis).

For arrays of random shape, dtype, scale and NaN/inf placement and random option values, every
public function either returns a valid result or raises one of the library's documented
exceptions (:class:`InvalidInputError`, :class:`InvalidTypeError`, :class:`ResourceLimitError`,
and :class:`NumericalError` where documented) — never another exception type. Where the answer
is invariant, it does not change under row order, positive row scaling or dtype.

Bounded and reproducible: small sizes, ``derandomize=True`` (the same examples on every run),
``deadline=None``; the whole file runs in about a minute on 2 cores.
"""

from __future__ import annotations

import warnings
from typing import Any

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex.exceptions import (
    HiddenConvexError,
    InvalidInputError,
    InvalidTypeError,
    NumericalError,
    ResourceLimitError,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=25)

#: The documented error classes of input problems.
DOCUMENTED = (InvalidInputError, InvalidTypeError, ResourceLimitError)


def contract(fn: Any, *args: Any, allowed: tuple[type, ...] = DOCUMENTED, **kw: Any) -> Any:
    """Call ``fn``; return its result, or None if it raised a documented library error. Any
    other exception fails the test (warnings are not errors here: they are the user's to see)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kw)
        except allowed as exc:
            assert isinstance(exc, HiddenConvexError)
            assert str(exc), "library errors carry a message"
            return None
        except BaseException as exc:  # pragma: no cover - a failure is reported below
            if isinstance(exc, KeyboardInterrupt):
                raise
            pytest.fail(f"{fn.__name__} raised {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------
DTYPES = ["float64", "float32", "int64", "bool", "complex128", "object", "str"]
SCALES = [1.0, 1e-3, 1e3, 1e-150, 1e150, 1e300]


@st.composite
def arrays(draw: Any, max_rows: int = 7, max_cols: int = 3, ndim: int | None = 2) -> Any:
    """Arrays of random shape (empty axes included), dtype, scale and NaN/inf placement; also
    nested lists, scalars and None now and then."""
    kind = draw(st.sampled_from(["array"] * 8 + ["list", "scalar", "none", "ragged"]))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(st.sampled_from([0.0, 1.5, np.nan, "x", 3]))
    if kind == "ragged":
        return [[1.0, 2.0], [3.0]]
    nd = draw(st.sampled_from([1, 2, 2, 2, 3])) if ndim is None else ndim
    shape = tuple(
        draw(st.integers(0, max_rows if k == 0 else max_cols))
        if draw(st.integers(0, 9)) == 0
        else draw(st.integers(1, max_rows if k == 0 else max_cols))
        for k in range(nd)
    )
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(shape) * draw(st.sampled_from(SCALES))
    bad = draw(st.sampled_from(["none"] * 6 + ["nan", "inf", "-inf"]))
    if bad != "none" and base.size:
        base.flat[draw(st.integers(0, base.size - 1))] = float(bad)
    dtype = draw(st.sampled_from(DTYPES + ["float64"] * 6))
    if dtype == "str":
        out: Any = base.astype(str)
    elif dtype == "object":
        out = base.astype(object)
    elif dtype in ("int64", "bool"):
        with np.errstate(invalid="ignore"):
            out = np.nan_to_num(np.round(base), posinf=1e9, neginf=-1e9).clip(-1e9, 1e9)
        out = out.astype(dtype)
    else:
        with np.errstate(over="ignore"):
            out = base.astype(dtype)
    if kind == "list":
        return out.tolist()
    if draw(st.booleans()) and out.ndim == 2:
        out = np.asfortranarray(out)
    return out


FLAGS = st.sampled_from([True, False, True, False, "no", 1, 0, None, np.bool_(True)])
BETAS = st.sampled_from([0.0, 1e-3, 0.5, 10.0, -1.0, np.nan, np.inf, "a", None, 2])
SIZES = st.sampled_from([1, 2, 5, 0, -1, 2**64, 2.5, "3", None, np.int64(3)])
LOSSES = st.sampled_from(["squared", "logistic", "hinge", "huber", "foo", None, 3])


def good_data(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)


# ---------------------------------------------------------------------------------------------
# contract: documented errors or valid results
# ---------------------------------------------------------------------------------------------
@FUZZ
@given(X=arrays(), bias=FLAGS, method=st.sampled_from(["auto", "exact", "sample", "nope", None]))
def test_chambers_contract(X, bias, method):
    res = contract(hc.chambers, X, method=method, bias=bias, n_samples=50, seed=0)
    if res is not None:
        assert res.count == res.patterns.shape[0] >= 1
        assert res.patterns.shape[1] == np.asarray(X).shape[0]
    cnt = contract(hc.chamber_count, X, bias=bias)
    if cnt is not None:
        assert cnt >= 1


@FUZZ
@given(n=SIZES, r=SIZES)
def test_counts_contract(n, r):
    c = contract(hc.cover_count, n, r)
    if c is not None:
        assert isinstance(c, int) and c >= 1
    b = contract(hc.pattern_bound, n, r)
    if b is not None:
        assert b >= 1.0
        if c is not None and int(r) <= int(n) - 1:
            assert b >= c * (1 - 1e-12)


@FUZZ
@given(X=arrays(), y=arrays(ndim=1), bias=FLAGS, l2=BETAS, which=st.integers(0, 2))
def test_linear_objectives_contract(X, y, bias, l2, which):
    cls = (hc.LeastSquares, hc.LogisticRegression, hc.HingeLoss)[which]
    obj = contract(cls, X, y, bias=bias, l2=l2)
    if obj is not None:
        theta = np.zeros(obj.dim)
        v = contract(obj.value, theta)
        assert v is None or isinstance(v, float)


@FUZZ
@given(
    X=arrays(),
    y=arrays(ndim=1),
    hidden=st.sampled_from([[2], [3, 2], [], 5, [0], [-1], ["a"], None, [2**64]]),
    act=st.sampled_from(["relu", "tanh", "softplus", "sigmoid", "gelu"]),
    loss=LOSSES,
    bias=FLAGS,
)
def test_mlp_contract(X, y, hidden, act, loss, bias):
    obj = contract(hc.MLP, X, y, hidden, activation=act, loss=loss, bias=bias)
    if obj is not None:
        theta = obj.init(0)
        assert theta.shape == (obj.dim,)
        contract(obj.value, theta)


@FUZZ
@given(
    pts=arrays(max_rows=3, max_cols=3, ndim=None),
    method=st.sampled_from(["auto", "values", "gradients", "x"]),
    step=st.sampled_from([None, 1e-4, 1e-300, 0.0, -1.0, np.nan, "s"]),
    richardson=FLAGS,
    ret=st.sampled_from(["ok", "nan", "str", "complex", "none", "short"]),
)
def test_hessian_contract(pts, method, step, richardson, ret):
    def f(T):
        v = np.sum(np.asarray(T) ** 2, axis=-1)
        return {
            "ok": v,
            "nan": v * np.nan,
            "str": v.astype(str),
            "complex": v + 1j,
            "none": None,
            "short": v[:1],
        }[ret]

    for obj, kw in ((hc.Quadratic(np.eye(3)), {}), (f, {"dim": 3, "vectorized": True})):
        res = contract(hc.hessian, obj, pts, method=method, step=step, richardson=richardson, **kw)
        if res is not None:
            assert res.H.shape[1:] == (3, 3)
            assert set(res.verdict) <= {"psd", "indefinite", "unreliable", "nonfinite"}


@FUZZ
@given(
    n_pairs=SIZES,
    scales=st.sampled_from([(1.0,), 1.0, np.int64(2), [], [0.0], [np.nan], None, "a"]),
    t=st.sampled_from([0.5, (0.25, 0.75), 0.0, 1.0, None, [np.nan], "t"]),
    normalization=st.sampled_from([None, "filter", "x"]),
    groups=st.sampled_from([None, [[0, 1]], [[-1, 0]], [[0, 9]], [[0.5]], []]),
    keep=FLAGS,
)
def test_midpoint_contract(n_pairs, scales, t, normalization, groups, keep):
    obj = hc.LeastSquares(*good_data(0, 8, 3))
    res = contract(
        hc.midpoint_test,
        obj,
        n_pairs=n_pairs,
        scales=scales,
        t=t,
        normalization=normalization,
        groups=groups,
        keep_arrays=keep,
        seed=0,
    )
    if res is not None:
        assert 0 <= res.n_violations <= res.pairs_tested


@FUZZ
@given(
    theta=arrays(max_rows=4, ndim=1),
    grid=st.sampled_from([3, 1, 0, 10**6, "a", (np.linspace(-1, 1, 3), np.zeros(2))]),
    extent=st.sampled_from([1.0, 0.0, -1.0, np.nan, "e"]),
)
def test_slices_contract(theta, grid, extent):
    Q = hc.Quadratic(np.eye(4))
    e1, e2 = np.eye(4)[0], np.eye(4)[1]
    res = contract(hc.slice_2d, Q, theta, e1, e2, grid, extent=extent)
    if res is not None:
        assert res.values.shape == (res.alphas.size, res.betas.size)
    contract(hc.slice_1d, Q, theta, e1)


@FEW
@given(
    X=arrays(max_rows=6, max_cols=2),
    y=arrays(max_rows=6, ndim=1),
    beta=BETAS,
    loss=LOSSES,
    bias=FLAGS,
    patterns=st.sampled_from(["exact", "sample", "x", None]),
    n_patterns=st.sampled_from([None, 5, 0, 2**64, 10**9]),
)
def test_convex_relu_contract(X, y, beta, loss, bias, patterns, n_patterns):
    est = hc.ConvexReLU(beta, loss=loss, bias=bias, patterns=patterns, n_patterns=n_patterns,
                        max_iter=300, seed=0)  # fmt: skip
    fitted = contract(est.fit, X, y)
    if fitted is not None:
        assert np.isfinite(fitted.objective_)
        contract(fitted.score, X, y)
        contract(fitted.score, X, np.asarray(y)[:1])


@FEW
@given(
    X=arrays(max_rows=6, max_cols=2),
    y=arrays(max_rows=6, ndim=1),
    m=SIZES,
    beta=BETAS,
    optimizer=st.sampled_from(["gd", "sgd", "adam", "lbfgs"]),
    epochs=st.sampled_from([1, 3, 0, 10**12, "e"]),
    loss=LOSSES,
)
def test_training_contract(X, y, m, beta, optimizer, epochs, loss):
    res = contract(
        hc.train_relu_network,
        X,
        y,
        m,
        beta,
        optimizer=optimizer,
        epochs=epochs,
        loss=loss,
        seed=0,
        allowed=(*DOCUMENTED, NumericalError),
    )
    if res is not None:
        assert res.objective.shape == (res.epochs + 1,)


@FUZZ
@given(
    solver=st.sampled_from(["ipm", "fista", "auto", "foo", None]),
    kind=st.sampled_from(["relu", "gated", "x"]),
    n=SIZES,
    d=SIZES,
    p=SIZES,
)
def test_fit_memory_estimate_contract(solver, kind, n, d, p):
    est = contract(hc.fit_memory_estimate, solver, kind, n, d, p)
    assert est is None or (isinstance(est, int) and est > 0)


@FEW
@given(
    field=st.sampled_from(["H", "step", "verdict", "method", "elapsed_s", "kink"]),
    value=st.sampled_from([None, "x", 1, [1, 2], {"a": 1}, {"__ndarray__": 1}, 2.5]),
    suffix=st.sampled_from([".json", ".npz"]),
)
def test_load_contract(tmp_path_factory, field, value, suffix):
    import json

    path = tmp_path_factory.mktemp("load") / f"r{suffix}"
    hc.hessian(hc.Quadratic(np.eye(2)), np.zeros(2)).save(path)
    if suffix == ".json":
        header = json.loads(path.read_text())
        header["fields"][field] = value
        path.write_text(json.dumps(header))
    else:
        with np.load(path) as z:
            arrays_ = {k: z[k] for k in z.files}
        header = json.loads(bytes(arrays_["__header__"]).decode())
        header["fields"][field] = value
        arrays_["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        np.savez(path, **arrays_)
    contract(hc.load, path)


# ---------------------------------------------------------------------------------------------
# invariances: row order, positive row scaling, dtype
# ---------------------------------------------------------------------------------------------
@FUZZ
@given(seed=st.integers(0, 10**6), n=st.integers(2, 8), d=st.integers(1, 3), bias=st.booleans())
def test_chambers_invariant_under_row_order_scaling_and_dtype(seed, n, d, bias):
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, d)).astype(np.int64)  # integer data: degenerate cases too
    perm = rng.permutation(n)
    s = np.exp(rng.uniform(-5, 5, size=(n, 1)))
    base = hc.chambers(X, method="exact", bias=bias)
    assert hc.chamber_count(X, bias=bias) == base.count
    assert hc.chambers(X[perm], method="exact", bias=bias).count == base.count
    if not bias:  # the chambers of {u : x_i·u = 0} do not see a positive row scale
        assert hc.chambers(X * s, method="exact").count == base.count
    for dt in (np.float32, np.float64, np.int32):
        assert hc.chambers(X.astype(dt), method="exact", bias=bias).count == base.count
    # the patterns of the permuted data are those of the data, permuted
    P = {tuple(p) for p in np.asarray(base.patterns)}
    Q = {tuple(p[np.argsort(perm)]) for p in np.asarray(hc.chambers(X[perm], method="exact",
                                                                    bias=bias).patterns)}  # fmt: skip
    assert P == Q


@FEW
@given(seed=st.integers(0, 10**6), n=st.integers(3, 7), d=st.integers(1, 2))
def test_convex_relu_invariant_under_row_order_and_dtype(seed, n, d):
    X, y = good_data(seed, n, d)
    Xi = np.round(X * 4)  # exactly representable in float32 and int
    perm = np.random.default_rng(seed + 1).permutation(n)
    kw = {"tol": 1e-9, "max_iter": 5000}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = hc.ConvexReLU(0.5, **kw).fit(Xi, y).objective_
        per = hc.ConvexReLU(0.5, **kw).fit(Xi[perm], y[perm]).objective_
        f32 = hc.ConvexReLU(0.5, **kw).fit(Xi.astype(np.float32), y).objective_
        i64 = hc.ConvexReLU(0.5, **kw).fit(Xi.astype(np.int64), y).objective_
    assert per == pytest.approx(base, rel=1e-6, abs=1e-9)
    assert f32 == i64 == base  # the same float64 data after coercion: bit-identical


@FUZZ
@given(seed=st.integers(0, 10**6), n=st.integers(2, 9), d=st.integers(1, 4))
def test_objective_and_hessian_invariant_under_row_order_and_dtype(seed, n, d):
    X, y = good_data(seed, n, d)
    perm = np.random.default_rng(seed + 2).permutation(n)
    theta = np.random.default_rng(seed + 3).standard_normal(d)
    a = hc.LeastSquares(X, y)
    b = hc.LeastSquares(X[perm], y[perm])
    assert b.value(theta) == pytest.approx(a.value(theta), rel=1e-12, abs=1e-12)
    Ha = hc.hessian(a, theta).H[0]
    Hb = hc.hessian(b, theta).H[0]
    np.testing.assert_allclose(Hb, Ha, rtol=1e-6, atol=1e-8)
    Xi = np.round(X * 8)
    c32 = hc.LeastSquares(Xi.astype(np.float32), y).value(theta)
    c64 = hc.LeastSquares(Xi, y).value(theta)
    assert c32 == c64


@FEW
@given(seed=st.integers(0, 10**6), n=st.integers(3, 9), d=st.integers(1, 3))
def test_midpoint_verdict_invariant_under_row_order(seed, n, d):
    X, y = good_data(seed, n, d)
    perm = np.random.default_rng(seed + 4).permutation(n)
    a = hc.midpoint_test(hc.LeastSquares(X, y), n_pairs=50, seed=1)
    b = hc.midpoint_test(hc.LeastSquares(X[perm], y[perm]), n_pairs=50, seed=1)
    assert a.n_violations == b.n_violations == 0
    assert a.pairs_tested == b.pairs_tested


@FEW
@given(seed=st.integers(0, 10**6), n=st.integers(3, 9), d=st.integers(1, 3))
def test_training_invariant_under_row_order_and_dtype(seed, n, d):
    X, y = good_data(seed, n, d)
    perm = np.random.default_rng(seed + 5).permutation(n)
    a = hc.train_relu_network(X, y, 3, 0.1, epochs=10, seed=2)
    b = hc.train_relu_network(X[perm], y[perm], 3, 0.1, epochs=10, seed=2)
    np.testing.assert_allclose(b.objective, a.objective, rtol=1e-8, atol=1e-10)
    Xi = np.round(X * 4)
    c = hc.train_relu_network(Xi.astype(np.float32), y, 3, 0.1, epochs=5, seed=2)
    e = hc.train_relu_network(Xi, y, 3, 0.1, epochs=5, seed=2)
    assert np.array_equal(c.objective, e.objective)
