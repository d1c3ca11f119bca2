"""Shared fixtures. The package under test is the installed one (``bash tests/run.sh``)."""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture
def restore_threads():
    """Let a test change the thread count; restore it afterwards."""
    before = hc.thread_count()
    yield
    hc.set_thread_count(before)
