"""The per-tick coalescer behind batched presence writes and join announcements."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from rooms.redis_batch import Coalescer, ShardedCoalescer


async def test_calls_of_one_tick_make_one_batch_in_order() -> None:
    batches: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [x * 10 for x in items]

    batcher: Coalescer[int, int] = Coalescer(flush)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert await batcher.submit(7) == 70
    assert batches == [[0, 1, 2, 3, 4], [7]]


async def test_max_items_splits_a_burst() -> None:
    sizes: list[int] = []

    async def flush(items: Sequence[int]) -> list[None]:
        sizes.append(len(items))
        return [None] * len(items)

    batcher: Coalescer[int, None] = Coalescer(flush, max_items=4)
    await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert sizes == [4, 4, 2]


async def test_a_failed_item_fails_alone_and_a_failed_flush_fails_all() -> None:
    async def per_item(items: Sequence[int]) -> list[int | BaseException]:
        return [ValueError(x) if x == 2 else x for x in items]

    batcher: Coalescer[int, int] = Coalescer(per_item)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)),
                                   return_exceptions=True)
    assert results[:2] == [0, 1] and results[3] == 3
    assert isinstance(results[2], ValueError)

    async def broken(items: Sequence[int]) -> list[int]:
        raise ConnectionError("redis went away")

    failing: Coalescer[int, int] = Coalescer(broken)
    results = await asyncio.gather(*(failing.submit(i) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    with pytest.raises(ConnectionError):
        await failing.submit(9)


async def test_calls_made_while_a_batch_is_in_flight_go_together_next() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await release.wait()  # the round trip
        return list(items)

    batcher: Coalescer[int, int] = Coalescer(flush)
    first = asyncio.ensure_future(batcher.submit(0))
    for _ in range(5):
        await asyncio.sleep(0)
    assert batches == [[0]]  # an idle coalescer sends on the next tick
    later = []
    for i in range(1, 4):  # separate ticks, all during the round trip
        later.append(asyncio.ensure_future(batcher.submit(i)))
        for _ in range(5):
            await asyncio.sleep(0)
    assert batches == [[0]]
    release.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [1, 2, 3]
    assert batches == [[0], [1, 2, 3]]


async def test_aclose_flushes_what_waits_behind_a_batch_in_flight() -> None:
    done: list[int] = []

    async def flush(items: Sequence[int]) -> list[None]:
        await asyncio.sleep(0.01)
        done.extend(items)
        return [None] * len(items)

    batcher: Coalescer[int, None] = Coalescer(flush)
    waiting = [asyncio.ensure_future(batcher.submit(0))]
    await asyncio.sleep(0)
    waiting.append(asyncio.ensure_future(batcher.submit(1)))
    await asyncio.sleep(0)
    await batcher.aclose()
    assert done == [0, 1]
    await asyncio.gather(*waiting)


async def test_a_shard_that_hangs_holds_up_only_its_own_items() -> None:
    """Items batch by shard: a flush stuck on one shard (a primary that stopped
    answering) leaves the other shards' items to go in batches of their own."""
    hung = asyncio.Event()
    batches: list[list[str]] = []

    async def flush(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        if any(item.startswith("a") for item in items):
            await hung.wait()
        return [item.upper() for item in items]

    batcher: ShardedCoalescer[str, str] = ShardedCoalescer(flush, lambda item: item[0])
    stuck = asyncio.ensure_future(asyncio.gather(batcher.submit("a1"), batcher.submit("a2")))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(asyncio.gather(batcher.submit("b1"), batcher.submit("b2"),
                                                 batcher.submit("c1")), 1) == ["B1", "B2", "C1"]
    assert not stuck.done()
    hung.set()
    assert await stuck == ["A1", "A2"]
    assert sorted(batches) == [["a1", "a2"], ["b1", "b2"], ["c1"]]


async def test_without_shards_one_coalescer_batches_everything() -> None:
    batches: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return list(items)

    batcher: ShardedCoalescer[int, int] = ShardedCoalescer(flush, None)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(4))) == [0, 1, 2, 3]
    assert batches == [[0, 1, 2, 3]]
