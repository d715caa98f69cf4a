"""hub.gc_policy: what it freezes, when, and that every collection is timed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import REGISTRY

from hub.gc_policy import GcPolicy


class Node:
    """A GC-tracked object that can sit in a reference cycle and be weak-referenced."""

    def __init__(self) -> None:
        self.peer: Node | None = None


def frozen(obj: object) -> bool:
    """gc.get_objects() lists generations 0-2 only, never the permanent one."""
    return not any(o is obj for o in gc.get_objects())


def pauses(generation: str) -> float:
    return REGISTRY.get_sample_value("hub_gc_pause_seconds_count",
                                     {"generation": generation}) or 0.0


class Open:
    """The policy's view of the open-connection count, set by the test."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        return self.n


@pytest.fixture
def open_count() -> Iterator[Open]:
    yield Open()
    gc.unfreeze()  # leave the process as other tests expect it


@pytest.fixture
async def policy(open_count: Open) -> AsyncIterator[GcPolicy]:
    p = GcPolicy(open_count, freeze_after=100, refreeze_after=300, interval=3600)
    yield p
    await p.stop()


async def test_start_freezes_what_start_up_built(policy: GcPolicy) -> None:
    built = [Node() for _ in range(10)]
    assert not frozen(built[0])
    policy.start()
    assert frozen(built[0]) and gc.get_freeze_count() > 0
    later = Node()
    assert not frozen(later)  # only what existed at the freeze


async def test_a_burst_is_frozen_once_it_is_over(policy: GcPolicy, open_count: Open) -> None:
    policy.start()
    conns = [Node() for _ in range(150)]  # the state of 150 new connections
    open_count.n = 150
    assert policy.check() is None  # the count still moved since the last check: a burst
    assert not frozen(conns[0])
    assert policy.check() == "freeze"  # steady now
    assert frozen(conns[0]) and frozen(conns[-1])
    assert policy.check() is None  # nothing new


async def test_growth_below_the_step_is_not_frozen(policy: GcPolicy, open_count: Open) -> None:
    policy.start()
    open_count.n = 60
    policy.check()
    assert policy.check() is None
    assert policy.freezes == 1  # the start-up one only


async def test_churn_unfreezes_and_collects_frozen_cycles(policy: GcPolicy,
                                                          open_count: Open) -> None:
    """A closed connection's cycle frozen earlier is garbage no collection reaches, until
    enough have closed: then the policy collects everything and freezes again."""
    policy.start()
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    gone = weakref.ref(a)
    open_count.n = 400
    policy.check()
    assert policy.check() == "freeze"
    assert frozen(a)
    del a, b
    gc.collect()
    assert gone() is not None  # frozen garbage: the collector never looks at it
    open_count.n = 50  # 350 closed >= refreeze_after
    assert policy.check() is None  # the count moved: wait for it to settle
    assert policy.check() == "refreeze"
    assert gone() is None
    assert policy.full_collections == 2


async def test_every_collection_is_timed_by_generation(policy: GcPolicy) -> None:
    policy.start()
    before = pauses("2"), pauses("0")
    gc.collect()
    gc.collect(0)
    assert pauses("2") == before[0] + 1
    assert pauses("0") == before[1] + 1
    await policy.stop()
    gc.collect()
    assert pauses("2") == before[0] + 1  # stopped: no longer metered


async def test_stop_gives_frozen_objects_back(policy: GcPolicy) -> None:
    built = Node()
    policy.start()
    assert frozen(built)
    await policy.stop()
    assert not frozen(built) and gc.get_freeze_count() == 0


async def test_the_young_generation_threshold_is_set_and_given_back(open_count: Open) -> None:
    """HUB_GC_THRESHOLD: generation 0 is collected every 10,000 net allocations instead of
    CPython's 700 while the hub runs; a stopped hub leaves CPython's thresholds as it
    found them."""
    before = gc.get_threshold()
    p = GcPolicy(open_count, freeze_after=100, refreeze_after=300, interval=3600,
                 threshold=10000)
    p.start()
    try:
        assert gc.get_threshold() == (10000, *before[1:])
        collections = gc.get_stats()[0]["collections"]
        keep = [[i] for i in range(5000)]  # 5,000 new tracked objects, all alive
        assert gc.get_stats()[0]["collections"] == collections  # under the threshold
        del keep
    finally:
        await p.stop()
    assert gc.get_threshold() == before
