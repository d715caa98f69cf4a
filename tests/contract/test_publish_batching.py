"""Durable publishes of one loop tick share a pipeline (single Redis): each still gets its
own offset, in submission order per room, exactly once, and every subscriber sees them
in that order."""

from __future__ import annotations

import asyncio
from typing import Any

from rooms.broker import Publication
from rooms.redis_broker import RedisBroker
from tests.contract.test_node import eventually

ROOM = "event:00000000-0000-4000-8000-0000000000d1"
OTHER = "event:00000000-0000-4000-8000-0000000000d2"


class _CountingBroker(RedisBroker):
    """Counts the pipelines (round trips) the durable publishes took."""

    pipelines = 0
    _known_sha = ""

    def lose_script(self) -> None:
        """Act as a Redis that lost its scripts (SCRIPT FLUSH would reach every user of a
        shared server): EVALSHA names an unknown digest until an EVAL has run the text."""
        self._known_sha, self._publish_script.sha = self._publish_script.sha, "0" * 40

    async def _pipeline(self, items: Any, history: bool, *, text: bool = False) -> list[Any]:
        self.pipelines += 1
        try:
            return await super()._pipeline(items, history, text=text)
        finally:
            if text and self._known_sha:  # the EVAL cached it: the digest is known again
                self._publish_script.sha = self._known_sha


async def _collect(broker: RedisBroker, rooms: list[str]) -> list[Publication]:
    got: list[Publication] = []
    await broker.start(got.append)
    for room in rooms:
        await broker.subscribe(room)
    return got


async def test_a_burst_of_publishes_shares_round_trips_and_keeps_order(redis_url, prefix):
    broker = _CountingBroker(redis_url, prefix=prefix)
    got = await _collect(broker, [ROOM, OTHER])
    try:
        rooms = [ROOM if i % 2 else OTHER for i in range(300)]
        pubs = await asyncio.gather(*(broker.publish(room, f"m{i}".encode())
                                      for i, room in enumerate(rooms)))
        assert 1 <= broker.pipelines <= 3  # one per tick; max_items may split a burst
        for room in (ROOM, OTHER):
            mine = [p for p in pubs if p.room == room]
            assert [p.offset for p in mine] == list(range(1, 151))
            sent = [f"m{i}".encode() for i, r in enumerate(rooms) if r == room]
            assert [p.data for p in mine] == sent
        await eventually(lambda: len(got) == 300)
        for room in (ROOM, OTHER):
            assert [p.offset for p in got if p.room == room] == list(range(1, 151))
        history = await broker.history(ROOM, since=0, limit=1000)
        assert [p.offset for p in history.publications] == list(range(1, 151))
    finally:
        await broker.close()


async def test_a_batch_refused_with_noscript_runs_once_more_and_only_once(redis_url, prefix):
    """A Redis that lost its scripts answers NOSCRIPT (here the digest is made unknown,
    since SCRIPT FLUSH would reach every user of a shared server): the refused items are
    sent again with the script's text, no publication is stored or delivered twice, and
    the next batch runs by digest again in one pipeline."""
    broker = _CountingBroker(redis_url, prefix=prefix)
    got = await _collect(broker, [ROOM])
    try:
        broker.lose_script()
        pubs = await asyncio.gather(*(broker.publish(ROOM, f"n{i}".encode())
                                      for i in range(20)))
        assert [p.offset for p in pubs] == list(range(1, 21))
        assert broker.pipelines == 2
        await eventually(lambda: len(got) == 20)
        await asyncio.sleep(0.1)
        assert [p.data for p in got] == [f"n{i}".encode() for i in range(20)]
        history = await broker.history(ROOM, since=0, limit=1000)
        assert len(history.publications) == 20
        await broker.publish(ROOM, b"after")
        assert broker.pipelines == 3
    finally:
        await broker.close()
