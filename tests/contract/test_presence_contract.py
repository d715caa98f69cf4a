"""The presence contract, against memory and Redis."""

from __future__ import annotations

import asyncio

from hub.protocol import Member

ROOM = "event:00000000-0000-4000-8000-000000000002"


def member(client: str, user: str = "u") -> Member:
    return Member(client=client, user=user, roles=["viewer"])


async def test_members_from_two_nodes_are_both_seen(make_presence):
    """Members added through two presence instances (two nodes) appear in both snapshots."""
    node_a, node_b = make_presence(), make_presence()
    await node_a.add(ROOM, member("c1", "ann"))
    await node_b.add(ROOM, member("c2", "bob"))
    for node in (node_a, node_b):
        assert {m.user for m in await node.snapshot(ROOM)} == {"ann", "bob"}
    await node_a.remove(ROOM, "c1")
    assert [m.user for m in await node_b.snapshot(ROOM)] == ["bob"]


async def test_unrefreshed_members_expire(make_presence):
    """A dead node stops refreshing; its members vanish after the TTL."""
    # A TTL several refresh periods long, so a busy machine delaying one refresh
    # doesn't expire the live member; the ghost is polled for, with a bound.
    live, dead = make_presence(ttl=1.5), make_presence(ttl=1.5)
    await live.add(ROOM, member("alive"))
    await dead.add(ROOM, member("ghost"))
    clients = ["alive", "ghost"]
    for _ in range(40):
        await asyncio.sleep(0.25)
        await live.refresh([(ROOM, "alive")])
        clients = [m.client for m in await live.snapshot(ROOM)]
        if clients == ["alive"]:
            break
    assert clients == ["alive"]
