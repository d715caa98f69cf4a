"""loadtests.harness.gc_metrics: a window's GC pauses from two real /metrics texts."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY, generate_latest

from hub.gc_policy import PauseMeter
from loadtests.harness import gc_metrics


def reading() -> gc_metrics.GcReading:
    return gc_metrics.parse(generate_latest(REGISTRY).decode())


def test_a_window_counts_its_own_collections_only() -> None:
    meter = PauseMeter()
    meter.install()
    try:
        gc.collect()  # before the window
        a = reading()
        gc.collect()
        gc.collect()
        gc.collect(0)
        b = reading()
    finally:
        meter.remove()
    w = gc_metrics.window(a, b)
    assert w["2"]["count"] == 2 and w["0"]["count"] == 1 and w["1"]["count"] == 0
    assert w["2"]["total_ms"] > 0
    longest = float(w["2"]["max_ms"])
    assert 0 < longest <= 1000 * b.max_s["2"]
    if not w["2"]["max_exact"]:  # a bound: the smallest bucket holding both pauses
        assert longest * 2 >= w["2"]["total_ms"]
    assert w["1"] == {"count": 0, "total_ms": 0, "max_ms": 0, "max_exact": True}


def test_a_hub_without_gc_metrics_gives_no_figures() -> None:
    empty = gc_metrics.parse("# nothing\n")
    assert not empty.metered
    assert gc_metrics.window(empty, empty) == {}
