"""Every broker and presence implementation runs the same contract suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from rooms.broker import Broker, Publication
from rooms.cluster_broker import ClusterBroker
from rooms.memory_broker import MemoryBroker
from rooms.presence import MemoryPresence, Presence
from rooms.redis_broker import RedisBroker
from rooms.redis_presence import RedisPresence


class Inbox:
    """Collects what a broker hands its node, and waits for it."""

    def __init__(self) -> None:
        self.items: list[Publication] = []
        self._changed = asyncio.Event()

    def __call__(self, pub: Publication) -> None:
        self.items.append(pub)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Publication]:
        async def wait() -> None:
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return self.items


BrokerFactory = Callable[..., Broker]


def _url(request: pytest.FixtureRequest) -> str:
    """The Redis URL for this kind: the shared server, or the session's Redis Cluster
    (started only when a cluster test runs)."""
    if request.param == "cluster":
        return str(request.getfixturevalue("cluster").url)
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_broker(request, prefix: str) -> AsyncIterator[BrokerFactory]:
    """Build brokers of one kind; Redis ones share this test's key prefix."""
    made: list[Broker] = []
    url = "" if request.param == "memory" else _url(request)

    def make(**kwargs: object) -> Broker:
        broker: Broker
        if request.param == "memory":
            broker = MemoryBroker(**kwargs)  # type: ignore[arg-type]
        elif request.param == "cluster":
            broker = ClusterBroker(url, prefix=prefix, **kwargs)  # type: ignore[arg-type]
        else:
            broker = RedisBroker(url, prefix=prefix, **kwargs)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for broker in made:
        await broker.close()


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_presence(request, prefix: str) -> AsyncIterator[Callable[..., Presence]]:
    made: list[Presence] = []
    shared = MemoryPresence  # memory presence is per process: "nodes" share one
    url = "" if request.param == "memory" else _url(request)

    def make(ttl: float = 30.0) -> Presence:
        presence: Presence
        if request.param == "memory":
            if not made:
                made.append(shared(ttl=ttl))
            return made[0]
        presence = RedisPresence(url, prefix=prefix, ttl=ttl)
        made.append(presence)
        return presence

    yield make
    for presence in made:
        await presence.close()
