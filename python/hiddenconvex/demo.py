"""``hiddenconvex demo``: the whole argument on built-in data (filled in by the issues)."""

from __future__ import annotations


def run_demo(
    out: str = "hiddenconvex-out", quick: bool = False, seed: int = 0, quiet: bool = False
) -> dict:
    raise NotImplementedError("the demo is assembled by the chambers / diagnostics / convex issues")
