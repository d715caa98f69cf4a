"""The order of a request queue, and what DJ line-up actions do to it. No I/O.

A queue is two parts:
  1. the line-up: requests the DJ accepted or moved, in the DJ's order (``lineup_rank``);
  2. then everything else, ranked automatically: paid requests (confirmed payment,
     ``paid_cents > 0``) first by amount paid, most first; then by votes, most first;
     then by age, oldest first. A request still waiting for its payment ranks as unpaid.
Votes and payments reorder only part 2, so they never undo what the DJ arranged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

OPEN = ("pending", "accepted")  # in the queue; "playing" is shown above it


@dataclass(frozen=True)
class Entry:
    """What ordering needs to know about one open request."""

    id: uuid.UUID
    paid_cents: int
    votes: int
    created_ms: int
    lineup_rank: int | None = None


def _auto(e: Entry) -> tuple[bool, int, int, int, str]:
    return (e.paid_cents <= 0, -e.paid_cents, -e.votes, e.created_ms, str(e.id))


def order(entries: Iterable[Entry]) -> list[Entry]:
    """The queue, first to play first."""
    items = list(entries)
    lined = sorted((e for e in items if e.lineup_rank is not None),
                   key=lambda e: (e.lineup_rank, _auto(e)))
    rest = sorted((e for e in items if e.lineup_rank is None), key=_auto)
    return lined + rest


def _ranks(queue: Sequence[Entry], lined: int) -> dict[uuid.UUID, int | None]:
    return {e.id: (i + 1 if i < lined else None) for i, e in enumerate(queue)}


def line_up(entries: Iterable[Entry], target: uuid.UUID) -> dict[uuid.UUID, int | None]:
    """Accept: add target to the end of the line-up (it stays put if already lined up).

    Returns the new ``lineup_rank`` of every entry.
    """
    queue = order(entries)
    lined = [e for e in queue if e.lineup_rank is not None]
    if all(e.id != target for e in lined):
        moved = next(e for e in queue if e.id == target)
        queue.remove(moved)
        queue.insert(len(lined), moved)
        return _ranks(queue, len(lined) + 1)
    return _ranks(queue, len(lined))


def move(entries: Iterable[Entry], target: uuid.UUID,
         position: int) -> dict[uuid.UUID, int | None]:
    """Move target to 1-based ``position`` (clamped to the queue) and fix the order above it.

    Everything ahead of the moved request joins the line-up too, in its current order:
    that is the only way "5th" stays 5th when votes come in later.
    """
    queue = order(entries)
    moved = next(e for e in queue if e.id == target)
    was_lined = moved.lineup_rank is not None
    lined = sum(e.lineup_rank is not None for e in queue)
    queue.remove(moved)
    position = max(1, min(position, len(queue) + 1))
    queue.insert(position - 1, moved)
    return _ranks(queue, max(position, lined + (0 if was_lined else 1)))
