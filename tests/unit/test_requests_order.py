"""Queue order: the DJ's line-up, then paid by amount, votes, age; accept and move."""

from __future__ import annotations

import uuid

from rooms.services.requests_order import Entry, line_up, move, order


def entry(name: str, *, paid: int = 0, votes: int = 1, age: int = 0,
          rank: int | None = None) -> Entry:
    # created_ms = -age: a larger age is an older request.
    return Entry(uuid.uuid5(uuid.NAMESPACE_DNS, name), paid, votes, -age, rank)


def names(entries: list[Entry], pool: list[Entry]) -> list[str]:
    by_id = {e.id: n for n, e in zip("abcdefgh", pool, strict=False)}
    return [by_id[e.id] for e in entries]


def test_paid_then_votes_then_age() -> None:
    """Paid (most first) before unpaid; then more votes; then the older request."""
    pool = [entry("a", age=9), entry("b", paid=500), entry("c", votes=3),
            entry("d", paid=1000, age=1), entry("e", age=10)]
    assert names(order(pool), pool) == ["d", "b", "c", "e", "a"]


def test_line_up_comes_first_in_rank_order() -> None:
    """Lined-up requests come before even the best-paid ones, in the DJ's order."""
    pool = [entry("a", paid=9000), entry("b", rank=5), entry("c", rank=2)]
    assert names(order(pool), pool) == ["c", "b", "a"]


def test_accept_appends_to_the_line_up() -> None:
    """Accepting a request puts it right after the lined-up ones, ahead of the rest."""
    pool = [entry("a", rank=1), entry("b", paid=100), entry("c", votes=0, age=100)]
    ranks = line_up(pool, pool[2].id)
    assert ranks == {pool[0].id: 1, pool[2].id: 2, pool[1].id: None}


def test_move_fixes_the_order_above_the_moved_request() -> None:
    """Moving to 3rd lines up the two ahead of it too, so later votes can't push it down."""
    pool = [entry("a", votes=5), entry("b", votes=4), entry("c", votes=3), entry("d", votes=1)]
    ranks = move(pool, pool[3].id, 3)
    after = [Entry(e.id, e.paid_cents, e.votes, e.created_ms, ranks[e.id]) for e in pool]
    assert names(order(after), pool) == ["a", "b", "d", "c"]
    # "c" gets 50 votes later: it is not lined up, so it still can't pass "d".
    voted = [e if e.id != pool[2].id else Entry(e.id, 0, 50, e.created_ms, None) for e in after]
    assert names(order(voted), pool) == ["a", "b", "d", "c"]


def test_move_within_the_line_up_keeps_it_lined_up() -> None:
    """Moving the last of three lined-up requests to the top keeps all three lined up."""
    pool = [entry("a", rank=1), entry("b", rank=2), entry("c", rank=3), entry("d", votes=9)]
    ranks = move(pool, pool[2].id, 1)
    assert ranks == {pool[2].id: 1, pool[0].id: 2, pool[1].id: 3, pool[3].id: None}


def test_move_past_the_end_is_clamped() -> None:
    """A position beyond the queue means last."""
    pool = [entry("a", votes=3), entry("b", votes=2)]
    ranks = move(pool, pool[0].id, 99)
    after = [Entry(e.id, e.paid_cents, e.votes, e.created_ms, ranks[e.id]) for e in pool]
    assert names(order(after), pool) == ["b", "a"]
