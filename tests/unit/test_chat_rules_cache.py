"""The per-node chat rules state: slow mode and burst counting, notices and their races."""

from __future__ import annotations

import uuid

import msgspec

from rooms.services.chat_rules_cache import Changed, RecentPosts, Rules, RulesCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ORG = uuid.uuid4()
KEY = (ORG, "event:x", "fan")


def test_burst_allows_five_per_ten_seconds_and_refunds() -> None:
    clock = Clock()
    recent = RecentPosts(clock)
    taken = [recent.take(KEY, burst=5, slow=0) for _ in range(5)]
    assert all(isinstance(t, float) for t in taken)
    refused = recent.take(KEY, burst=5, slow=0)
    assert isinstance(refused, tuple) and refused[0] == "burst"
    recent.refund(KEY, taken[-1])  # e.g. it was a retry: the budget comes back
    assert isinstance(recent.take(KEY, burst=5, slow=0), float)
    clock.now += 10.0
    assert isinstance(recent.take(KEY, burst=5, slow=0), float)
    other = (ORG, "event:y", "fan")  # another room has its own budget
    assert isinstance(recent.take(other, burst=5, slow=0), float)


def test_slow_mode_waits_from_the_last_message() -> None:
    clock = Clock()
    recent = RecentPosts(clock)
    assert isinstance(recent.take(KEY, burst=5, slow=30), float)
    clock.now += 20
    refused = recent.take(KEY, burst=5, slow=30)
    assert isinstance(refused, tuple) and refused[0] == "slow" and round(refused[1]) == 10
    clock.now += 11
    assert isinstance(recent.take(KEY, burst=5, slow=30), float)


def test_notice_drops_the_entry_and_a_racing_load_is_not_kept() -> None:
    clock = Clock()
    cache = RulesCache(ttl=5.0, clock=clock)
    cache.put(ORG, "event:x", Rules(0, None, "reject"), cache.epoch(ORG))
    assert cache.get(ORG, "event:x") == Rules(0, None, "reject")
    epoch = cache.epoch(ORG)  # a load starts ...
    cache.on_notice(msgspec.json.encode(Changed(ORG, "event:x")))  # ... a change lands
    assert cache.get(ORG, "event:x") is None
    cache.put(ORG, "event:x", Rules(0, None, "reject"), epoch)  # the stale load
    assert cache.get(ORG, "event:x") is None
    cache.put(ORG, "event:x", Rules(30, None, "reject"), cache.epoch(ORG))
    cache.on_notice(msgspec.json.encode(Changed(ORG)))  # an org change drops its rooms
    assert cache.get(ORG, "event:x") is None
    cache.on_notice(b"not json")  # ignored


def test_entries_expire_after_ttl() -> None:
    clock = Clock()
    cache = RulesCache(ttl=5.0, clock=clock)
    cache.put(ORG, "event:x", Rules(0, None, "reject"), cache.epoch(ORG))
    clock.now += 5.1
    assert cache.get(ORG, "event:x") is None
