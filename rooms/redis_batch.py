"""Coalescing: calls made in the same event-loop tick become one Redis round trip.

A connect storm runs hundreds of subscribes at once; each one's presence write and join
announcement used to be a pipeline of its own (a pool connection, a round trip and a
RESP parse per join). A :class:`Coalescer` collects the items submitted until the loop
next runs its ready callbacks and hands them to one ``flush`` call, which writes them in
one pipeline and answers each item.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


class Coalescer(Generic[T, R]):
    """Batches ``submit`` calls of one loop tick (at most ``max_items`` per batch).

    ``flush`` gets the items in submission order and returns one result per item, an
    exception instance for an item that failed; if it raises, every item of the batch
    fails with that exception. Batches flush concurrently, so order is only kept within
    a batch, as for separate calls.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
                 *, max_items: int = 1000) -> None:
        self._flush = flush
        self._max = max_items
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[R]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        if not self._items:
            loop.call_soon(self._start)  # after every task ready in this tick has submitted
        waiter: asyncio.Future[R] = loop.create_future()
        self._items.append(item)
        self._waiters.append(waiter)
        if len(self._items) >= self._max:
            self._start()
        return await waiter

    def _start(self) -> None:
        if not self._items:
            return  # flushed early by max_items
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        task = asyncio.get_running_loop().create_task(self._run(items, waiters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        """Wait for batches already started (a closing node's last writes)."""
        self._start()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
