"""Coalescing: calls made close together become one Redis round trip.

A connect storm runs hundreds of subscribes at once; each one's presence write and join
announcement used to be a pipeline of its own (a pool connection, a round trip and a
RESP parse per join). A :class:`Coalescer` collects the items submitted until the loop
next runs its ready callbacks and hands them to one ``flush`` call, which writes them in
one pipeline and answers each item.

One tick alone gathers little: measured in a connect benchmark, nine batches in ten held
a single join, because each loop pass runs only the few subscribes whose frame just
arrived. So a coalescer also works as a group commit: while one of its batches is on its
way to Redis, later items wait and go together in the next batch as soon as it returns.
Under load a batch holds whatever arrived during one round trip; when idle, an item
still leaves on the next tick, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


class Coalescer(Generic[T, R]):
    """Batches ``submit`` calls (at most ``max_items`` per batch): those of one loop tick,
    and those made while ``max_in_flight`` batches are already being flushed.

    ``flush`` gets the items in submission order and returns one result per item, an
    exception instance for an item that failed; if it raises, every item of the batch
    fails with that exception. A full batch (``max_items``) flushes at once, even past
    ``max_in_flight``; batches in flight together finish in any order, so order is only
    kept within a batch, as for separate calls.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
                 *, max_items: int = 1000, max_in_flight: int = 1) -> None:
        self._flush = flush
        self._max = max_items
        self._max_in_flight = max_in_flight
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[R]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduled = False  # a _start is queued with call_soon

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[R] = loop.create_future()
        self._items.append(item)
        self._waiters.append(waiter)
        if len(self._items) >= self._max:
            self._start(force=True)
        elif not self._scheduled and len(self._tasks) < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._start)  # after every task ready in this tick has submitted
        return await waiter

    def _start(self, *, force: bool = False) -> None:
        self._scheduled = False
        if not self._items:
            return  # flushed early by max_items
        if not force and len(self._tasks) >= self._max_in_flight:
            return  # the batch in flight starts this one when it is done (_done)
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        task = asyncio.get_running_loop().create_task(self._run(items, waiters))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._items and not self._scheduled:
            self._start()  # what gathered meanwhile goes now, as one batch

    async def _run(self, items: list[T], waiters: list[asyncio.Future[R]]) -> None:
        try:
            results = await self._flush(items)
        except BaseException as exc:  # includes cancellation: nobody may wait forever
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc if isinstance(exc, Exception)
                                         else ConnectionError("batch cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for waiter, result in zip(waiters, results, strict=True):
            if waiter.done():  # its caller was cancelled
                continue
            if isinstance(result, BaseException):
                waiter.set_exception(result)
            else:
                waiter.set_result(result)

    async def aclose(self) -> None:
        """Flush what is waiting and wait for every batch (a closing node's last writes)."""
        self._start(force=True)
        while self._tasks:
            await asyncio.wait(list(self._tasks))


class ShardedCoalescer(Generic[T, R]):
    """A :class:`Coalescer` per shard: ``shard(item)`` names where the item goes (the
    cluster node serving its room); with ``shard`` None (a single Redis), just one.

    A batch waits for its slowest command. Across shards, a batch holding one item for a
    primary that hangs (stopped, partitioned) would hold every other shard's items for the
    socket timeout too, and with one batch in flight every later item behind it: each
    shard's items batch apart, so only that shard's rooms wait.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
                 shard: Callable[[T], Hashable] | None, **options: int) -> None:
        self._flush = flush
        self._options = options
        self._shard = shard
        self._by_shard: dict[Hashable, Coalescer[T, R]] = {}

    async def submit(self, item: T) -> R:
        name = None if self._shard is None else self._shard(item)
        coalescer = self._by_shard.get(name)
        if coalescer is None:
            coalescer = self._by_shard[name] = Coalescer(self._flush, **self._options)
        return await coalescer.submit(item)

    async def aclose(self) -> None:
        for coalescer in list(self._by_shard.values()):
            await coalescer.aclose()
