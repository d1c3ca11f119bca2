"""The command line: demo (in-process and as a subprocess), report on good and bad files, bench,
exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hiddenconvex as hc
import numpy as np
import pytest
from hiddenconvex.app import cli
from hiddenconvex.app.report import DataError, read_table

DEMO_VERDICTS = (
    "convex_models_no_violation",
    "relu_network_certified_witness",
    "chambers_equal_cover_count",
    "convex_optimum_below_every_run",
    "torch_mlp_nonconvex_certified",
)


def _check_demo_output(out: Path) -> dict:
    from PIL import Image

    assert (out / "index.html").is_file()
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 5
    assert sorted(p.name for p in pngs) == sorted(res["figures"])
    for p in pngs:
        with Image.open(p) as im:
            im.verify()
        with Image.open(p) as im:
            assert im.format == "PNG" and min(im.size) >= 300
    for key in DEMO_VERDICTS:
        assert res["verdicts"][key] is True, key
    return res


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    rc = cli.main(["demo", "--quick", "--quiet", "--out", str(out), "--seed", "0"])
    assert rc == 0
    return out


def test_demo_in_process(demo_out):
    res = _check_demo_output(demo_out)
    assert res["quick"] is True and res["seed"] == 0
    d = res["details"]
    # the verdicts are backed by the numbers
    assert d["convex_models/least squares"]["violations"] == 0
    assert d["networks"]["relu"]["violations"] > 0
    gaussian = [v for k, v in d.items() if k.startswith("chambers/") and not v.get("structured")]
    assert len(gaussian) >= 3 and all(v["exact"] == v["cover"] for v in gaussian)
    # degenerate (structured) arrangements have fewer chambers than Cover's count
    structured = [v for k, v in d.items() if k.startswith("chambers/") and v.get("structured")]
    assert structured and all(v["exact"] < v["cover"] for v in structured)
    hcv = d["hidden_convexity"]
    assert hcv["runs_below"] == 0 and hcv["runs"] >= 8
    # the comparison saved beside the report loads back identical
    cmp = hc.load(demo_out / "comparison.npz")
    assert isinstance(cmp, hc.ComparisonResult)
    assert cmp.convex_objective == pytest.approx(hcv["p_star"])
    assert int(np.sum(cmp.above)) == hcv["runs_above"]


def test_demo_and_report_emit_the_wedge_section(demo_out, tmp_path):
    # the demo: the wedge-product neurons over the chamber picture, and the comparison table
    res = json.loads((demo_out / "results.json").read_text(encoding="utf-8"))
    html = (demo_out / "index.html").read_text(encoding="utf-8")
    assert "Wedge-product neurons" in html and "wedge_neurons.png" in res["figures"]
    assert res["verdicts"]["wedge_neurons_orthogonal_to_samples"] is True
    assert res["verdicts"]["wedge_lasso_bounds_convex_optimum"] is True
    w = res["details"]["wedge"]
    methods = [r["method"].split()[0] for r in w["rows"]]
    assert methods == ["wedge", "exact", "Adam"]
    assert all(r["seconds"] > 0 and r["n_active"] >= 0 for r in w["rows"])
    # the wedge Lasso (ℓ2, 2-D) restricts the neurons: never below the exact convex optimum
    assert w["rows"][0]["objective"] >= w["rows"][1]["objective"] - 1e-6
    assert w["relative_gap"] <= 1e-8
    # the report on user data has the same section, on its top two principal directions
    data = _write_csv(tmp_path / "w.csv")
    out = tmp_path / "rep"
    assert cli.main(["report", "--data", str(data), "--target", "label", "--quick", "-q",
                     "--out", str(out), "--width", "4"]) == 0  # fmt: skip
    rres = json.loads((out / "results.json").read_text())
    assert "Wedge-product neurons of the data" in (out / "index.html").read_text(encoding="utf-8")
    assert "wedge_neurons.png" in rres["figures"] and (out / "wedge_neurons.png").is_file()
    assert [r["method"].split()[0] for r in rres["details"]["wedge"]["rows"]] == methods


def test_demo_subprocess(tmp_path):
    out = tmp_path / "d"
    proc = subprocess.run(
        [sys.executable, "-m", "hiddenconvex", "demo", "--quick", "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # the summary table is printed
    assert "part" in proc.stdout and "verdict" in proc.stdout
    assert "chambers" in proc.stdout and "wrote" in proc.stdout
    _check_demo_output(out)


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _write_csv(path: Path, n: int = 60, seed: int = 0, label_text: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = np.where(np.linalg.norm(X[:, :2], axis=1) > 1.1, 1, 0)
    lines = ["a,b,c,label"]
    for xi, yi in zip(X, y, strict=True):
        lab = ("yes" if yi else "no") if label_text else str(yi)
        lines.append(",".join(f"{v:.6f}" for v in xi) + f",{lab}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_on_a_small_csv(tmp_path, capsys):
    data = _write_csv(tmp_path / "small.csv", label_text=True)
    out = tmp_path / "rep"
    rc = cli.main(["report", "--data", str(data), "--target", "label", "--quick", "-q",
                   "--out", str(out), "--width", "4", "--beta", "0.5"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert (out / "index.html").is_file()
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "classification"
    assert res["verdicts"]["convex_models_no_violation"] is True
    assert res["verdicts"]["relu_network_certified_witness"] is True
    cmp = hc.load(out / "comparison.json")
    assert isinstance(cmp, hc.DataComparison)
    assert cmp.beta == 0.5 and cmp.width == 4 and cmp.task == "classification"


def test_report_regression_npz(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 2))
    np.savez(tmp_path / "d.npz", X=X, y=np.sin(X[:, 0]) + 0.1 * X[:, 1])
    Xr, yr, names, task = read_table(tmp_path / "d.npz", "y")
    assert task == "regression" and names == ["X[0]", "X[1]"]
    np.testing.assert_array_equal(Xr, X)
    rc = cli.main(["report", "--data", str(tmp_path / "d.npz"), "--target", "y", "--quick",
                   "-q", "--out", str(tmp_path / "r")])  # fmt: skip
    assert rc == 0
    assert json.loads((tmp_path / "r" / "results.json").read_text())["task"] == "regression"


def _bad(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("name", "content", "target", "message"),
    [
        ("missing.csv", None, "y", "no such file"),
        ("empty.csv", "", "y", "the file is empty"),
        ("header.csv", "a,b,y\n", "y", "no data rows after the header"),
        ("cols.csv", "a,b,y\n1,2,3\n4,5,6\n", "target", "no column 'target' (columns: a, b, y)"),
        (
            "text.csv",
            "a,b,y\n1,2,1\n4,oops,0\n",
            "y",
            "column 'b', line 3: non-numeric value 'oops'",
        ),
        ("nan.csv", "a,b,y\n1,2,1\n4,,0\n", "y", "column 'b', line 3: missing value"),
        ("nan2.csv", "a,b,y\n1,NaN,1\n4,5,0\n", "y", "column 'b', line 2: missing value"),
        ("ragged.csv", "a,b,y\n1,2,1\n4,5\n", "y", "line 3 has 2 fields, the header has 3"),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "y", "not a UTF-8 text file"),
        ("data.txt", "a,b,y\n", "y", "expected a .csv or .npz file"),
        ("bad.npz", b"not a zip at all", "y", "not a readable .npz file"),
        ("only.csv", "y\n1\n2\n", "y", "no feature columns"),
    ],
)
def test_report_bad_files(tmp_path, capsys, name, content, target, message):
    path = tmp_path / name if content is None else _bad(tmp_path, name, content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_table(path, target)
    rc = cli.main(["report", "--data", str(path), "--target", target, "-q",
                   "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("hiddenconvex report: error: ") and message in lines[0]
    assert "Traceback" not in err


def test_report_target_rules(tmp_path):
    p = _bad(tmp_path, "multi.csv", "a,y\n" + "".join(f"{i},{i % 3}\n" for i in range(12)))
    # three numeric values: regression unless told otherwise
    assert read_table(p, "y")[3] == "regression"
    with pytest.raises(DataError, match="exactly two labels.*--positive"):
        read_table(p, "y", task="classification")
    X, y, _, task = read_table(p, "y", task="classification", positive="2")
    assert task == "classification" and set(y) == {-1.0, 1.0} and np.sum(y == 1) == 4
    with pytest.raises(DataError, match="no label '7'"):
        read_table(p, "y", task="classification", positive="7")
    t = _bad(tmp_path, "txt.csv", "a,y\n1,cat\n2,dog\n3,cat\n4,dog\n")
    with pytest.raises(DataError, match="a regression target must be numeric"):
        read_table(t, "y", task="regression")
    X, y, _, task = read_table(t, "y")
    assert task == "classification" and list(y) == [-1.0, 1.0, -1.0, 1.0]  # 'dog' > 'cat'
    c = _bad(tmp_path, "const.csv", "a,y\n1,2\n2,2\n3,2\n4,2\n")
    with pytest.raises(DataError, match="constant"):
        read_table(c, "y", task="regression")
    semi = _bad(tmp_path, "semi.csv", "a;b;y\n1;2;0\n3;4;1\n5;6;0\n7;8;1\n")
    X, y, names, _ = read_table(semi, "y")
    assert names == ["a", "b"] and X.shape == (4, 2)


def test_verbose_shows_the_traceback(tmp_path, capsys):
    rc = cli.main(["report", "--data", str(tmp_path / "nope.csv"), "--target", "y", "--verbose"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" in err and "no such file" in err


def test_usage_errors_exit_2(capsys):
    assert cli.main(["report", "--target", "y"]) == 2  # --data missing
    assert "required" in capsys.readouterr().err
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["--version"]) == 0
    assert hc.__version__ in capsys.readouterr().out


def test_bad_demo_seed(capsys, tmp_path):
    assert cli.main(["demo", "--quick", "--seed", "-1", "--out", str(tmp_path)]) == 2
    assert "seed: must be >= 0" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------------------------
def test_bench_from_an_installed_wheel_says_where_the_benches_are(monkeypatch, tmp_path, capsys):
    """Outside a source checkout the command explains itself and runs the real-data suite."""
    import hiddenconvex.compare as cmp

    monkeypatch.setattr(cli, "_source_root", lambda: None)
    calls = {}

    def fake_suite(quick, progress):
        calls["quick"] = quick
        ds = hc.datasets.load_dataset("sine", n=30)
        return cmp.SuiteResult(
            comparisons=[cmp.compare_on_data(ds, seeds=1, epochs=5, beta=1.0)], quick=True, seed=0
        )

    monkeypatch.setattr(cmp, "realdata_suite", fake_suite)
    rc = cli.main(["bench", "--quick", "-q", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0 and calls == {"quick": True}
    assert "benchmarks live in the source repository" in err
    assert (tmp_path / "realdata.md").read_text().startswith("| data set |")
    assert isinstance(hc.load(tmp_path / "realdata.json"), cmp.SuiteResult)


def test_source_root_is_found_in_a_checkout():
    root = cli._source_root()
    if root is None:
        pytest.skip("hiddenconvex is installed from a wheel here, not from the source tree")
    assert (root / "benches" / "tables.py").is_file()


def test_foreign_files_fail_cleanly(tmp_path, demo_out):
    np.savez(tmp_path / "foreign.npz", a=np.arange(3))
    (tmp_path / "foreign.json").write_text('{"hello": 1}')
    (tmp_path / "garbage.npz").write_bytes(b"\x00\x01 not a zip")
    for name in ("foreign.npz", "foreign.json", "garbage.npz"):
        with pytest.raises(hc.HiddenConvexError, match="not a .*hiddenconvex result file"):
            hc.load(tmp_path / name)
    # the demo's results.json is a report, not a saved result object
    with pytest.raises(hc.HiddenConvexError, match="not a hiddenconvex result file"):
        hc.load(demo_out / "results.json")
    # and a result of another kind is refused by the typed loader
    with pytest.raises(hc.HiddenConvexError, match="not a TrainingResult"):
        hc.TrainingResult.load(demo_out / "comparison.npz")


def test_html_report_escapes_and_embeds(tmp_path):
    from hiddenconvex.app.html import HtmlReport
    from PIL import Image

    png = tmp_path / "fig.png"
    Image.new("RGB", (8, 8), "red").save(png)
    rep = HtmlReport("<b>title</b>", "sub & title")
    sec = rep.section("a <section>")
    sec.para("x < y & <script>alert(1)</script>")
    sec.verdict(True, "good")
    sec.verdict(False, "bad")
    sec.verdict(None, "info")
    sec.table(["k", "v"], [["text", 1.23456789], ["<i>", 2]])
    sec.figure(png, "caption")
    html = rep.write(tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;title&lt;/b&gt;" in html and "sub &amp; title" in html
    assert 'class="verdict ok"' in html and 'class="verdict bad"' in html
    assert "1.235" in html and "data:image/png;base64," in html
    linked = rep.render(embed=False)
    assert 'src="fig.png"' in linked and "base64" not in linked


def test_library_never_imports_the_app():
    """The application (hiddenconvex.app) depends on the library, never the reverse."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import hiddenconvex

    pkg = Path(hiddenconvex.__file__).parent
    for path in pkg.glob("*.py"):
        if path.name == "__main__.py":  # `python -m hiddenconvex` is the application's entry
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                names = [a.name for a in node.names]
                assert not mod.startswith((".app", "hiddenconvex.app")), (path.name, mod)
                assert not (mod in {".", "hiddenconvex"} and "app" in names), (path.name, mod)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    assert not a.name.startswith("hiddenconvex.app"), (path.name, a.name)
    code = (
        "import sys, pkgutil, importlib, hiddenconvex\n"
        "for m in pkgutil.iter_modules(hiddenconvex.__path__):\n"
        "    if m.name not in ('app', '__main__'):\n"
        "        importlib.import_module('hiddenconvex.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.startswith('hiddenconvex.app')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_version_has_one_source():
    """__version__, the extension's version and `hiddenconvex --version` are Cargo's version."""
    import re
    from importlib.metadata import version
    from pathlib import Path

    from hiddenconvex import _core

    cargo = (Path(__file__).resolve().parent.parent / "Cargo.toml").read_text(encoding="utf-8")
    m = re.search(r'^\[workspace\.package\]\n(?:.*\n)*?version = "([^"]+)"', cargo, re.M)
    assert m, "no workspace version in Cargo.toml"
    assert hc.__version__ == version("hiddenconvex") == _core.__version__ == m.group(1)
