"""Which organization owns a room.

``org:<id>`` rooms name their org. ``event:<id>`` rooms are looked up: events
are registered through the HTTP API (and, with Postgres, read from ``events``).
"""

from __future__ import annotations

import abc
import uuid

import asyncpg

from rooms.names import RoomKind, RoomName
from rooms.redis_client import AnyRedis, redis_client


class Directory(abc.ABC):
    async def org_of(self, room: RoomName) -> uuid.UUID | None:
        """The owning org, or None when the room is unknown."""
        if room.kind is RoomKind.ORG:
            return room.id
        return await self.event_org(room.id)

    @abc.abstractmethod
    async def event_org(self, event_id: uuid.UUID) -> uuid.UUID | None: ...

    @abc.abstractmethod
    async def register_event(self, event_id: uuid.UUID, org_id: uuid.UUID) -> None: ...

    async def close(self) -> None:
        """Release connections (nothing to release by default)."""
        return None


class MemoryDirectory(Directory):
    def __init__(self) -> None:
        self._events: dict[uuid.UUID, uuid.UUID] = {}

    async def event_org(self, event_id: uuid.UUID) -> uuid.UUID | None:
        return self._events.get(event_id)

    async def register_event(self, event_id: uuid.UUID, org_id: uuid.UUID) -> None:
        self._events[event_id] = org_id


class RedisDirectory(Directory):
    """Event ownership in one Redis hash, cached per process (ownership never changes)."""

    def __init__(self, url: str, *, prefix: str = "lh") -> None:
        self._redis: AnyRedis = redis_client(url)
        self._key = f"{prefix}:events"
        self._cache: dict[uuid.UUID, uuid.UUID] = {}

    async def event_org(self, event_id: uuid.UUID) -> uuid.UUID | None:
        org = self._cache.get(event_id)
        if org is None:
            raw = await self._redis.hget(self._key, str(event_id))
            if raw is None:
                return None
            org = self._cache[event_id] = uuid.UUID(raw.decode() if isinstance(raw, bytes) else raw)
        return org

    async def register_event(self, event_id: uuid.UUID, org_id: uuid.UUID) -> None:
        # HSETNX: an event cannot be moved to another org by re-registering it.
        await self._redis.hsetnx(self._key, str(event_id), str(org_id))

    async def close(self) -> None:
        await self._redis.aclose()


class PgDirectory(Directory):
    """Event ownership from Postgres, through the narrow ``app_event_org()`` lookup."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._cache: dict[uuid.UUID, uuid.UUID] = {}

    async def event_org(self, event_id: uuid.UUID) -> uuid.UUID | None:
        org = self._cache.get(event_id)
        if org is None:
            org = await self._pool.fetchval("SELECT app_event_org($1)", event_id)
            if org is not None:
                self._cache[event_id] = org
        return org

    async def register_event(self, event_id: uuid.UUID, org_id: uuid.UUID) -> None:
        raise NotImplementedError("with Postgres, events are rows in the events table")
