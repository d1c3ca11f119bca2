"""Bad-input contract of the estimators, objectives, I/O and CLI (issue 19, items 3, 4, 7, 9-12,
14, 18): every impossible or malformed request gets the library's documented error class, naming
the argument, before any large allocation; each test here failed on the code before the fix."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex.app import cli
from hiddenconvex.exceptions import (
    HiddenConvexError,
    InvalidInputError,
    InvalidTypeError,
    NumericalError,
    ResourceLimitError,
)


@pytest.fixture
def data(rng):
    X = rng.standard_normal((12, 2))
    y = rng.standard_normal(12)
    return X, y


# ---------------------------------------------------------------------------------------------
# item 3: compare_convex_nonconvex(convex=model) checks the model's problem
# ---------------------------------------------------------------------------------------------
def _fitted(X, y, beta, **kw):
    return hc.ConvexReLU(beta, tol=1e-6, **kw).fit(X, y)


def test_compare_accepts_the_matching_prefitted_model(data):
    X, y = data
    model = _fitted(X, y, 0.5)
    res = hc.compare_convex_nonconvex(X, y, 0.5, convex=model, seeds=1, epochs=5)
    assert res.convex_objective == pytest.approx(model.objective_, rel=0, abs=0)


@pytest.mark.parametrize(
    "change, word",
    [
        ({"beta": 0.7}, "beta"),
        ({"bias": True}, "bias"),
        ({"X": "scaled"}, "X or y"),
        ({"y": "shifted"}, "X or y"),
        ({"rows": 10}, "X"),
    ],
)
def test_compare_refuses_a_model_fitted_on_another_problem(data, change, word):
    X, y = data
    model = _fitted(X, y, 0.5)
    Xc, yc, beta, bias = X, y, 0.5, False
    if "beta" in change:
        beta = change["beta"]
    if "bias" in change:
        bias = True
    if change.get("X") == "scaled":
        Xc = X * 2.0
    if change.get("y") == "shifted":
        yc = y + 1.0
    if "rows" in change:
        Xc, yc = X[:10], y[:10]
    with pytest.raises(InvalidInputError, match=rf"convex: .*differs in {word}"):
        hc.compare_convex_nonconvex(Xc, yc, beta, bias=bias, convex=model, seeds=1, epochs=2)


def test_compare_refuses_other_loss_and_scaling(data):
    X, y = data
    yl = np.where(y > 0, 1.0, -1.0)
    m_sq = _fitted(X, yl, 0.5)
    with pytest.raises(InvalidInputError, match="loss"):
        hc.compare_convex_nonconvex(X, yl, 0.5, loss="logistic", convex=m_sq, seeds=1, epochs=2)
    m_mean = _fitted(X, y, 0.5, scaling="mean")
    with pytest.raises(InvalidInputError, match="scaling"):
        hc.compare_convex_nonconvex(X, y, 0.5, convex=m_mean, seeds=1, epochs=2)


def test_compare_checks_a_duck_typed_model_by_its_network(data):
    """An independent estimator (the cvxpy oracle) is accepted on its own data and refused on
    other data: its network does not attain its objective there."""
    pytest.importorskip("cvxpy")
    from _reference_story import CvxpyConvexReLU, lp_patterns

    X, y = data
    model = CvxpyConvexReLU(0.5, lp_patterns(X)).fit(X, y)
    res = hc.compare_convex_nonconvex(X, y, 0.5, convex=model, seeds=1, epochs=3)
    assert res.convex_objective == model.objective_
    with pytest.raises(InvalidInputError, match="X or y"):
        hc.compare_convex_nonconvex(X * 2.0, y, 0.5, convex=model, seeds=1, epochs=3)
    with pytest.raises(InvalidInputError, match="beta"):
        hc.compare_convex_nonconvex(X, y, 0.25, convex=model, seeds=1, epochs=3)


def test_compare_convex_of_wrong_type_or_unfitted(data):
    X, y = data
    with pytest.raises(InvalidTypeError, match="convex"):
        hc.compare_convex_nonconvex(X, y, 0.5, convex="model", seeds=1, epochs=2)
    with pytest.raises(InvalidTypeError, match="convex"):
        gated = hc.ConvexGatedReLU(0.5).fit(X, y)
        hc.compare_convex_nonconvex(X, y, 0.5, convex=gated, seeds=1, epochs=2)
    with pytest.raises(InvalidInputError, match="not fitted"):
        hc.compare_convex_nonconvex(X, y, 0.5, convex=hc.ConvexReLU(0.5), seeds=1, epochs=2)


# ---------------------------------------------------------------------------------------------
# item 7: impossible sizes refused with the estimate, before allocating
# ---------------------------------------------------------------------------------------------
def _assert_resource(fn, *words):
    with pytest.raises(ResourceLimitError) as info:
        fn()
    msg = str(info.value)
    assert "GiB" in msg and "bytes, estimate" in msg, msg
    for w in words:
        assert w in msg, msg


def test_unchecked_allocations_are_refused(data):
    X, y = data
    Xb = np.random.default_rng(0).standard_normal((200, 10))
    yb = Xb[:, 0]
    Q = hc.Quadratic(np.eye(3))
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    _assert_resource(
        lambda: hc.midpoint_test(lambda t: float(t @ t), dim=10**9, n_pairs=2), "D = 1000000000"
    )
    _assert_resource(lambda: hc.TwoLayerReLU(X, y, 10**9), "argument m")
    _assert_resource(lambda: hc.train_relu_network(Xb, yb, 10**7, 0.1, epochs=1), "m = 10000000")
    _assert_resource(
        lambda: hc.ConvexReLU(0.1, patterns="sample", n_patterns=10**9).fit(X, y), "n_patterns"
    )
    _assert_resource(lambda: hc.MLP(X, y, [10**6] * 2).init(0), "argument hidden")
    _assert_resource(lambda: hc.slice_2d(Q, np.zeros(3), e1, e2, grid=10**6), "grid=1000000")
    _assert_resource(lambda: hc.train_relu_network(X, y, 3, 0.1, epochs=10**12), "epochs")
    _assert_resource(
        lambda: hc.compare_convex_nonconvex(X, y, 0.5, epochs=10**12, seeds=1), "epochs"
    )


def test_noise_estimation_holds_a_bounded_number_of_copies(monkeypatch):
    """Plain-callable noise estimation evaluates its lines a few at a time (at most
    NOISE_BATCH_VALUES coordinates per call), with the same σ as all at once."""
    from hiddenconvex import midpoint

    D = 50_000
    sizes = []

    def f(T):
        sizes.append(T.size)
        return np.sum(np.sin(T), axis=1)

    pts = np.random.default_rng(1).standard_normal((12, D))
    ref = midpoint.estimate_noise(f, pts, dim=D, vectorized=True, seed=3)
    assert max(sizes) <= midpoint.NOISE_BATCH_VALUES
    monkeypatch.setattr(midpoint, "NOISE_BATCH_VALUES", 10**9)
    sizes.clear()
    again = midpoint.estimate_noise(f, pts, dim=D, vectorized=True, seed=3)
    assert max(sizes) > 12 * 8 * D - 1  # all the lines in one call: the old behaviour
    assert again.sigma == ref.sigma and np.array_equal(again.sigmas, ref.sigmas)


# ---------------------------------------------------------------------------------------------
# items 11 and 12: wrong values and types get the library's errors, naming the argument
# ---------------------------------------------------------------------------------------------
def test_huge_integers_and_odd_sequences(data):
    X, y = data
    Q = hc.Quadratic(np.eye(3))
    with pytest.raises(InvalidInputError, match="n_pairs"):
        hc.midpoint_test(Q, n_pairs=2**64)
    with pytest.raises(InvalidInputError, match="n_pairs"):
        hc.midpoint_test(Q, n_pairs=2**63 - 1)  # x 3 scales: over the core's record count
    with pytest.raises(ResourceLimitError, match="keep_arrays=False"):
        hc.midpoint_test(Q, n_pairs=10**9)
    with pytest.raises(InvalidInputError, match="n_samples"):
        hc.chambers(X, method="sample", n_samples=2**64)
    with pytest.raises(InvalidInputError, match="groups"):
        hc.midpoint_test(Q, n_pairs=4, normalization="filter", groups=[[-1, 0]])
    with pytest.raises(InvalidTypeError, match="^t: "):
        hc.midpoint_test(Q, n_pairs=4, t=None)
    r = hc.midpoint_test(Q, n_pairs=4, scales=np.int64(2), seed=0)
    assert r.pairs_tested == 4
    with pytest.raises(InvalidTypeError, match="hidden"):
        hc.MLP(X, y, hidden=5)


def test_pattern_bound_and_cover_count_edges():
    assert hc.pattern_bound(10**4, 1000) == math.inf
    # n <= r: the exact 2^n, at least the true count (2 patterns of one point)
    assert hc.pattern_bound(1, 1) == 2.0 == hc.cover_count(1, 1)
    for n in range(1, 12):
        for r in range(1, 14):
            assert hc.pattern_bound(n, r) >= hc.cover_count(n, r) * (1 - 1e-12)
    # rank 0: the zero matrix has one chamber, and enumeration agrees with the count
    assert hc.cover_count(5, 0) == 1
    zeros = np.zeros((5, 3))
    assert hc.chamber_count(zeros) == 1
    assert hc.chambers(zeros, method="exact").count == 1
    assert hc.cover_count(0, 0) == 1 and hc.cover_count(3, 7) == 8


def test_score_and_labels(data):
    X, y = data
    model = hc.ConvexReLU(0.5).fit(X, y)
    with pytest.raises(InvalidInputError, match="y: expected shape"):
        model.score(X, y[:3])
    labels = [1, None, 1, -1, -1, 1, None, 1, 1, -1, 1, -1]
    with pytest.raises(InvalidInputError, match="None"):
        hc.ConvexReLU(0.5, loss="logistic").fit(X, labels)
    yl = np.where(y > 0, 1.0, -1.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        hc.ConvexReLU(0.5, loss="logistic").fit(X, np.where(np.arange(12) == 3, np.nan, yl))
    with pytest.raises(InvalidTypeError, match="complex"):
        hc.ConvexReLU(0.5, loss="logistic").fit(X, yl + 1j * (np.arange(12) == 2))
    clf = hc.ConvexReLU(0.5, loss="logistic").fit(X, np.where(yl > 0, "a", "b"))
    assert 0.0 <= clf.score(X, np.where(yl > 0, "a", "b")) <= 1.0


@pytest.mark.parametrize("ret", ["str", "complex", "none", "object"])
def test_vectorised_callable_returning_non_reals(ret):
    def f(T):
        v = np.sum(T * T, axis=1)
        return {
            "str": v.astype(str),
            "complex": v + 1j,
            "none": None,
            "object": np.array([object()] * len(T), dtype=object),
        }[ret]

    with pytest.raises(InvalidTypeError, match="real numbers"):
        hc.hessian(f, np.zeros(3), dim=3, vectorized=True)
    with pytest.raises(InvalidTypeError, match="real numbers"):
        hc.midpoint_test(f, dim=3, vectorized=True, n_pairs=4)


@pytest.mark.parametrize(
    "call",
    [
        lambda X, y: hc.ConvexReLU(0.5, bias="no").fit(X, y),
        lambda X, y: hc.TwoLayerReLU(X, y, 3, bias="no"),
        lambda X, y: hc.MLP(X, y, [3], bias="no"),
        lambda X, y: hc.LeastSquares(X, y, bias="no"),
        lambda X, y: hc.hessian(hc.LeastSquares(X, y), np.zeros(2), richardson="no"),
        lambda X, y: hc.midpoint_test(hc.LeastSquares(X, y), n_pairs=3, keep_arrays="no"),
        lambda X, y: hc.midpoint_test(hc.LeastSquares(X, y), n_pairs=3, include_biases=1),
        lambda X, y: hc.hessian(lambda T: T.sum(1), np.zeros(2), dim=2, vectorized="yes"),
        lambda X, y: hc.filter_groups(hc.TwoLayerReLU(X, y, 3), include_biases="no"),
    ],
)
def test_non_bool_flags_are_refused(data, call):
    X, y = data
    with pytest.raises(InvalidTypeError, match="expected a bool"):
        call(X, y)


def test_bad_numbers_are_refused(data):
    X, y = data
    Q = hc.Quadratic(np.eye(3))
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    with pytest.raises(InvalidInputError, match="beta"):
        hc.TwoLayerReLU(X, y, 3, beta=np.nan)
    with pytest.raises(InvalidInputError, match="beta"):
        hc.ConvexReLU(-1.0).fit(X, y)
    with pytest.raises(InvalidInputError, match="extent"):
        hc.slice_2d(Q, np.zeros(3), e1, e2, extent=-1)
    with pytest.raises(InvalidInputError, match="solver"):
        hc.fit_memory_estimate("foo", "relu", 10, 3, 10)
    with pytest.raises(InvalidInputError, match="kind"):
        hc.fit_memory_estimate("ipm", "bar", 10, 3, 10)
    with pytest.raises(InvalidInputError, match="^n: "):
        hc.fit_memory_estimate("ipm", "relu", -10, 3, 10)
    assert hc.fit_memory_estimate("fista", "relu", 10, 3, 10) > 0


def test_hessian_step_below_the_resolvable_scale():
    """A relative step below machine epsilon leaves θ + h == θ: refused with that reason
    (it gave 'nonfinite' from finite values, or H = 0 and 'psd' for a concave quadratic)."""
    neg = hc.Quadratic(-np.eye(3))
    for step, method in [(1e-300, "values"), (1e-300, "gradients"), (1e-20, "values")]:
        with pytest.raises(InvalidInputError, match="below the resolvable scale"):
            hc.hessian(neg, np.ones(3), step=step, method=method)
    r = hc.hessian(neg, np.ones(3), step=1e-4, method="values")
    assert r.verdict == ["indefinite"]


# ---------------------------------------------------------------------------------------------
# item 10: load / save
# ---------------------------------------------------------------------------------------------
def _saved(tmp_path, suffix=".json"):
    res = hc.hessian(hc.Quadratic(np.eye(2)), np.zeros(2))
    return res, res.save(tmp_path / f"r{suffix}")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.pop("fields"),
        lambda h: h.update(fields=[1, 2]),
        lambda h: h.update(kind=["HessianResult"]),
        lambda h: h.update(kind=None),
        lambda h: h["fields"].pop("H"),
        lambda h: h["fields"].update(step="large"),
        lambda h: h["fields"].update(verdict=7),
        lambda h: h["fields"].update(H={"__ndarray__": [1], "dtype": "nonsense", "shape": [1]}),
        lambda h: h["fields"].update(
            H={"__ndarray__": [1, 2, 3], "dtype": "float64", "shape": [2]}
        ),
        lambda h: h["fields"].update(H={"__result__": "Nope", "fields": {}}),
    ],
)
def test_load_malformed_headers_raise_the_library_error(tmp_path, mutate):
    _, path = _saved(tmp_path)
    header = json.loads(path.read_text())
    mutate(header)
    path.write_text(json.dumps(header))
    with pytest.raises(hc.io.ResultFileError) as info:
        hc.load(path)
    assert isinstance(info.value, InvalidInputError)
    assert str(path) in str(info.value)


def test_load_npz_with_missing_array(tmp_path):
    _, path = _saved(tmp_path, ".npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "field:H"}
    np.savez(path, **arrays)
    with pytest.raises(hc.io.ResultFileError, match="missing"):
        hc.load(path)


def test_save_keeps_the_mode_of_an_overwritten_file_and_uses_the_umask(tmp_path):
    res, path = _saved(tmp_path)
    os.chmod(path, 0o644)
    res.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    os.chmod(path, 0o640)
    res.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    old = os.umask(0o027)
    try:
        new = res.save(tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640  # 0o666 & ~0o027, as open() gives


def test_stale_temporary_files_of_killed_saves_are_removed(tmp_path):
    res, path = _saved(tmp_path)
    # a writer killed by SIGKILL mid-save: its temporary file stays, its pid is gone
    code = (
        "import os, tempfile, sys; from pathlib import Path; p = Path(sys.argv[1]);"
        "fd, t = tempfile.mkstemp(prefix=f'.{p.name}.hctmp-{os.getpid()}-', suffix='.tmp',"
        " dir=p.parent); os.write(fd, b'partial'); os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    assert proc.returncode == -9
    stale = list(tmp_path.glob(".r.json.hctmp-*"))
    assert len(stale) == 1
    res.save(path)
    assert list(tmp_path.glob(".r.json.hctmp-*")) == []
    assert hc.load(path).H.shape == res.H.shape


def test_save_onto_a_directory(tmp_path):
    res, _ = _saved(tmp_path)
    (tmp_path / "d.json").mkdir()
    with pytest.raises(InvalidInputError, match="is a directory"):
        res.save(tmp_path / "d.json")


# ---------------------------------------------------------------------------------------------
# items 4, 9, 14: the report and the CLI
# ---------------------------------------------------------------------------------------------
def _csv(path: Path, X: np.ndarray, y: np.ndarray, names=None) -> Path:
    names = names or [f"x{j}" for j in range(X.shape[1])]
    lines = [",".join([*names, "y"])]
    lines += [
        ",".join([*(repr(float(v)) for v in row), repr(float(t))])
        for row, t in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_report_on_extreme_feature_scales_matches_unit_scale(tmp_path, scale):
    """Standardisation is scale-safe: features ×1e±200 give the unscaled analysis and a note."""
    from hiddenconvex.datasets import prepare

    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    y = X[:, 0] - X[:, 1] ** 2
    a = prepare(X, y, task="regression", seed=0)
    b = prepare(X * scale, y * scale, task="regression", seed=0)
    assert np.all(np.isfinite(b.X_train)) and np.all(np.isfinite(b.y_train))
    np.testing.assert_allclose(b.X_train, a.X_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.y_train, a.y_train, rtol=1e-12, atol=1e-12)
    from hiddenconvex.app.report import plan_data

    _, _, _, notes, plan = plan_data(X * scale, y, ["a", "b", "c"], task="regression")
    assert plan["extreme_magnitude_columns"] == ["a", "b", "c"]
    assert any("scale-safely" in n for n in notes)


def test_report_constant_columns(tmp_path, capsys):
    from hiddenconvex.app.report import DataError, plan_data

    rng = np.random.default_rng(6)
    X = np.column_stack([rng.standard_normal(30), np.full(30, 3.0), rng.standard_normal(30)])
    y = X[:, 0]
    X2, _, names, notes, plan = plan_data(X, y, ["a", "const", "c"], task="regression")
    assert names == ["a", "c"] and X2.shape == (30, 2)
    assert plan["dropped_constant_columns"] == ["const"]
    assert any("constant" in n for n in notes)
    with pytest.raises(DataError, match="every feature column is constant"):
        plan_data(np.ones((30, 2)), y, ["a", "b"], task="regression")
    path = _csv(tmp_path / "c.csv", np.ones((30, 2)), y)
    rc = cli.main(["report", "--data", str(path), "--target", "y", "-q", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == cli.EXIT_INPUT and len(err) == 1 and "constant" in err[0]


def test_report_plans_large_data(tmp_path, monkeypatch):
    """10^5 rows: a seeded stratified subsample, said in the report; the report finishes."""
    import hiddenconvex.app.report as report_mod
    from hiddenconvex.app.report import REPORT_MAX_ROWS, plan_data

    rng = np.random.default_rng(7)
    n = 100_000
    X = rng.standard_normal((n, 4))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(n) > 0.5, 1.0, -1.0)
    Xs, ys, _, notes, plan = plan_data(X, y, list("abcd"), task="classification", seed=1)
    assert plan["subsampled"] and plan["rows"] == n
    assert abs(plan["rows_used"] - REPORT_MAX_ROWS) <= 2
    assert abs(np.mean(ys == 1) - np.mean(y == 1)) < 0.01  # stratified
    again = plan_data(X, y, list("abcd"), task="classification", seed=1)
    assert np.array_equal(again[0], Xs)  # seeded
    assert any("subsample" in n_ for n_ in notes)
    # and the command itself, end to end (quick, a smaller row budget to keep the test short),
    # writes the report with the plan in it
    monkeypatch.setattr(report_mod, "REPORT_MAX_ROWS", 300)
    path = _csv(tmp_path / "big.csv", X[:, :2], y)
    out = tmp_path / "out"
    rc = cli.main(["report", "--data", str(path), "--target", "y", "--quick", "-q",
                   "--out", str(out)])  # fmt: skip
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["details"]["plan"]["subsampled"] is True
    assert res["details"]["plan"]["rows_used"] in (149, 150, 151)
    assert "subsample" in (out / "index.html").read_text()


def test_cli_width_too_large_is_a_resource_error(tmp_path, capsys):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((60, 2))
    path = _csv(tmp_path / "w.csv", X, X[:, 0])
    rc = cli.main(["report", "--data", str(path), "--target", "y", "-q", "--width", "1000000000",
                   "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == cli.EXIT_RESOURCE and len(err) == 1 and "GiB" in err[0]


@pytest.mark.parametrize(
    "exc, code",
    [
        (HiddenConvexError("internal error in the Rust core (please report): boom\nline 2"), 1),
        (RuntimeError("unexpected"), 1),
        (ValueError("bare"), 1),
        (InvalidInputError("x: bad"), 2),
        (InvalidTypeError("x: bad type"), 2),
        (ResourceLimitError("too big"), 3),
        (MemoryError(), 3),
        (NumericalError("diverged"), 4),
        (PermissionError(13, "Permission denied"), 5),
        (KeyboardInterrupt(), 130),
    ],
)
def test_cli_exit_codes_one_line(monkeypatch, capsys, tmp_path, exc, code):
    import hiddenconvex.app.report as report_mod

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(report_mod, "run_report", boom)
    rc = cli.main(["report", "--data", "x.csv", "--target", "y", "-q", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code == cli.exit_code_of(exc)
    assert len(err) == 1, err
    assert "Traceback" not in err[0]


def test_cli_panic_exception_is_an_internal_error(monkeypatch, capsys, tmp_path):
    """PanicException derives from BaseException: still one line and the internal code."""
    import hiddenconvex.app.report as report_mod

    class PanicException(BaseException):
        pass

    def boom(*a, **k):
        raise PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(report_mod, "run_report", boom)
    rc = cli.main(["report", "--data", "x.csv", "--target", "y", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == cli.EXIT_INTERNAL and len(err) == 1 and "internal error" in err[0]


def test_cli_help_documents_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for k in cli.EXIT_CODES:
        assert f"  {k:>3}  " in out


# ---------------------------------------------------------------------------------------------
# item 18: the default GD step does not diverge
# ---------------------------------------------------------------------------------------------
def test_default_gd_never_diverges_over_many_runs():
    """52 runs over seeds, data scales, widths and losses: the default step (backtracking from
    0.25/‖X̃‖²) never diverges and never increases the objective."""
    rng = np.random.default_rng(2026)
    runs = 0
    for k in range(13):
        n, d = int(rng.integers(8, 60)), int(rng.integers(1, 6))
        X = rng.standard_normal((n, d)) * float(rng.choice([0.1, 1.0, 10.0]))
        yr = rng.standard_normal(n) * float(rng.choice([1.0, 30.0]))
        for loss, y in (("squared", yr), ("logistic", np.where(yr > 0, 1.0, -1.0))):
            for m in (int(rng.integers(1, 4)), int(rng.integers(20, 80))):
                r = hc.train_relu_network(X, y, m, float(rng.choice([0.0, 1e-3, 1.0])),
                                          epochs=60, seed=k, loss=loss, bias=bool(k % 2))  # fmt: skip
                runs += 1
                assert np.all(np.isfinite(r.objective))
                assert np.all(np.diff(r.objective) <= 1e-12 * np.abs(r.objective[:-1]) + 1e-300)
    assert runs == 52


@pytest.mark.parametrize("name, m", [("circle", 200), ("sine", 64), ("xor", 200)])
def test_default_gd_on_wide_networks_does_not_diverge(name, m):
    """These runs diverged (NumericalError within 10 epochs) with the fixed step 0.25/‖X̃‖²:
    the curvature grows with the width m."""
    from hiddenconvex.datasets import load_dataset

    ds = load_dataset(name)
    r = hc.train_relu_network(ds.X_train, ds.y_train, m, 1e-4, epochs=30, seed=0)
    assert r.line_search and np.all(np.isfinite(r.objective))
    assert r.final_objective < r.objective[0]
    assert np.all(np.diff(r.objective) <= 0.0)


def test_core_panic_is_one_internal_error_and_prints_nothing():
    """A panic in the core is raised as HiddenConvexError (internal error, with where it
    happened) and the default hook's 'thread … panicked at' lines are not printed."""
    code = (
        "import hiddenconvex as hc\n"
        "try:\n"
        "    hc._core._panic_probe('probe 42')\n"
        "except hc.HiddenConvexError as e:\n"
        "    assert not isinstance(e, (hc.InvalidInputError, hc.ResourceLimitError)), e\n"
        "    print('caught:', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "caught: internal error" in proc.stdout and "probe 42" in proc.stdout
    assert ".rs:" in proc.stdout  # the location is in the exception
    assert proc.stderr == ""  # nothing from the panic hook


def test_cli_internal_error_from_a_core_panic(monkeypatch, capsys, tmp_path):
    import hiddenconvex.app.report as report_mod

    def boom(*a, **k):
        hc._core._panic_probe("unexpected state")

    monkeypatch.setattr(report_mod, "run_report", boom)
    rc = cli.main(["report", "--data", "x.csv", "--target", "y", "-q", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == cli.EXIT_INTERNAL
    assert len(err) == 1 and "internal error" in err[0] and "unexpected state" in err[0]
