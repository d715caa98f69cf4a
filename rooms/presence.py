"""Presence: who is in a room, across every hub node.

Guarantees: a member added on any node appears in every node's snapshot until
it is removed, or until its node stops refreshing it for ``ttl`` seconds (a
dead node's members expire on their own).
"""

from __future__ import annotations

import abc
import time

import msgspec

from rooms.envelope import Member


class Presence(abc.ABC):
    async def start(self) -> None:
        """Connect before the first member comes (nothing to connect by default)."""
        return None

    @abc.abstractmethod
    async def add(self, room: str, member: Member) -> None:
        """Record ``member`` (keyed by its client id) as present in ``room``."""

    @abc.abstractmethod
    async def remove(self, room: str, client: str) -> None:
        """Forget one client in one room."""

    async def remove_many(self, entries: list[tuple[str, str]]) -> None:
        """Forget several ``(room, client)`` entries (a node leaving every room)."""
        for room, client in entries:
            await self.remove(room, client)

    @abc.abstractmethod
    async def refresh(self, entries: list[tuple[str, str]]) -> None:
        """Keep ``(room, client)`` entries of live local connections from expiring."""

    @abc.abstractmethod
    async def snapshot(self, room: str) -> list[Member]:
        """Every unexpired member of ``room`` (no order is promised)."""

    async def close(self) -> None:
        """Release connections (nothing to release by default)."""
        return None


class MemoryPresence(Presence):
    """Presence for one process. Entries still expire, to match Redis."""

    def __init__(self, ttl: float = 30.0) -> None:
        self._ttl = ttl
        self._rooms: dict[str, dict[str, tuple[float, Member]]] = {}

    async def add(self, room: str, member: Member) -> None:
        self._rooms.setdefault(room, {})[member.client] = (time.monotonic() + self._ttl, member)

    async def remove(self, room: str, client: str) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.pop(client, None)
            if not members:
                del self._rooms[room]

    async def refresh(self, entries: list[tuple[str, str]]) -> None:
        deadline = time.monotonic() + self._ttl
        for room, client in entries:
            entry = self._rooms.get(room, {}).get(client)
            if entry is not None:
                self._rooms[room][client] = (deadline, entry[1])

    async def snapshot(self, room: str) -> list[Member]:
        now = time.monotonic()
        members = self._rooms.get(room, {})
        for client in [c for c, (deadline, _) in members.items() if deadline < now]:
            del members[client]
        return [m for _, m in members.values()]


member_encoder = msgspec.json.Encoder()
member_decoder = msgspec.json.Decoder(Member)
