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


ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _snippets(section: str) -> tuple[Path, list[str]]:
    """The ```python blocks between ``<!-- section:NAME -->`` markers (README or a docs page)."""
    import re

    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        m = re.search(rf"<!-- section:{section} -->(.*?)<!-- /section:{section} -->", text, re.S)
        if m:
            return page, re.findall(r"```python\n(.*?)```", m.group(1), re.S)
    raise AssertionError(f"no page has the section {section!r}")


def test_readme_tour_runs(tmp_path, monkeypatch):
    """The README's tour runs as written (its sections in order, one namespace)."""
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    sections = ["tour-chambers", "tour-diag", "tour-spectra", "tour-midpoint", "tour-convex"]
    for section in [*sections, "tour-wedge", "tour-story"]:
        page, snippets = _snippets(section)
        assert page.name == "README.md" and len(snippets) == 1, section
        exec(compile(snippets[0], f"README.md:{section}", "exec"), ns)  # noqa: S102
    assert (tmp_path / "convex_vs_sgd.png").is_file()


@pytest.mark.parametrize(
    "section", ["chambers-api", "diag-api", "midpoint-api", "convex-api", "story-api"]
)
def test_docs_snippets_run(section, tmp_path, monkeypatch):
    """Each capability page's API snippets run as written (in order, one namespace)."""
    page, snippets = _snippets(section)
    assert snippets, section
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in snippets:
        exec(compile(code, str(page.relative_to(ROOT)), "exec"), ns)  # noqa: S102
    if section == "story-api":
        assert len(snippets) >= 2
        assert (tmp_path / "convex_vs_sgd.png").is_file()
