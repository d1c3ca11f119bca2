"""The benchmark plumbing: results files record the versions of the run's packages and the
generated tables in docs/ state them (a peer's time depends on its version: pyscnn's AL on torch's)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import hiddenconvex
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_file_records_installed_versions(tmp_path, monkeypatch):
    conftest = _load("_bench_conftest", ROOT / "benches" / "conftest.py")
    monkeypatch.setattr(conftest, "RESULTS_DIR", tmp_path)
    rec = {"median_s": 0.5, "min_s": 0.4, "rounds": 3}
    conftest._write({"g": {"case a": {"hiddenconvex": rec}}})
    conftest._write({"g": {"case a": {"peer": {**rec, "median_s": 2.0}}}})
    doc = json.loads((tmp_path / "g.json").read_text())
    # merged across runs, versions of the installed packages
    assert set(doc["cases"]["case a"]) == {"hiddenconvex", "peer"}
    assert doc["versions"]["numpy"] == np.__version__
    assert doc["versions"]["hiddenconvex"] == hiddenconvex.__version__
    assert set(doc["versions"]) <= set(conftest.PEER_DISTRIBUTIONS)


def test_table_states_ratio_and_versions():
    tables = _load("_bench_tables", ROOT / "benches" / "tables.py")
    doc = {
        "updated": "2026-01-01T00:00:00Z",
        "machine": {"cpus": 2},
        "versions": {"numpy": "9.9", "torch": "1.0"},
        "cases": {"c": {"hiddenconvex": {"median_s": 0.5}, "peer": {"median_s": 2.0}}},
    }
    out = tables.table(doc)
    assert "| c | peer | 2.00 s | 4.0× |" in out
    assert "numpy 9.9, torch 1.0" in out
    del doc["versions"]  # files written before versions were recorded
    assert "versions" not in tables.table(doc)


def test_results_record_the_run_and_tables_compare_within_one_run(tmp_path, monkeypatch):
    """Every entry records the run that measured it; a peer's entry from another run than the
    case's hiddenconvex row (e.g. a peer no longer installed, whose bench now skips) is left out
    of the table, with a footnote, and the β grid has no column for a peer never measured."""
    conftest = _load("_bench_conftest_run", ROOT / "benches" / "conftest.py")
    tables = _load("_bench_tables_run", ROOT / "benches" / "tables.py")
    monkeypatch.setattr(conftest, "RESULTS_DIR", tmp_path)
    rec = {"median_s": 0.5, "min_s": 0.4, "rounds": 3}
    monkeypatch.setattr(conftest, "RUN", "run-1")
    conftest._write(
        {
            "convex": {
                "beta grid a": {"hiddenconvex": rec, "adelie": {**rec, "median_s": 9.0}},
                "main": {"hiddenconvex": rec, "adelie": {**rec, "median_s": 3.0}},
            }
        }
    )
    doc = json.loads((tmp_path / "convex.json").read_text())
    assert doc["cases"]["main"]["adelie"].get("_run") is None  # _write keeps what it is given
    # entries as the bench fixture writes them: stamped with the run
    stamp = {"_run": "run-1"}
    doc["cases"] = {
        "beta grid a": {
            "hiddenconvex": {**rec, **stamp},
            "adelie": {**rec, "median_s": 9.0, **stamp},
            "clarabel-direct": {**rec, "median_s": 2.0, **stamp},
        },
        "main": {"hiddenconvex": {**rec, **stamp}, "adelie": {**rec, "median_s": 3.0, **stamp}},
    }
    shown, notes = tables.fresh(doc)
    assert notes == {}
    grid = tables.beta_grid_table(shown)
    assert "| adelie | ratio |" in grid and "| a | 500.0 ms | " in grid and "18.0×" in grid
    # the next run re-measures hiddenconvex and Clarabel, not adelie (not installed)
    for case in doc["cases"].values():
        case["hiddenconvex"]["_run"] = "run-2"
    doc["cases"]["beta grid a"]["clarabel-direct"]["_run"] = "run-2"
    doc["versions"] = {"clarabel": "0.11"}
    shown, notes = tables.fresh(doc)
    assert "adelie" not in shown["cases"]["main"]
    assert notes == {"adelie": "not shown: measured in another run than hiddenconvex's rows"}
    grid = tables.beta_grid_table(shown)
    assert "adelie | ratio" not in grid and "| Clarabel direct | ratio |" in grid
    assert "no column for adelie: not measured in the run of these rows (not installed)" in grid
    assert grid.splitlines()[0].count("|") == grid.splitlines()[2].count("|")
    assert "adelie" not in tables.table({**shown, "cases": {"main": shown["cases"]["main"]}})
    assert "adelie — not shown" in tables.peers_note(notes)
    # entries from before runs were recorded: shown, footnoted when the peer was not installed
    legacy = {
        "versions": {"numpy": "2"},
        "cases": {"main": {"hiddenconvex": rec, "adelie": rec, "numpy": rec}},
    }
    shown, notes = tables.fresh(legacy)
    assert set(shown["cases"]["main"]) == {"hiddenconvex", "adelie", "numpy"}
    assert set(notes) == {"adelie"} and "earlier run" in notes["adelie"]


def test_cases_without_a_hiddenconvex_row_keep_every_entry():
    """A case whose rows are all ours under other names (the kink-flag rates: one row per
    method, measured in different runs) has no hiddenconvex row to be stale against: every
    entry is shown and none is footnoted."""
    tables = _load("_bench_tables_noref", ROOT / "benches" / "tables.py")
    rec = {"median_s": 0.5, "min_s": 0.4, "rounds": 3}
    doc = {
        "versions": {"numpy": "2"},
        "cases": {
            "kinks": {
                "hiddenconvex (gradients)": {**rec, "_run": "run-2"},
                "hiddenconvex (values)": {**rec, "_run": "run-1"},
            }
        },
    }
    shown, notes = tables.fresh(doc)
    assert set(shown["cases"]["kinks"]) == {"hiddenconvex (gradients)", "hiddenconvex (values)"}
    assert notes == {}
