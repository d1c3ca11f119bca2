"""compare_convex_nonconvex: the seed paper's Figure 5 experiment as a function.

Oracle: the convex program solved by cvxpy + Clarabel over every activation pattern, enumerated by
one LP per sign vector (tests/_reference_story.py) — independent of the package's own solver. By
Theorem 1 its optimum is the global minimum of the non-convex objective, so no GD/SGD/Adam run may
end below it (minus the solver tolerance).
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest
from _reference_story import CvxpyConvexReLU, lp_patterns
from hiddenconvex.datasets import toy_circle

BETA = 1e-4


@pytest.fixture(scope="module")
def toy_reference():
    X, y = toy_circle(10, seed=0)
    model = CvxpyConvexReLU(BETA, lp_patterns(X)).fit(X, y)
    return X, y, model


@pytest.fixture(scope="module")
def toy_comparison(toy_reference):
    X, y, model = toy_reference
    return hc.compare_convex_nonconvex(
        X,
        y,
        BETA,
        convex=model,
        widths=["m*", "2m*"],
        seeds=10,
        optimizers=("gd", "sgd", "adam"),
        epochs=1500,
        batch_size={"sgd": 5},
    )


def test_no_run_below_the_convex_optimum(toy_reference, toy_comparison):
    X, y, model = toy_reference
    r = toy_comparison
    assert r.convex_objective == model.objective_
    assert r.convex_certified and r.convex_patterns == "exact"
    assert r.widths == [model.n_active_, 2 * model.n_active_]
    assert r.final.shape == (2, 3, 10) and r.curves.shape == (2, 3, 10, 1501)
    tol = max(model.duality_gap_, 1e-6 * model.objective_)
    assert r.tol == pytest.approx(tol)
    # Theorem 1: no run ends (or ever passes) below the global optimum
    assert np.all(r.final >= model.objective_ - tol)
    assert np.all(r.curves >= model.objective_ - tol)
    assert r.convex_below_every_run and not np.any(r.below)
    # and the comparison reports how many ended above it, and by how much
    rows = r.table()
    assert len(rows) == 6
    for row, (i, j) in zip(rows, [(i, j) for i in range(2) for j in range(3)], strict=True):
        ex = r.final[i, j] - model.objective_
        assert row["above"] == int(np.sum(ex > r.above_rtol * model.objective_ + tol))
        stationary = r.grad_norms[i, j] <= r.stuck_gtol
        assert row["stuck"] == int(
            np.sum((ex > r.above_rtol * model.objective_ + tol) & stationary)
        )
        assert row["max_excess"] == pytest.approx(ex.max())
        assert row["median_excess"] == pytest.approx(np.median(ex))
    assert 0.0 <= r.fraction_above <= 1.0
    text = r.summary()
    assert "certified global optimum" in text
    assert f"{int(np.sum(r.above))} ended above p*" in text


def test_recovered_network_attains_the_convex_optimum(toy_comparison, toy_reference):
    """Theorem 1 through the network: F(recovered U, α) = p* (cvxpy's tolerance)."""
    _, _, model = toy_reference
    assert toy_comparison.recovered_objective == pytest.approx(model.objective_, rel=1e-6)


def test_runs_are_the_single_training_runs(toy_reference, toy_comparison):
    X, y, _ = toy_reference
    r = toy_comparison
    single = hc.train_relu_network(
        X, y, r.widths[1], BETA, optimizer="sgd", epochs=1500, batch_size=5, seed=r.seeds[3]
    )
    np.testing.assert_allclose(r.curves[1, 1, 3], single.objective, rtol=1e-9)
    assert r.seeds == list(range(10))
    assert r.lrs["adam"] == 1e-2 and r.batch_sizes == {"gd": 10, "sgd": 5, "adam": 10}


def test_plot_is_a_valid_png(toy_comparison, tmp_path):
    from PIL import Image

    path = toy_comparison.plot(tmp_path / "fig5.png")
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 800


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_result_roundtrip(toy_comparison, tmp_path, suffix):
    r = toy_comparison
    back = hc.load(r.save(tmp_path / f"cmp{suffix}"))
    assert isinstance(back, hc.ComparisonResult)
    np.testing.assert_array_equal(back.curves, r.curves)
    np.testing.assert_array_equal(back.final, r.final)
    assert back.widths == r.widths and back.seeds == r.seeds and back.lrs == r.lrs
    assert back.convex_objective == r.convex_objective
    assert back.summary() == r.summary()


def test_sampled_convex_side_is_labelled_as_an_upper_bound(toy_reference):
    X, y, model = toy_reference

    class Sampled(CvxpyConvexReLU):
        patterns = "sample"

    sub = Sampled(BETA, lp_patterns(X)[::3]).fit(X, y)
    r = hc.compare_convex_nonconvex(X, y, BETA, convex=sub, widths=[3], seeds=2, epochs=20)
    assert not r.convex_certified and r.convex_patterns == "sampled"
    assert "upper bound" in r.convex_label
    assert sub.objective_ >= model.objective_ - 1e-7  # fewer patterns: a larger optimum


def test_width_and_seed_specifications(toy_reference):
    X, y, model = toy_reference
    m = model.n_active_
    r = hc.compare_convex_nonconvex(
        X,
        y,
        BETA,
        convex=model,
        widths=[2, "1.5m*", "m*"],
        seeds=[4, 9],
        epochs=3,
        optimizers=("adam",),
        lr={"adam": 0.05},
    )
    assert r.widths == [2, int(round(1.5 * m)), m]
    assert r.seeds == [4, 9] and r.lrs == {"adam": 0.05}


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(widths=["3x"]), hc.InvalidInputError, "widths: expected ints or 'm\\*'"),
        (dict(widths=[0]), hc.InvalidInputError, "widths: must be >= 1"),
        (dict(seeds=0), hc.InvalidInputError, "seeds: must be >= 1"),
        (dict(seeds="ten"), hc.InvalidTypeError, "seeds: expected a count"),
        (dict(optimizers=("rmsprop",)), hc.InvalidInputError, "optimizers: expected one of"),
        (dict(optimizers=()), hc.InvalidInputError, "optimizers: must not be empty"),
        (dict(lr={"sgd": 0.1}), hc.InvalidInputError, "lr: keys"),
        (dict(batch_size={"gd": 3}), hc.InvalidInputError, "batch_size: gradient descent"),
        (dict(patterns="all"), hc.InvalidInputError, "patterns: expected one of"),
        (dict(epochs=0), hc.InvalidInputError, "epochs: must be >= 1"),
    ],
)
def test_bad_inputs(toy_reference, kwargs, exc, match):
    X, y, model = toy_reference
    with pytest.raises(exc, match=match):
        hc.compare_convex_nonconvex(X, y, BETA, convex=model, **kwargs)


