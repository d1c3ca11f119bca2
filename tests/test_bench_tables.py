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
