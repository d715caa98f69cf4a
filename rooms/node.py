"""The node: this process's index of local subscribers, on top of a broker.

It subscribes upstream only for a room's first local subscriber, encodes each
publication once, and hands the same bytes to every local subscriber. It also
owns recovery (history + live merge with no gap and no duplicate) and repairs
gaps in the live stream from history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from msgspec import Raw

from rooms import envelope as e
from rooms.broker import EPHEMERAL, Broker, HistorySlice, Publication
from rooms.presence import Presence

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """A local connection as the node sees it."""

    client_id: str

    def deliver(self, frame: bytes) -> None:
        """Queue an encoded frame; never blocks, never raises (slow policy is its own)."""


class _Room:
    __slots__ = ("epoch", "lock", "name", "offset", "pending", "repair", "subscribers",
                 "upstream", "waiting", "watchers")

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscribers: dict[Subscriber, None] = {}  # an ordered set
        self.watchers: set[Subscriber] = set()  # want join/leave events
        # Subscribers still loading history; live publications are buffered for them.
        self.pending: dict[Subscriber, list[Publication]] = {}
        # Subscribers that history brought past the live feed: they skip live
        # publications up to that offset (they have them), then join ``subscribers``.
        self.waiting: dict[Subscriber, int] = {}
        self.lock = asyncio.Lock()  # serialises upstream subscribe/unsubscribe
        self.upstream = False
        self.epoch = ""
        self.offset = 0  # last offset delivered on this node
        self.repair: list[Publication] | None = None  # buffered while filling a gap


class Node:
    """Local fan-out for one hub process."""

    def __init__(self, broker: Broker, presence: Presence, *, node_id: str,
                 recovery_limit: int = 1000,
                 on_fanout: Callable[[int], None] | None = None,
                 on_publish: Callable[[float], None] | None = None) -> None:
        self.broker = broker
        self.presence = presence
        self.node_id = node_id
        self._recovery_limit = recovery_limit
        self._rooms: dict[str, _Room] = {}
        self._members: dict[tuple[str, str], e.Member] = {}  # (room, client) -> member
        self._on_fanout = on_fanout or (lambda n: None)
        self._on_publish = on_publish or (lambda seconds: None)  # publish latency, seconds
        self._tasks: set[asyncio.Task[None]] = set()
        # Process-internal channels (not client rooms): room -> handler of raw payloads.
        self._listeners: dict[str, Callable[[bytes], None]] = {}

    async def start(self) -> None:
        self.broker.on_resync(self._resync)
        await self.broker.start(self._on_publication)
        await self.presence.start()

    async def close(self, grace: float = 2.0) -> None:
        """Leave every room (presence entry removed, ``leave`` sent), then disconnect.

        Clean-ups already under way (closed connections) get ``grace`` seconds to
        finish. A node that dies without closing is cleaned up by the presence TTL.
        """
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        await self.leave_all()
        for task in list(self._tasks):
            task.cancel()
        await self.broker.close()
        await self.presence.close()

    async def leave_all(self) -> None:
        """Remove this node's presence entries and announce each ``leave``."""
        members, self._members = self._members, {}
        if not members:
            return
        try:
            await self.presence.remove_many(list(members))
        except Exception:
            log.warning("could not remove %d presence entries; they expire", len(members),
                        exc_info=True)
        for (room, _), member in members.items():
            try:
                await self._announce(room, e.Leave(room=room, member=member))
            except Exception:
                log.warning("could not announce leave in %s", room, exc_info=True)
                return  # the broker is gone: the rest would fail too

    # -- queries --------------------------------------------------------------

    def room_count(self) -> int:
        return len(self._rooms)

    def subscription_count(self) -> int:
        return sum(len(r.subscribers) + len(r.waiting) for r in self._rooms.values())

    def is_subscribed(self, sub: Subscriber, room: str) -> bool:
        r = self._rooms.get(room)
        return r is not None and (sub in r.subscribers or sub in r.pending
                                  or sub in r.waiting)

    def local_presence(self) -> list[tuple[str, str]]:
        return list(self._members)

    async def listen(self, room: str, handler: Callable[[bytes], None]) -> None:
        """Hand every publication on ``room`` to ``handler``, for notices between nodes.

        Use a name clients cannot subscribe to (``rooms.names`` refuses it). The
        handler runs on the event loop and must not block.
        """
        self._listeners[room] = handler
        await self.broker.subscribe(room)

    # -- subscribe / unsubscribe ---------------------------------------------

    async def subscribe(self, sub: Subscriber, room: str, member: e.Member, *,
                        recover: e.StreamPosition | None = None,
                        presence_events: bool = False, request_id: int | None = None) -> bool:
        """Subscribe ``sub`` and deliver ``subscribed`` (plus recovered messages) to it.

        Returns whether every missed message was recovered.

        Raises:
            Exception: from the broker; the subscription is then rolled back.
        """
        r = self._rooms.get(room)
        if r is None:
            r = self._rooms[room] = _Room(room)
        r.pending[sub] = []  # from here on, live publications are buffered for sub
        try:
            async with r.lock:
                if not r.upstream:
                    await self.broker.subscribe(room)
                    r.upstream = True
            since = recover.offset if recover is not None else None
            if recover is None and r.epoch:
                # The node follows this room: start the subscriber where the node's other
                # subscribers are; every later publication reaches it live (no history
                # read, so a join costs the same in a room of any size).
                hist = HistorySlice(r.epoch, r.offset, [], True)
            else:
                hist = await self.broker.history(room, since, self._recovery_limit)
            await self.presence.add(room, member)
            while (sub in r.pending and hist.epoch == r.epoch and hist.offset < r.offset
                   and not _covers(r.pending[sub], hist.offset)):
                # Another subscriber's history read started the room past this one's, and
                # the live copies in between never reached this buffer: read again (once:
                # from now on the room only moves by live delivery, which is buffered).
                hist = await self.broker.history(room, since, self._recovery_limit)
        except BaseException:
            r.pending.pop(sub, None)
            await self._release(r)
            raise
        buffered = r.pending.pop(sub, None)
        if buffered is None:  # unsubscribed (or closed) while loading
            if (room, sub.client_id) not in self._members:
                # Nobody will remove the entry just added: it would count a
                # closed connection as present until the TTL.
                with contextlib.suppress(Exception):
                    await self.presence.remove(room, member.client)
            return False
        recovered, pubs = _recovered(recover, hist)
        ahead = False
        if not r.epoch or hist.epoch != r.epoch:
            r.epoch, r.offset = hist.epoch, hist.offset
        else:
            # History may be ahead of the live feed (those copies are still on their way):
            # the room's offset stays where live delivery is, or the subscribers already
            # here would never get them.
            ahead = hist.offset > r.offset
        sub.deliver(e.encode(e.Subscribed(
            room=room, epoch=hist.epoch, offset=hist.offset, recovered=recovered,
            publications=[e.Publication(x.offset, Raw(x.data)) for x in pubs], id=request_id,
        )))
        # Live messages that raced the history read: only those past it, in order.
        for pub in buffered:
            if pub.epoch == hist.epoch and pub.offset > hist.offset:
                sub.deliver(_message_frame(pub))
        if ahead:
            r.waiting[sub] = hist.offset
        else:
            r.subscribers[sub] = None
        if presence_events:
            r.watchers.add(sub)
        self._members[(room, sub.client_id)] = member
        await self._announce(room, e.Join(room=room, member=member))
        return recovered

    async def unsubscribe(self, sub: Subscriber, room: str) -> bool:
        """Remove one subscription; False if there was none."""
        r = self._rooms.get(room)
        if r is None:
            return False
        was = r.subscribers.pop(sub, 0) is None
        was = r.pending.pop(sub, None) is not None or was
        was = r.waiting.pop(sub, None) is not None or was
        r.watchers.discard(sub)
        member = self._members.pop((room, sub.client_id), None)
        if member is not None:
            with contextlib.suppress(Exception):  # presence entry expires anyway
                await self.presence.remove(room, sub.client_id)
                await self._announce(room, e.Leave(room=room, member=member))
        await self._release(r)
        return was

    def drop(self, sub: Subscriber, rooms: list[str]) -> None:
        """Forget a closed connection's subscriptions now; clean up upstream later."""
        for room in rooms:
            r = self._rooms.get(room)
            if r is not None:
                r.subscribers.pop(sub, None)
                r.pending.pop(sub, None)
                r.waiting.pop(sub, None)
                r.watchers.discard(sub)
        self._spawn(self._drop_async(sub, rooms))

    async def _drop_async(self, sub: Subscriber, rooms: list[str]) -> None:
        for room in rooms:
            await self.unsubscribe(sub, room)

    async def _release(self, r: _Room) -> None:
        if r.subscribers or r.pending or r.waiting:
            return
        async with r.lock:
            if r.subscribers or r.pending or r.waiting or not r.upstream:
                return
            await self.broker.unsubscribe(r.name)
            r.upstream = False
            r.epoch = ""  # not following it any more: the next subscriber reads history
        if (not r.subscribers and not r.pending and not r.waiting
                and self._rooms.get(r.name) is r):
            del self._rooms[r.name]

    # -- publish / history / presence ------------------------------------------

    async def publish(self, room: str, data: bytes) -> Publication:
        """Every publish (websocket, HTTP API, room services, webhooks) passes here."""
        started = time.perf_counter()
        pub = await self.broker.publish(room, data)
        self._on_publish(time.perf_counter() - started)
        return pub

    async def history(self, room: str, since: int, limit: int) -> HistorySlice:
        return await self.broker.history(room, since, min(limit, self._recovery_limit))

    async def presence_snapshot(self, room: str) -> list[e.Member]:
        return await self.presence.snapshot(room)

    async def refresh_presence(self) -> None:
        await self.presence.refresh(self.local_presence())

    async def _announce(self, room: str, event: e.Join | e.Leave) -> None:
        await self.broker.publish(room, e.encode(event), history=False)

    # -- fan-out ----------------------------------------------------------------

    def _on_publication(self, pub: Publication) -> None:
        r = self._rooms.get(pub.room)
        if r is None:
            listener = self._listeners.get(pub.room)
            if listener is not None:
                listener(pub.data)
            return
        if pub.offset == EPHEMERAL:
            for sub in tuple(r.watchers):
                sub.deliver(pub.data)  # already a complete server frame
            return
        if r.repair is not None:
            r.repair.append(pub)
            return
        if r.epoch:
            if pub.epoch == r.epoch and pub.offset <= r.offset:
                return  # duplicate or stale: already delivered
            if pub.epoch != r.epoch or pub.offset > r.offset + 1:
                # A gap, or the room's history was reset (new epoch): never pass it on
                # silently. _repair fills it or tells the subscribers.
                r.repair = [pub]
                self._spawn(self._repair(r, r.offset))
                return
        self._fan_out(r, pub)

    def _fan_out(self, r: _Room, pub: Publication) -> None:
        r.epoch, r.offset = pub.epoch, pub.offset
        for buffer in r.pending.values():
            buffer.append(pub)
        if r.waiting:
            for sub, start in list(r.waiting.items()):
                if pub.offset > start:  # caught up: from here on it is one of the others
                    del r.waiting[sub]
                    r.subscribers[sub] = None
        if not r.subscribers:
            return
        frame = _message_frame(pub)  # encoded once for every local subscriber
        subs = tuple(r.subscribers)  # deliver() may unsubscribe a slow consumer
        for sub in subs:
            sub.deliver(frame)
        self._on_fanout(len(subs))

    def _resync(self) -> None:
        """The broker's live feed is back after a loss: check every room against history,
        since any publication of the outage may have been missed."""
        for r in self._rooms.values():
            if r.upstream and r.epoch and r.repair is None:
                r.repair = []
                self._spawn(self._repair(r, r.offset))
        if self._members:
            self._spawn(self._restore_presence())

    async def _restore_presence(self) -> None:
        """Add this node's presence entries again: a Redis that restarted without
        persistence lost them, and the periodic refresh only extends existing ones.
        A few tries: pooled connections to the old server fail once each."""
        async def add_all() -> None:
            for key, member in list(self._members.items()):
                if key in self._members:  # not left meanwhile
                    await self.presence.add(key[0], member)

        await _retried(add_all, "could not restore presence after a resync")

    async def _repair(self, r: _Room, after: int) -> None:
        """Fill a gap in the live stream from history, then drain the buffer in order.

        What history cannot fill (the room's epoch changed because its history was lost,
        e.g. Redis restarted without persistence; or the gap was trimmed) is never
        skipped silently: every subscriber gets an unrequested ``subscribed`` with
        ``recovered: false`` and the position live delivery resumes from.
        """
        before = r.epoch
        hist = await self._repair_history(r, after)
        buffered, r.repair = r.repair or [], None
        fill: list[Publication] = []
        if hist is not None:
            retained = hist.complete and (
                not hist.publications or hist.publications[-1].offset == hist.offset)
            if hist.epoch != r.epoch or not hist.complete:
                # Resume from the first message still in history, or from the end.
                start = hist.publications[0].offset - 1 if hist.publications else hist.offset
                if hist.epoch != r.epoch and not retained:
                    start = hist.offset
                log.warning("room %s: history lost (epoch %s -> %s, after %d); "
                            "subscribers told to refetch", r.name, r.epoch, hist.epoch, after)
                self._reset(r, hist.epoch, start)
            fill = [x for x in hist.publications if x.epoch == r.epoch]
        else:
            live = sorted(buffered, key=lambda x: x.offset)
            if live and (live[0].epoch != r.epoch or live[0].offset > r.offset + 1):
                # History unreachable: say where the live stream resumes rather than
                # skip the gap silently.
                self._reset(r, live[0].epoch, live[0].offset - 1)
        later: list[Publication] = []
        for pub in sorted([*fill, *buffered], key=lambda x: x.offset):
            if pub.epoch == r.epoch:
                if pub.offset > r.offset:
                    self._fan_out(r, pub)
            elif pub.epoch != before:
                later.append(pub)  # yet another epoch arrived meanwhile: a new gap
        if later and r.epoch != before:
            for pub in later:
                self._on_publication(pub)
        elif later:
            log.warning("room %s: dropped %d publications of unknown epoch %s", r.name,
                        len(later), later[0].epoch)

    async def _repair_history(self, r: _Room, after: int) -> HistorySlice | None:
        """History after ``after``; all of a new epoch's if the epoch changed. A few
        tries: a repair often starts while the broker is coming back."""
        async def read() -> HistorySlice:
            hist = await self.broker.history(r.name, after, self._recovery_limit)
            if hist.epoch != r.epoch:
                hist = await self.broker.history(r.name, 0, self._recovery_limit)
            return hist

        return await _retried(read, f"room {r.name}: gap repair failed", level=logging.ERROR)

    def _reset(self, r: _Room, epoch: str, offset: int) -> None:
        """Move the room to ``(epoch, offset)`` and tell every local subscriber so."""
        r.epoch, r.offset = epoch, offset
        frame = e.encode(e.Subscribed(room=r.name, epoch=epoch, offset=offset,
                                      recovered=False))
        for sub in r.waiting:  # its position moves too
            r.subscribers[sub] = None
        r.waiting.clear()
        for sub in tuple(r.subscribers):
            sub.deliver(frame)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _message_frame(pub: Publication) -> bytes:
    return e.encode(e.Message(room=pub.room, offset=pub.offset, data=Raw(pub.data)))


def _covers(buffer: Sequence[Publication], offset: int) -> bool:
    """Whether live publications buffered for a subscriber continue right after ``offset``."""
    return any(pub.offset == offset + 1 for pub in buffer)


def _recovered(recover: e.StreamPosition | None,
               hist: HistorySlice) -> tuple[bool, list[Publication]]:
    """Whether recovery succeeded, and the messages to replay."""
    if recover is None:
        return False, []
    if recover.epoch != hist.epoch or not hist.complete:
        return False, []
    if hist.publications and hist.publications[-1].offset < hist.offset:
        return False, []  # more missed than the recovery limit
    return True, hist.publications


T = TypeVar("T")


async def _retried(fn: Callable[[], Awaitable[T]], failed: str, *, level: int = logging.WARNING,
                   tries: int = 4) -> T | None:
    """``fn()``, tried again after 0.25, 0.5, 0.75 s: pooled connections to a Redis that
    just restarted fail once each. None (and ``failed`` logged) if every try fails."""
    for attempt in range(tries):
        try:
            return await fn()
        except Exception:
            if attempt == tries - 1:
                log.log(level, failed, exc_info=True)
                return None
            await asyncio.sleep(0.25 * (attempt + 1))
    return None
