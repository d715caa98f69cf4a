"""In-process broker: the embedded default when ``REDIS_URL`` is unset."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque

from rooms.broker import EPHEMERAL, Broker, Handler, HistorySlice, Publication


class _RoomLog:
    __slots__ = ("epoch", "last_used", "offset", "retained")

    def __init__(self, size: int) -> None:
        self.epoch = secrets.token_hex(4)
        self.offset = 0
        self.retained: deque[Publication] = deque(maxlen=size)
        self.last_used = time.monotonic()


class MemoryBroker(Broker):
    """Single-process broker. Delivery is synchronous, so it is exactly-once here."""

    def __init__(self, *, history_size: int = 1000, history_ttl: float = 300) -> None:
        self._size = history_size
        self._ttl = history_ttl
        self._logs: dict[str, _RoomLog] = {}
        self._subscribed: set[str] = set()
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def close(self) -> None:
        self._handler = None
        self._subscribed.clear()

    def _log(self, room: str) -> _RoomLog:
        log = self._logs.get(room)
        now = time.monotonic()
        if log is None or now - log.last_used > self._ttl:
            log = self._logs[room] = _RoomLog(self._size)  # expired: a new epoch
        log.last_used = now
        return log

    async def publish(self, room: str, data: bytes, *, history: bool = True) -> Publication:
        log = self._log(room)
        if history:
            log.offset += 1
            pub = Publication(room, log.epoch, log.offset, data)
            log.retained.append(pub)
        else:
            pub = Publication(room, log.epoch, EPHEMERAL, data)
        if self._handler is not None and room in self._subscribed:
            self._handler(pub)
        await asyncio.sleep(0)  # a publish is a suspension point, as with Redis
        return pub

    async def subscribe(self, room: str) -> None:
        self._subscribed.add(room)

    async def unsubscribe(self, room: str) -> None:
        self._subscribed.discard(room)

    async def history(self, room: str, since: int | None = None, limit: int = 0) -> HistorySlice:
        log = self._log(room)
        if since is None or since >= log.offset:
            return HistorySlice(log.epoch, log.offset, [], complete=since is None
                                or since == log.offset)
        pubs = [p for p in log.retained if p.offset > since][: max(limit, 0)]
        complete = bool(pubs) and pubs[0].offset == since + 1
        return HistorySlice(log.epoch, log.offset, pubs, complete)
