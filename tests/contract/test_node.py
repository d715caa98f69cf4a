"""The node over each broker: upstream subscription, recovery merge, gap repair."""

from __future__ import annotations

import asyncio
import json

from hub import protocol as p
from rooms.broker import Broker, Publication
from rooms.node import Node
from rooms.presence import MemoryPresence

ROOM = "org:00000000-0000-4000-8000-000000000003"


class Socket:
    """A stand-in for a connection: records the frames the node delivers."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.frames: list[dict] = []

    def deliver(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))

    def messages(self) -> list[int]:
        return [f["offset"] for f in self.frames if f["type"] == "message"]


class CountingBroker:
    """Wraps a real broker and counts upstream subscribe calls."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.subscribes = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def subscribe(self, room: str) -> None:
        self.subscribes += 1
        await self.inner.subscribe(room)


def member(sock: Socket) -> p.Member:
    return p.Member(client=sock.client_id, user=sock.client_id, roles=[])


async def eventually(check, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_upstream_subscription_only_for_first_local_subscriber(make_broker):
    """Ten local subscribers cause one upstream subscribe; each gets every message once."""
    broker = CountingBroker(make_broker())
    node = Node(broker, MemoryPresence(), node_id="n1")  # type: ignore[arg-type]
    await node.start()
    socks = [Socket(f"c{i}") for i in range(10)]
    await asyncio.gather(*(node.subscribe(s, ROOM, member(s)) for s in socks))
    assert broker.subscribes == 1
    for n in range(3):
        await node.publish(ROOM, b'{"n":%d}' % n)
    await eventually(lambda: all(s.messages() == [1, 2, 3] for s in socks))
    for s in socks:
        await node.unsubscribe(s, ROOM)
    assert node.room_count() == 0
    await node.close()


async def test_recovery_merges_history_and_live_without_gaps_or_duplicates(make_broker):
    """Publishes racing a recovering subscribe are delivered once, after the replay, in order."""
    node = Node(make_broker(), MemoryPresence(), node_id="n1")
    await node.start()
    for n in range(5):
        await node.publish(ROOM, b"%d" % n)
    epoch = (await node.broker.history(ROOM)).epoch
    sock = Socket("late")

    async def publish_more() -> None:
        for n in range(5, 25):
            await node.publish(ROOM, b"%d" % n)

    await asyncio.gather(
        node.subscribe(sock, ROOM, member(sock), recover=p.StreamPosition(epoch, 2)),
        publish_more(),
    )
    await eventually(lambda: bool(sock.frames) and (
        sock.frames[0]["publications"][-1]["offset"] if sock.frames[0]["publications"] else 2
    ) + len(sock.messages()) >= 25)
    subscribed = sock.frames[0]
    assert subscribed["type"] == "subscribed" and subscribed["recovered"] is True
    replayed = [x["offset"] for x in subscribed["publications"]]
    assert replayed + sock.messages() == list(range(3, 26))
    await node.close()


async def test_gap_in_live_stream_is_repaired_from_history(make_broker):
    """If the live stream skips offsets, the node fetches them from history first."""
    broker = make_broker()
    node = Node(broker, MemoryPresence(), node_id="n1")
    await node.start()
    sock = Socket("s")
    await node.subscribe(sock, ROOM, member(sock))
    await node.publish(ROOM, b"1")
    await eventually(lambda: sock.messages() == [1])
    # Offsets 2-4 are saved to history but their live copies are lost.
    await broker.unsubscribe(ROOM)
    lost = [await broker.publish(ROOM, b"%d" % n) for n in (2, 3, 4)]
    await broker.subscribe(ROOM)
    await node.publish(ROOM, b"5")
    await eventually(lambda: sock.messages() == [1, 2, 3, 4, 5])
    assert [x.offset for x in lost] == [2, 3, 4]
    await node.close()


async def test_duplicate_publications_are_dropped(make_broker):
    """A publication the node already delivered is not delivered again."""
    node = Node(make_broker(), MemoryPresence(), node_id="n1")
    await node.start()
    sock = Socket("s")
    await node.subscribe(sock, ROOM, member(sock))
    pub = await node.publish(ROOM, b"1")
    await eventually(lambda: sock.messages() == [1])
    node._on_publication(Publication(pub.room, pub.epoch, pub.offset, pub.data))
    assert sock.messages() == [1]
    await node.close()


async def test_history_reset_under_a_subscription_is_announced(make_broker):
    """A new epoch on the live stream (the room's history expired or was lost) is never
    passed on silently: subscribers first get an unrequested ``subscribed`` with
    ``recovered: false`` at the new epoch, then its messages, none skipped."""
    node = Node(make_broker(history_ttl=1), MemoryPresence(), node_id="n1")
    await node.start()
    sock = Socket("s")
    first = await node.subscribe(sock, ROOM, member(sock))
    assert first is False
    old = sock.frames[0]["epoch"]
    await node.publish(ROOM, b"1")
    await node.publish(ROOM, b"2")
    await eventually(lambda: sock.messages() == [1, 2])
    await asyncio.sleep(1.5)  # the room's history expires: the next publish starts an epoch
    pub = await node.publish(ROOM, b"3")
    assert pub.epoch != old and pub.offset == 1
    await eventually(lambda: sock.messages() == [1, 2, 1])
    reset = sock.frames[-2]
    assert reset["type"] == "subscribed" and reset["id"] is None
    assert (reset["epoch"], reset["offset"], reset["recovered"]) == (pub.epoch, 0, False)
    await node.close()
