"""Per-node state behind the chat rules, so a message costs no rules query.

* ``RulesCache``: a room's slow mode and its org's blocked-word list version and action,
  read from Postgres once and kept until a moderator changes them. A change is announced
  on the broker channel :data:`NOTICES` (``rooms.services.moderation`` publishes it after
  its commit); every node drops the entry and reads it again with its next message. Entries
  also expire after ``ttl`` seconds, which bounds staleness should a notice be lost (a
  broker reconnect). A load that raced a notice is not kept (per-org epochs).
* ``RecentPosts``: the times of each user's recent accepted messages per room, for slow
  mode and the per-user burst limit. Kept per node: a user whose connections sit on two
  nodes gets each node's allowance (load balancers normally keep a user on one).

Mutes and bans are not cached here: the chat write itself refuses a sanctioned author
(``persistence.chat``), so a ban applies on every node from the very next message.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

# Not a client room name (rooms.names accepts only org:<uuid> and event:<uuid>).
NOTICES: Final = "_hub:chat_rules"


class Changed(msgspec.Struct, frozen=True):
    """An org's chat settings (room None: blocked words) or one room's slow mode changed."""

    org: uuid.UUID
    room: str | None = None


_decode = msgspec.json.Decoder(Changed).decode


@dataclass(frozen=True, slots=True)
class Rules:
    slow_mode: int  # seconds between one user's messages in the room; 0 = off
    words_version: int | None  # chat_settings.version; None: the org has no list
    action: str  # what a blocked word does: "reject" or "hold"


class RulesCache:
    """Rules per (org, room), invalidated by :data:`NOTICES` and after ``ttl`` seconds."""

    def __init__(self, ttl: float = 5.0, max_rooms: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._max, self._clock = ttl, max_rooms, clock
        self._rooms: dict[tuple[uuid.UUID, str], tuple[float, Rules]] = {}
        self._epochs: dict[uuid.UUID, int] = {}
        self.loads = 0  # rules read from Postgres, for tests and metrics

    def get(self, org: uuid.UUID, room: str) -> Rules | None:
        hit = self._rooms.get((org, room))
        if hit is None or self._clock() - hit[0] > self._ttl:
            return None
        return hit[1]

    def epoch(self, org: uuid.UUID) -> int:
        """Take before reading the rules; ``put`` keeps them only if no notice came since."""
        return self._epochs.get(org, 0)

    def put(self, org: uuid.UUID, room: str, rules: Rules, epoch: int) -> None:
        self.loads += 1
        if self._epochs.get(org, 0) != epoch:
            return  # changed while we read: the next message reads again
        if len(self._rooms) >= self._max:
            self._rooms.clear()
        self._rooms[(org, room)] = (self._clock(), rules)

    def forget(self, change: Changed) -> None:
        self._epochs[change.org] = self._epochs.get(change.org, 0) + 1
        if change.room is not None:
            self._rooms.pop((change.org, change.room), None)
        else:
            for key in [k for k in self._rooms if k[0] == change.org]:
                del self._rooms[key]

    def on_notice(self, data: bytes) -> None:
        """Broker handler for :data:`NOTICES`."""
        try:
            change = _decode(data)
        except msgspec.DecodeError:
            return
        self.forget(change)


_Key = tuple[uuid.UUID, str, str]  # org, room, sub


class RecentPosts:
    """Each user's accepted message times per room: slow mode and the burst limit."""

    WINDOW: Final = 10.0  # seconds the burst limit counts over

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._times: dict[_Key, tuple[deque[float], float]] = {}  # times, keep until
        self._takes = 0

    def take(self, key: _Key, *, burst: int, slow: int) -> tuple[str, float] | float:
        """Record a message now and return its time, or (refusal reason, wait seconds).

        Recording before the write means two concurrent messages cannot both pass.
        """
        now = self._clock()
        self._takes += 1
        if self._takes % 4096 == 0:
            self._sweep(now)
        times, _ = self._times.get(key, (deque(), 0.0))
        if slow and times and now - times[-1] < slow:
            return "slow", slow - (now - times[-1])
        while times and now - times[0] >= self.WINDOW:
            times.popleft()
        if len(times) >= burst:
            return "burst", self.WINDOW - (now - times[0])
        times.append(now)
        self._times[key] = (times, now + max(self.WINDOW, slow))
        return now

    def refund(self, key: _Key, at: float) -> None:
        """Undo a ``take``: the message was not stored, or was a retry."""
        entry = self._times.get(key)
        if entry is not None:
            try:
                entry[0].remove(at)
            except ValueError:
                pass

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, until) in self._times.items() if until < now]:
            del self._times[key]
