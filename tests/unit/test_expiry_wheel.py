"""The expiry sweep pops exactly the items whose second has come."""

from __future__ import annotations

from hub.expiry import ExpiryWheel


def test_items_fall_due_at_their_second_and_not_before():
    """An item is due once `now` reaches its second; later ones wait."""
    wheel: ExpiryWheel[str] = ExpiryWheel(1000.0)
    wheel.add("a", 1002)
    wheel.add("b", 1005)
    assert wheel.due(1001.9) == []
    assert wheel.due(1002.0) == ["a"]
    assert wheel.due(1004.99) == []
    assert wheel.due(1005.5) == ["b"] and len(wheel) == 0


def test_rescheduling_and_discarding_move_the_item():
    """A refresh moves an item to its new second; a closed connection is forgotten."""
    wheel: ExpiryWheel[str] = ExpiryWheel(1000.0)
    wheel.add("a", 1002)
    wheel.add("a", 1010)
    wheel.add("gone", 1003)
    wheel.discard("gone")
    assert wheel.due(1009) == []
    assert wheel.due(1010) == ["a"]


def test_past_items_are_due_at_the_next_sweep_and_jumps_are_cheap():
    """An already-past second is due next sweep; a clock jump pops everything passed."""
    wheel: ExpiryWheel[int] = ExpiryWheel(1000.0)
    wheel.add(1, 900)
    assert wheel.due(1000.1) == [1]
    for n in range(5):
        wheel.add(n, 2000 + n)
    wheel.add(99, 10**12)
    assert sorted(wheel.due(10**9)) == [0, 1, 2, 3, 4]
    assert len(wheel) == 1
