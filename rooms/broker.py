"""The broker interface: room history plus cross-node fan-out.

Guarantees every implementation gives (and ``tests/contract`` checks):

* ``publish`` saves to history and publishes in one atomic step per room
  (one Lua script on Redis), and returns the offset it assigned.
* Offsets in a room start at 1 and grow by exactly 1 per publish within an
  epoch. The epoch changes whenever the room's history is lost (TTL expiry,
  a flushed Redis, a restarted in-process broker), so ``(epoch, offset)`` never
  names two different messages.
* Live delivery to subscribed nodes is at-most-once and in offset order per
  room. A node that sees a gap repairs it from history (``rooms.node``).
* A broker that loses its live feed (a dropped Redis connection) resubscribes
  by itself and then calls the ``on_resync`` callback: publications may have
  been missed meanwhile, so the node checks every room against history.
* History keeps the last ``history_size`` messages of a room, for
  ``history_ttl`` seconds after its last publish.
* Ephemeral publications (``history=False``, offset 0) skip history; they
  carry presence events and are never recovered.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import msgspec

EPHEMERAL = 0


class Publication(msgspec.Struct, frozen=True):
    """One message as the broker moves it: the payload stays opaque bytes."""

    room: str
    epoch: str
    offset: int  # EPHEMERAL (0) when not saved to history
    data: bytes


class HistorySlice(msgspec.Struct, frozen=True):
    """A room's current position and, optionally, the messages after ``since``.

    ``complete`` is true when ``publications`` starts right after ``since``
    (nothing was trimmed) and reaches ``offset`` or the requested limit.
    """

    epoch: str
    offset: int
    publications: list[Publication]
    complete: bool


Handler = Callable[[Publication], None]


class Broker(abc.ABC):
    """Room history and pub/sub. One instance per hub process."""

    _on_resync: Callable[[], None] | None = None

    def on_resync(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the live feed is back after being lost (it runs on
        the event loop, after every room is subscribed again). Brokers whose feed cannot
        break never call it."""
        self._on_resync = callback

    @abc.abstractmethod
    async def start(self, handler: Handler) -> None:
        """Connect; ``handler`` is called, in order, for each publication on a
        subscribed room. It runs on the event loop and must not block."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect and stop calling the handler."""

    @abc.abstractmethod
    async def publish(self, room: str, data: bytes, *, history: bool = True) -> Publication:
        """Save ``data`` to the room's history (unless ``history=False``) and fan it out."""

    @abc.abstractmethod
    async def subscribe(self, room: str) -> None:
        """Start receiving the room's publications on this node."""

    @abc.abstractmethod
    async def unsubscribe(self, room: str) -> None:
        """Stop receiving the room's publications on this node."""

    @abc.abstractmethod
    async def history(self, room: str, since: int | None = None, limit: int = 0) -> HistorySlice:
        """Return the room's position, plus up to ``limit`` messages with offset > ``since``.

        With ``since=None`` only the position is returned. The room gets an
        epoch on first use, so a position is always available.
        """

    async def ping(self) -> bool:
        """True when the broker can serve requests (used by ``/ready``)."""
        return True


def broker_from_url(url: str | None, *, prefix: str = "lh", history_size: int = 1000,
                    history_ttl: int = 300) -> Broker:
    """Pick an implementation by URL scheme: unset or ``memory://``, ``redis://``, or
    ``redis+cluster://host:port[,host:port...]`` for a Redis Cluster."""
    if not url or url.startswith("memory://"):
        from rooms.memory_broker import MemoryBroker

        return MemoryBroker(history_size=history_size, history_ttl=history_ttl)
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        from rooms.cluster_broker import ClusterBroker

        return ClusterBroker(url, prefix=prefix, history_size=history_size,
                             history_ttl=history_ttl)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from rooms.redis_broker import RedisBroker

        return RedisBroker(url, prefix=prefix, history_size=history_size,
                           history_ttl=history_ttl)
    raise ValueError(f"unsupported broker URL scheme: {url!r}")