def test_bad_problem_inputs(toy_reference):
    X, y, model = toy_reference
    with pytest.raises(hc.InvalidInputError, match="y: expected length 10"):
        hc.compare_convex_nonconvex(X, y[:-1], BETA, convex=model)
    with pytest.raises(hc.InvalidInputError, match="beta: must be >= 0"):
        hc.compare_convex_nonconvex(X, y, -1.0, convex=model)


# ---------------------------------------------------------------------------------------------
# with the package's own convex solver
# ---------------------------------------------------------------------------------------------
def test_toy_with_convexrelu_matches_the_reference(toy_reference):
    """ConvexReLU with exact patterns (cvxpy path) reproduces the LP + cvxpy reference p*, and
    no GD/Adam run of 10 seeds at m* and 2m* ends below it (issue 4, §4)."""
    pytest.importorskip("cvxpy")
    X, y, ref = toy_reference
    r = hc.compare_convex_nonconvex(
        X, y, BETA, widths=["m*", "2m*"], seeds=10, epochs=800, patterns="exact", solver="cvxpy"
    )
    assert r.convex_patterns == "exact" and r.convex_n_patterns == ref.n_patterns_
    assert r.convex_objective == pytest.approx(ref.objective_, rel=1e-6)
    assert r.convex_certified
    assert not np.any(r.below) and np.all(r.final >= ref.objective_ * (1 - 1e-6))
    assert r.m_star <= X.shape[0] + 1  # Carathéodory: m* ≤ n + 1
    assert r.network_U.shape == (3, r.m_star) and r.network_alpha.shape == (r.m_star,)


def test_exact_patterns_refused_above_the_budget():
    X, y = toy_circle(40, seed=1)
    with pytest.raises(hc.ResourceLimitError, match="max_exact_patterns=100"):
        hc.compare_convex_nonconvex(X, y, 1e-2, patterns="exact", max_exact_patterns=100)


def test_auto_falls_back_to_sampled_patterns_with_an_honest_label():
    X, y = toy_circle(40, seed=1)
    r = hc.compare_convex_nonconvex(
        X, y, 1.0, patterns="auto", max_exact_patterns=100, n_patterns=50, seeds=2, epochs=5,
        widths=[4],
    )  # fmt: skip
    assert r.convex_patterns == "sampled" and not r.convex_certified
    assert "upper bound" in r.convex_label and "exact enumeration skipped" in r.convex_note


