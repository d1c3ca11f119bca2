"""Figures (matplotlib is an optional extra: ``pip install hiddenconvex[plot]``).

Every helper writes a PNG and returns its path; matplotlib is imported lazily with the Agg backend.
"""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """Import matplotlib.pyplot with a non-interactive backend, with a clear error if missing."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'hiddenconvex[plot]'") from exc
    return plt
