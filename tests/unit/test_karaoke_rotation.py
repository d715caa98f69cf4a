"""Fair rotation as a pure function: the documented rule, host moves, holds and waits."""

from __future__ import annotations

import pytest

from rooms.services.karaoke_rotation import Slot, ahead, move, new_round, next_up, order, waits

# The scripted night shared with tests/integration/test_karaoke.py: who signs up, in order.
EARLY = ["bob", "ann", "ann", "cat", "bob", "dan", "eve", "ann", "cat", "eve", "dan", "bob"]
# Round 1 in entry order, then round 2 in entry order, then round 3.
EARLY_ORDER = ["bob1", "ann1", "cat1", "dan1", "eve1",
               "ann2", "bob2", "cat2", "eve2", "dan2",
               "ann3", "bob3"]
SUNG_BEFORE_FAY = 3  # bob1, ann1, cat1 are sung before the late arrival walks in
LATE = ["fay", "fay", "cat", "bob"]
# fay1 goes after the unsung round-1 songs, before anyone's round 2; cat's and bob's new
# songs go into the round after the last one they used (3 and 4).
LATE_ORDER = ["dan1", "eve1", "fay1",
              "ann2", "bob2", "cat2", "eve2", "dan2", "fay2",
              "ann3", "bob3", "cat3",
              "bob4"]
NIGHT = ["bob1", "ann1", "cat1", *LATE_ORDER]


class Night:
    """A tiny in-memory karaoke night driving the pure functions the service uses."""

    def __init__(self) -> None:
        self.queue: list[Slot] = []
        self.sung: list[Slot] = []
        self.counter = 1
        self.songs: dict[str, int] = {}

    def sign(self, singer: str) -> Slot:
        self.songs[singer] = self.songs.get(singer, 0) + 1
        rounds = [s.round for s in self.queue + self.sung if s.singer == singer]
        slot = Slot(f"{singer}{self.songs[singer]}", singer, new_round(rounds), self.counter)
        self.counter += 1
        self.queue.append(slot)
        return slot

    def ids(self) -> list[str]:
        return [s.id for s in order(self.queue)]

    def sing(self, held: frozenset[str] = frozenset()) -> str:
        slot = next_up(order(self.queue), held)
        assert slot is not None
        self.queue.remove(slot)
        self.sung.append(slot)
        return slot.id


def test_scripted_night_follows_the_documented_rule():
    """5 singers, several songs each, one late arrival: the order is (round, entry order)."""
    night = Night()
    for singer in EARLY:
        night.sign(singer)
    assert night.ids() == EARLY_ORDER
    sung = [night.sing() for _ in range(SUNG_BEFORE_FAY)]
    for singer in LATE:
        night.sign(singer)
    assert night.ids() == LATE_ORDER
    while night.queue:
        sung.append(night.sing())
    assert sung == NIGHT


def test_nth_song_never_precedes_anyone_elses_earlier_round():
    """In the whole night, nobody sings an Nth song before a queued (N-1)th of another."""
    night = Night()
    for singer in EARLY:
        night.sign(singer)
    rounds = [s.round for s in order(night.queue)]
    assert rounds == sorted(rounds)


def test_skipped_song_does_not_count_but_sung_does():
    """new_round counts sung and queued songs only: a skip does not push a singer back."""
    assert new_round([]) == 1
    assert new_round([1, 2]) == 3
    assert new_round([1, 3]) == 4  # round 2 was skipped (not passed in); next is after 3


def test_returning_regular_goes_before_the_later_rounds():
    """A singer who sang once comes back while others are on round 3: their song is round 2."""
    night = Night()
    for singer in ["ann", "bob", "bob", "bob"]:
        night.sign(singer)
    assert night.sing() == "ann1" and night.sing() == "bob1"
    returning = night.sign("ann")
    assert returning.round == 2
    assert night.ids() == ["bob2", "ann2", "bob3"]


def test_move_to_front_and_following_signups_stay_behind():
    """Moving a round-2 song to the front makes it first; a new round-1 song goes after it."""
    queue = order([Slot("a1", "a", 1, 1), Slot("b1", "b", 1, 2), Slot("a2", "a", 2, 3)])
    changed, counter = move(queue, "a2", 0, 4)
    moved = {s.id: s for s in changed}
    after = order([moved.get(s.id, s) for s in queue])
    assert [s.id for s in after] == ["a2", "a1", "b1"]
    assert counter == 4 + len(changed)
    late = Slot("c1", "c", new_round([]), counter)
    assert [s.id for s in order([*after, late])] == ["a2", "a1", "b1", "c1"]


@pytest.mark.parametrize("to_index", [0, 1, 2, 3, 4, 99])
def test_move_puts_the_song_exactly_where_asked(to_index: int):
    """For every target index the resulting order is the host's arrangement."""
    queue = order([Slot("a1", "a", 1, 1), Slot("b1", "b", 1, 2), Slot("c1", "c", 1, 3),
                   Slot("a2", "a", 2, 4), Slot("b2", "b", 2, 5)])
    ids = [s.id for s in queue]
    wanted = [i for i in ids if i != "b1"]
    wanted.insert(min(to_index, len(wanted)), "b1")
    changed, _ = move(queue, "b1", to_index, 6)
    moved = {s.id: s for s in changed}
    assert [s.id for s in order(moved.get(s.id, s) for s in queue)] == wanted
    assert all(s.position >= 6 for s in changed)  # fresh positions only, nobody reused


def test_move_of_unknown_song_raises():
    """A song that is not queued cannot be moved."""
    with pytest.raises(KeyError):
        move([Slot("a1", "a", 1, 1)], "zz", 0, 2)


def test_held_songs_keep_their_place_but_are_passed_over():
    """next_up skips a held singer; their songs stay first in order; waits skip them."""
    queue = order([Slot("a1", "a", 1, 1), Slot("b1", "b", 1, 2), Slot("c1", "c", 1, 3)])
    assert next_up(queue, {"a"}) == queue[1]
    assert next_up(queue, {"a", "b", "c"}) is None
    assert ahead(queue, {"a"}) == {"a1": 0, "b1": 0, "c1": 1}
    assert waits(queue, {"a"}, True, 240) == {"a1": 240, "b1": 240, "c1": 480}
    assert waits(queue, set(), False, 100) == {"a1": 0, "b1": 100, "c1": 200}
