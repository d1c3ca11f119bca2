"""Overhead of the GIL-releasing chokepoint (a near-empty detached call)."""

import hiddenconvex as hc


def test_detach_overhead(bench):
    bench(
        lambda: hc._core._sleep_interruptible(0.0),
        group="foundation",
        case="empty detached call",
        impl="hiddenconvex",
        rounds=50,
    )
