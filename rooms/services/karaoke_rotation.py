"""Fair rotation for the karaoke queue: ordering, host moves, next up and waits. No I/O.

The rule (what ``order`` implements):

* Every signup gets two keys when it enters the queue: its ``round`` and its
  ``position`` (entry order, from a per-event counter that only grows).
* ``round`` = 1 + the highest round among the singer's songs that were sung or
  are still in the queue (waiting, held or on stage); skipped songs don't
  count. So in the ordinary course of a night a singer's Nth song is round N,
  and a singer with nothing sung or queued (a newcomer) is in round 1.
* The queue is ordered by ``(round, position)``: every round-N song goes before
  every round-(N+1) song, and within a round, songs go in the order they
  entered it. A late arrival's first song therefore goes after the round-1
  songs not yet sung but before anyone's round-2 song; a regular coming back
  after a break slots into the round after the last one they used.
* Keys are fixed once given: a skip or a hold never renumbers anyone, so a
  singer released from hold is back in exactly the same place.
* A host move is the one override. Moving a song to index ``i`` gives it the
  round of the song it lands after (the first song's round when moved to the
  front) and a fresh position, and renumbers the songs of that round behind
  it with fresh positions, so the queue reads exactly as the host arranged it
  and later signups still go behind it in that round.

On stage and next up: the song on stage is not in the queue (nothing can sort
ahead of a song being sung). ``next_up`` is the first queued song whose singer
is not on hold; held songs keep their place and are passed over.

Wait: a song's ``wait_seconds`` is ``slot_seconds`` times the number of songs
that will be sung before it: the song on stage (counted as a full slot, since
how far in it is isn't known) plus the queued songs ahead of it whose singers
are not on hold. A held song's wait is what it would be if released now.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Slot:
    """One queued song's ordering keys."""

    id: str
    singer: str  # the singer's token ``sub``
    round: int
    position: int


def order(slots: Iterable[Slot]) -> list[Slot]:
    """The queue in singing order: by ``(round, position)``."""
    return sorted(slots, key=lambda s: (s.round, s.position))


def new_round(counted_rounds: Iterable[int]) -> int:
    """Round for a new signup, given the rounds of the singer's sung and queued songs."""
    return 1 + max(counted_rounds, default=0)


def move(queue: Sequence[Slot], slot_id: str, to_index: int,
         next_position: int) -> tuple[list[Slot], int]:
    """Move ``slot_id`` to ``to_index`` (clamped) of the ordered ``queue``.

    Args:
        queue: the queue, already in ``order``.
        next_position: the first unused position of the event's counter.
    Returns:
        The slots whose keys changed (with their new keys) and the counter's new value.
    Raises:
        KeyError: ``slot_id`` is not in ``queue``.
    """
    moving = next((s for s in queue if s.id == slot_id), None)
    if moving is None:
        raise KeyError(slot_id)
    rest = [s for s in queue if s.id != slot_id]
    index = max(0, min(to_index, len(rest)))
    if not rest:
        return [], next_position
    anchor = rest[index - 1] if index > 0 else rest[0]
    placed = [*rest[:index], replace(moving, round=anchor.round), *rest[index:]]
    changed: list[Slot] = []
    # The moved song and everything behind it in its new round get fresh positions, in
    # the new order; songs ahead of it keep theirs, which are all smaller.
    for slot in placed[index:]:
        if slot.round != anchor.round:
            break
        changed.append(replace(slot, position=next_position))
        next_position += 1
    return changed, next_position


def next_up(queue: Sequence[Slot], held: Collection[str]) -> Slot | None:
    """The first queued song whose singer is not on hold."""
    return next((s for s in queue if s.singer not in held), None)


def ahead(queue: Sequence[Slot], held: Collection[str]) -> dict[str, int]:
    """For each queued song, how many songs in the queue will be sung before it.

    Songs of held singers are passed over, so they are never counted as ahead.
    """
    count = 0
    out: dict[str, int] = {}
    for slot in queue:
        out[slot.id] = count
        if slot.singer not in held:
            count += 1
    return out


def waits(queue: Sequence[Slot], held: Collection[str], on_stage: bool,
          slot_seconds: int) -> dict[str, int]:
    """Estimated seconds until each queued song starts (see the module docstring)."""
    stage = 1 if on_stage else 0
    return {k: (n + stage) * slot_seconds for k, n in ahead(queue, held).items()}
