"""A node leaves no presence behind: not for a connection closed mid-subscribe, not on close."""

from __future__ import annotations

import asyncio

from hub import protocol as p
from rooms.node import Node
from rooms.redis_broker import RedisBroker
from rooms.redis_presence import RedisPresence
from tests.contract.test_node import Socket

ROOM = "org:00000000-0000-4000-8000-000000000007"


def member(sock: Socket) -> p.Member:
    return p.Member(client=sock.client_id, user=sock.client_id, roles=[])


async def eventually(check, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_connection_closed_while_subscribing_leaves_no_presence(make_broker,
                                                                      make_presence):
    """Dropping a connection whose subscribe is still loading removes its presence entry."""
    node = Node(make_broker(), make_presence(), node_id="n1")
    await node.start()
    sock = Socket("c-closing")
    subscribing = asyncio.create_task(node.subscribe(sock, ROOM, member(sock)))
    await asyncio.sleep(0)  # the subscribe is under way (pending), not finished
    node.drop(sock, [ROOM])
    assert await asyncio.wait_for(subscribing, 5) is False
    await asyncio.sleep(0.05)  # let the drop's clean-up task run
    assert await node.presence_snapshot(ROOM) == []
    await node.close()


async def test_closing_node_removes_its_presence_and_announces_leave(redis_url, prefix):
    """Node A closing with clients still on it: node B sees them gone and gets leave at once."""
    node_a = Node(RedisBroker(redis_url, prefix=prefix),
                  RedisPresence(redis_url, prefix=prefix, ttl=60), node_id="a")
    node_b = Node(RedisBroker(redis_url, prefix=prefix),
                  RedisPresence(redis_url, prefix=prefix, ttl=60), node_id="b")
    await node_a.start()
    await node_b.start()
    watcher = Socket("watcher")
    await node_b.subscribe(watcher, ROOM, member(watcher), presence_events=True)
    fans = [Socket(f"fan-{i}") for i in range(3)]
    for fan in fans:
        await node_a.subscribe(fan, ROOM, member(fan))
    assert len(await node_b.presence_snapshot(ROOM)) == 4
    await asyncio.wait_for(node_a.close(), 10)
    assert [m.client for m in await node_b.presence_snapshot(ROOM)] == ["watcher"]
    await eventually(lambda: len([f for f in watcher.frames if f["type"] == "leave"]) == 3)
    left = {f["member"]["client"] for f in watcher.frames if f["type"] == "leave"}
    assert left == {"fan-0", "fan-1", "fan-2"}
    await node_b.close()
