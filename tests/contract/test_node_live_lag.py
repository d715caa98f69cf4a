"""The node when its live feed lags behind history: history read on one connection can
come back before a publication's live copy, still in flight on the pub/sub connection.
A subscriber's history must then never move the room past what the others were given."""

from __future__ import annotations

import asyncio

import pytest

from hub import protocol as p
from rooms.broker import Broker, Handler, HistorySlice, Publication
from rooms.node import Node
from rooms.presence import MemoryPresence
from tests.contract.test_node import ROOM, Socket, eventually, member


class LaggingFeed:
    """Wraps a real broker. While ``held`` is a list, live publications wait in it; while
    ``gate`` is set, the next history read waits for it after reading."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.held: list[Publication] | None = None
        self.gate: asyncio.Event | None = None
        self._handler: Handler | None = None

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        await self.inner.start(self._live)

    def _live(self, pub: Publication) -> None:
        if self.held is not None:
            self.held.append(pub)
        elif self._handler is not None:
            self._handler(pub)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for pub in held:
            self._live(pub)

    async def history(self, room: str, since: int | None = None, limit: int = 0
                      ) -> HistorySlice:
        hist = await self.inner.history(room, since, limit)
        gate, self.gate = self.gate, None
        if gate is not None:
            await gate.wait()
        return hist


async def test_recovery_ahead_of_the_live_feed_skips_nobody(make_broker):
    """A recovering subscriber reads offset 2 from history before its live copy reaches
    the node: the subscriber already there still gets 2, the newcomer gets it once."""
    broker = LaggingFeed(make_broker())
    node = Node(broker, MemoryPresence(), node_id="n1")  # type: ignore[arg-type]
    await node.start()
    staying, back = Socket("staying"), Socket("back")
    await node.subscribe(staying, ROOM, member(staying))
    one = await node.publish(ROOM, b"1")
    await eventually(lambda: staying.messages() == [1])
    broker.held = []
    await node.publish(ROOM, b"2")  # stored; its live copy is in flight
    await node.subscribe(back, ROOM, member(back), recover=p.StreamPosition(one.epoch, 1))
    broker.release()
    await node.publish(ROOM, b"3")
    await eventually(lambda: staying.messages()[-1:] == [3] and back.messages()[-1:] == [3])
    assert staying.messages() == [1, 2, 3]
    recovered = back.frames[0]
    assert recovered["recovered"] is True
    assert [x["offset"] for x in recovered["publications"]] + back.messages() == [2, 3]
    await node.close()


class GatedPresence(MemoryPresence):
    """Memory presence whose next ``add`` waits for ``gate`` (a slow Redis round trip)."""

    gate: asyncio.Event | None = None

    async def add(self, room: str, m: p.Member) -> None:
        gate, self.gate = self.gate, None
        if gate is not None:
            await gate.wait()
        await super().add(room, m)


@pytest.mark.parametrize("slow_step", ["history", "presence"])
async def test_first_subscribers_racing_their_history_reads_miss_nothing(make_broker,
                                                                         slow_step):
    """Two first subscribers: the one whose history read (offset 0) finishes last, after
    the other's read found offset 1, still gets 1 (or starts past it), never a gap."""
    broker, presence = LaggingFeed(make_broker()), GatedPresence()
    node = Node(broker, presence, node_id="n1")  # type: ignore[arg-type]
    await node.start()
    slow, fast = Socket("slow"), Socket("fast")
    gate = asyncio.Event()
    if slow_step == "history":
        broker.gate = gate
    else:
        presence.gate = gate
    slow_sub = asyncio.create_task(node.subscribe(slow, ROOM, member(slow)))
    # slow's history read is done; it waits at the gate
    await eventually(lambda: broker.gate is None and presence.gate is None)
    broker.held = []
    await node.publish(ROOM, b"1")  # stored; its live copy is in flight
    await node.subscribe(fast, ROOM, member(fast))
    gate.set()
    await slow_sub
    broker.release()
    await node.publish(ROOM, b"2")
    await eventually(lambda: slow.messages()[-1:] == [2] and fast.messages()[-1:] == [2])
    for sock in (slow, fast):
        start = sock.frames[0]["offset"]
        assert [start, *sock.messages()] == list(range(start, 3)), sock.frames
    await node.close()