# ---------------------------------------------------------------------------------------------
# data sets and the held-out comparison
# ---------------------------------------------------------------------------------------------
def test_prepare_standardises_with_training_statistics(rng):
    from hiddenconvex.datasets import prepare

    X = rng.standard_normal((80, 3)) * [1.0, 10.0, 0.1] + [5.0, -2.0, 0.0]
    X[:, 2] = 7.0  # a constant column stays finite
    y = X[:, 0] * 2 + rng.standard_normal(80)
    ds = prepare(X, y, task="regression", test_fraction=0.25, seed=3)
    assert ds.X_train.shape == (60, 3) and ds.X_test.shape == (20, 3)
    np.testing.assert_allclose(ds.X_train[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train[:, :2].std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(ds.X_train[:, 2], 0.0)
    assert ds.y_train.mean() == pytest.approx(0.0, abs=1e-12)
    assert ds.y_train.std() == pytest.approx(1.0, rel=1e-12)
    # the test split uses the training statistics (not its own)
    raw_test = ds.X_test * ds.x_scale + ds.x_mean
    assert np.all(np.isin(np.round(raw_test[:, 0], 8), np.round(X[:, 0], 8)))
    # seeded and reproducible
    ds2 = prepare(X, y, task="regression", seed=3)
    np.testing.assert_array_equal(ds.X_train, ds2.X_train)


def test_prepare_classification_is_stratified_with_pm1_labels(rng):
    from hiddenconvex.datasets import prepare

    X = rng.standard_normal((100, 2))
    y = np.array([3] * 80 + [7] * 20)
    ds = prepare(X, y, task="classification", test_fraction=0.25, seed=0)
    assert set(np.unique(ds.y_train)) == {-1.0, 1.0}
    assert np.sum(ds.y_test == 1.0) == 5 and np.sum(ds.y_train == 1.0) == 15
    with pytest.raises(hc.InvalidInputError, match="exactly two classes"):
        prepare(X, np.arange(100) % 3, task="classification")
    p = prepare(X, y, task="classification", pca=1)
    assert p.X_train.shape[1] == 1 and p.feature_names == ["PC1"]


@pytest.mark.parametrize(
    "name", ["circle", "sine", "xor", "breast_cancer", "diabetes", "iris", "wine"]
)
def test_builtin_datasets(name):
    from hiddenconvex.datasets import list_datasets, load_dataset

    if name not in list_datasets():
        pytest.skip("scikit-learn is not installed")
    ds = load_dataset(name, seed=1)
    assert np.all(np.isfinite(ds.X_train)) and ds.X_train.shape[1] == len(ds.feature_names)
    if ds.task == "classification":
        assert set(np.unique(ds.y_train)) == {-1.0, 1.0}
    shapes = {
        "breast_cancer": (569, 30),
        "diabetes": (442, 10),
        "iris": (150, 4),
        "wine": (178, 13),
    }
    if name in shapes:
        assert ds.n_train + ds.X_test.shape[0] == shapes[name][0]
        assert ds.n_features == shapes[name][1]
    with pytest.raises(hc.InvalidInputError, match="name: expected one of"):
        load_dataset("mnist")


def test_compare_on_data_and_roundtrip(tmp_path):
    from hiddenconvex.datasets import load_dataset

    ds = load_dataset("sine", n=40, seed=0)
    dc = hc.compare_on_data(ds, beta=1.0, seeds=2, epochs=50, solver="auto", patterns="auto")
    assert dc.task == "regression" and dc.metric_name == "MSE"
    assert dc.convex_patterns == "exact"  # 1-D data with bias: 2·n_train patterns
    assert dc.objectives.shape == (2, 2) and dc.width == dc.m_star
    # the convex model's training objective is the objective F of the recovered network
    rows = dc.rows()
    assert rows[0]["objective"] == dc.convex_objective and len(rows) == 3
    for suffix in (".json", ".npz"):
        back = hc.load(dc.save(tmp_path / f"dc{suffix}"))
        assert isinstance(back, hc.DataComparison)
        np.testing.assert_array_equal(back.objectives, dc.objectives)
        assert back.summary() == dc.summary()
    from PIL import Image

    with Image.open(dc.plot(tmp_path / "dc.png")) as im:
        assert im.format == "PNG"


def test_realdata_suite_quick_smoke(tmp_path):
    suite = hc.realdata_suite(["sine", "circle"], quick=True, beta=2.0, epochs=10)
    names = [c.dataset for c in suite.comparisons]
    assert names == ["sine", "circle"]
    md = suite.markdown()
    assert md.startswith("| data set |") and md.count("\n") == 2 + 3 * 2 - 1
    back = hc.load(suite.save(tmp_path / "suite.json"))
    assert back.markdown() == md
