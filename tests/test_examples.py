"""Every script in examples/ runs (in a temporary folder, as a user would run it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1", "PYTHONWARNINGS": "error"}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"


def _readme_snippets(section: str) -> list[str]:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"<!-- section:{section} -->(.*?)<!-- /section:{section} -->", readme, re.S)
    assert m, section
    return re.findall(r"```python\n(.*?)```", m.group(1), re.S)


@pytest.mark.parametrize(
    "section", ["chambers-api", "diag-api", "midpoint-api", "convex-api", "story-api"]
)
def test_readme_snippets_run(section, tmp_path, monkeypatch):
    """Each API-tour section's snippets run as written (in order, one namespace)."""
    snippets = _readme_snippets(section)
    assert snippets, section
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in snippets:
        exec(compile(code, "README.md", "exec"), ns)  # noqa: S102
    if section == "story-api":
        assert len(snippets) >= 2
        assert (tmp_path / "convex_vs_sgd.png").is_file()
