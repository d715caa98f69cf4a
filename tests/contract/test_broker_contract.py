"""The broker contract, run against the memory and the Redis implementation."""

from __future__ import annotations

import asyncio

from rooms.broker import EPHEMERAL
from tests.contract.conftest import Inbox

ROOM = "org:00000000-0000-4000-8000-000000000001"


async def test_offsets_start_at_one_and_grow_by_one(make_broker):
    """Offsets are 1, 2, 3 ... within one epoch."""
    broker = make_broker()
    await broker.start(Inbox())
    pubs = [await broker.publish(ROOM, b'{"n":%d}' % n) for n in range(5)]
    assert [p.offset for p in pubs] == [1, 2, 3, 4, 5]
    assert len({p.epoch for p in pubs}) == 1


async def test_concurrent_publishes_get_distinct_consecutive_offsets(make_broker):
    """Save-and-publish is atomic: 200 concurrent publishes get offsets 1..200."""
    broker = make_broker()
    await broker.start(Inbox())
    pubs = await asyncio.gather(*(broker.publish(ROOM, b"%d" % n) for n in range(200)))
    assert sorted(p.offset for p in pubs) == list(range(1, 201))
    hist = await broker.history(ROOM, 0, 1000)
    assert {(p.offset, p.data) for p in hist.publications} == {(p.offset, p.data) for p in pubs}


async def test_subscribed_node_receives_in_order_and_stops_after_unsubscribe(make_broker):
    """Publications reach a subscribed node in offset order; none after unsubscribe."""
    inbox = Inbox()
    broker = make_broker()
    await broker.start(inbox)
    await broker.publish(ROOM, b"before")  # not subscribed yet: not delivered
    await broker.subscribe(ROOM)
    for n in range(20):
        await broker.publish(ROOM, b"%d" % n)
    got = await inbox.wait_for(20)
    assert [p.offset for p in got] == list(range(2, 22))
    assert [p.data for p in got] == [b"%d" % n for n in range(20)]
    await broker.unsubscribe(ROOM)
    await broker.publish(ROOM, b"late")
    await asyncio.sleep(0.2)
    assert len(inbox.items) == 20


async def test_history_since_and_limit(make_broker):
    """history(since, limit) returns messages after `since`, at most `limit`, in order."""
    broker = make_broker()
    await broker.start(Inbox())
    for n in range(10):
        await broker.publish(ROOM, b"%d" % n)
    top = await broker.history(ROOM)
    assert top.offset == 10 and top.publications == [] and top.complete
    page = await broker.history(ROOM, 4, 3)
    assert [p.offset for p in page.publications] == [5, 6, 7] and page.complete
    assert (await broker.history(ROOM, 10, 5)).publications == []


async def test_history_is_bounded_and_reports_trimmed_windows(make_broker):
    """Only the last history_size messages are kept; asking further back is incomplete."""
    broker = make_broker(history_size=5)
    await broker.start(Inbox())
    for n in range(12):
        await broker.publish(ROOM, b"%d" % n)
    kept = await broker.history(ROOM, 7, 100)
    assert [p.offset for p in kept.publications] == [8, 9, 10, 11, 12] and kept.complete
    trimmed = await broker.history(ROOM, 2, 100)
    assert not trimmed.complete


async def test_epoch_changes_when_history_expires(make_broker):
    """After the TTL passes with no publish, the room starts a new epoch at offset 1."""
    broker = make_broker(history_ttl=1)
    await broker.start(Inbox())
    first = await broker.publish(ROOM, b"a")
    await asyncio.sleep(2.1)
    second = await broker.publish(ROOM, b"b")
    assert second.epoch != first.epoch and second.offset == 1
    assert not (await broker.history(ROOM, 0, 10)).publications[0].data == b"a"


async def test_position_of_an_unused_room_is_stable(make_broker):
    """An unused room gets an epoch on first look, and the next publish keeps it."""
    broker = make_broker()
    await broker.start(Inbox())
    pos = await broker.history(ROOM)
    assert pos.offset == 0
    pub = await broker.publish(ROOM, b"x")
    assert pub.epoch == pos.epoch and pub.offset == 1


async def test_ephemeral_publications_skip_history(make_broker):
    """history=False publications are delivered with offset 0 and never recovered."""
    inbox = Inbox()
    broker = make_broker()
    await broker.start(inbox)
    await broker.subscribe(ROOM)
    pub = await broker.publish(ROOM, b"join", history=False)
    assert pub.offset == EPHEMERAL
    got = await inbox.wait_for(1)
    assert got[0].offset == EPHEMERAL and got[0].data == b"join"
    assert (await broker.history(ROOM, 0, 10)).publications == []
