"""Joins batched per loop tick (presence writes and join announcements), against memory and
Redis: none is lost, each is announced, and a dead node's batch still expires."""

from __future__ import annotations

import asyncio

from hub import protocol as p
from rooms.broker import HistorySlice
from rooms.node import Node
from rooms.presence import MemoryPresence
from rooms.redis_broker import RedisBroker
from rooms.redis_presence import RedisPresence
from tests.contract.test_node import CountingBroker, Socket, eventually

ROOM = "event:00000000-0000-4000-8000-00000000000b"
OTHER = "event:00000000-0000-4000-8000-00000000000c"


def member(client: str) -> p.Member:
    return p.Member(client=client, user=client, roles=["viewer"])


async def test_many_joins_in_one_tick_all_appear_in_the_snapshot(make_presence):
    """300 adds over two rooms started in the same tick: every one is in its room's snapshot."""
    presence = make_presence()
    await asyncio.gather(*(presence.add(ROOM if i % 3 else OTHER, member(f"c{i}"))
                           for i in range(300)))
    here = {m.client for m in await presence.snapshot(ROOM)}
    there = {m.client for m in await presence.snapshot(OTHER)}
    assert here == {f"c{i}" for i in range(300) if i % 3}
    assert there == {f"c{i}" for i in range(300) if not i % 3}


async def test_a_dead_nodes_batched_members_expire_and_a_live_nodes_stay(make_presence):
    """Two nodes each add a batch over two rooms; only the live one refreshes. The dead node's
    members are gone after the TTL, the live node's are all still there."""
    live, dead = make_presence(ttl=1.5), make_presence(ttl=1.5)
    mine = [(ROOM if i % 2 else OTHER, f"live-{i}") for i in range(40)]
    await asyncio.gather(*(live.add(room, member(c)) for room, c in mine),
                         *(dead.add(room, member(f"ghost-{i}"))
                           for i, (room, _) in enumerate(mine)))
    expected = {c for _, c in mine}
    seen: set[str] = set()
    for _ in range(40):
        await asyncio.sleep(0.25)
        await live.refresh(mine)
        seen = {m.client for room in (ROOM, OTHER) for m in await live.snapshot(room)}
        if seen == expected:
            break
    assert seen == expected


async def test_refresh_does_not_bring_back_a_removed_member(make_presence):
    """A refresh racing a leave must not re-add the member (ZADD XX in Redis)."""
    presence = make_presence()
    await presence.add(ROOM, member("stays"))
    await presence.add(ROOM, member("leaves"))
    await presence.remove(ROOM, "leaves")
    await presence.refresh([(ROOM, "stays"), (ROOM, "leaves")])
    assert [m.client for m in await presence.snapshot(ROOM)] == ["stays"]


class HistoryCounting(CountingBroker):
    """Also counts history reads."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        super().__init__(inner)
        self.history_reads = 0

    async def history(self, room: str, since: int | None = None,
                      limit: int = 0) -> HistorySlice:
        self.history_reads += 1
        return await self.inner.history(room, since, limit)


async def test_joining_a_followed_room_reads_no_history_and_starts_at_the_nodes_offset(
        make_broker):
    """Once the node follows a room, a subscriber asking no recovery is told the node's epoch
    and offset without a history read, then gets every later message once; after the last
    subscriber leaves, the next one reads history again."""
    broker = HistoryCounting(make_broker())
    node = Node(broker, MemoryPresence(), node_id="n1")  # type: ignore[arg-type]
    await node.start()
    first = Socket("first")
    await node.subscribe(first, ROOM, member("first"))
    for n in range(3):
        await node.publish(ROOM, b'{"n":%d}' % n)
    await eventually(lambda: first.messages() == [1, 2, 3])
    reads = broker.history_reads
    late = [Socket(f"late-{i}") for i in range(20)]
    await asyncio.gather(*(node.subscribe(s, ROOM, member(s.client_id)) for s in late))
    assert broker.history_reads == reads
    epoch = first.frames[0]["epoch"]
    for s in late:
        assert (s.frames[0]["type"], s.frames[0]["epoch"], s.frames[0]["offset"]) == (
            "subscribed", epoch, 3)
    await node.publish(ROOM, b'{"n":3}')
    await eventually(lambda: all(s.messages() == [4] for s in late))
    for s in [first, *late]:
        await node.unsubscribe(s, ROOM)
    again = Socket("again")
    await node.subscribe(again, ROOM, member("again"))
    assert broker.history_reads == reads + 1
    assert again.frames[0]["offset"] == 4
    await node.close()


async def test_a_burst_of_joins_is_announced_to_a_watcher_on_another_node(redis_url, prefix):
    """100 subscribes started in one tick on node A (their joins pipelined together): the
    watcher on node B gets a join for each, and B's snapshot lists all of them."""
    nodes = [Node(RedisBroker(redis_url, prefix=prefix),
                  RedisPresence(redis_url, prefix=prefix, ttl=60), node_id=name)
             for name in ("a", "b")]
    for node in nodes:
        await node.start()
    node_a, node_b = nodes
    watcher = Socket("watcher")
    await node_b.subscribe(watcher, ROOM, member("watcher"), presence_events=True)
    fans = [Socket(f"fan-{i}") for i in range(100)]
    await asyncio.gather(*(node_a.subscribe(f, ROOM, member(f.client_id)) for f in fans))
    want = {f.client_id for f in fans}
    await eventually(lambda: {f["member"]["client"] for f in watcher.frames
                              if f["type"] == "join"} >= want)
    assert {m.client for m in await node_b.presence_snapshot(ROOM)} == want | {"watcher"}
    for node in nodes:
        await node.close()


async def test_join_announcements_survive_a_redis_that_lost_its_scripts(redis_url, prefix):
    """A batch of joins is still announced when Redis answers NOSCRIPT (as a restarted Redis
    would; here the script's digest is made unknown, since SCRIPT FLUSH would reach every
    user of a shared server)."""
    broker = RedisBroker(redis_url, prefix=prefix)
    node = Node(broker, RedisPresence(redis_url, prefix=prefix, ttl=60), node_id="a")
    await node.start()
    watcher = Socket("watcher")
    await node.subscribe(watcher, ROOM, member("watcher"), presence_events=True)
    broker._publish_script.sha = "0" * 40
    fans = [Socket(f"fan-{i}") for i in range(5)]
    await asyncio.gather(*(node.subscribe(f, ROOM, member(f.client_id)) for f in fans))
    await eventually(lambda: {f["member"]["client"] for f in watcher.frames
                              if f["type"] == "join"} >= {f.client_id for f in fans})
    await node.close()
