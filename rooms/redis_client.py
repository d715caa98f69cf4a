"""One way to build Redis clients, so every pool behaves the same under load.

``redis://`` (or ``rediss://``, ``unix://``) names one server; ``redis+cluster://h:p,h:p``
(or ``rediss+cluster://``) names a Redis Cluster by one or more of its nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

AnyRedis = aioredis.Redis | RedisCluster

_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


async def run_script(redis: AnyRedis, script: AsyncScript, keys: list[str],
                     args: list[Any]) -> Any:
    """EVALSHA ``script``; on NOSCRIPT, EVAL with its text, which also caches it there.

    Not redis-py's ``Script.__call__``: that loads a missing script with SCRIPT LOAD, which
    a cluster client sends to every primary, so one primary down (failing over) would fail
    this call in every room, on the healthy shards too.
    """
    try:
        return await redis.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await redis.eval(cast(str, script.script), len(keys), *keys, *args)


def room_shard(redis: AnyRedis) -> Callable[[tuple[str, Any]], str | None] | None:
    """On a cluster, a ``(room, ...)`` item -> the name of the node serving the room's keys
    (every one is under the hash tag ``{room}``; None while the slot map has no node for
    it): what ``ShardedCoalescer`` batches by. None for a single Redis."""
    if not isinstance(redis, RedisCluster):
        return None

    def node(item: tuple[str, Any]) -> str | None:
        try:
            found = redis.get_node_from_key(f"{{{item[0]}}}")
        except Exception:  # slot not covered mid-failover: the command itself will say
            return None
        return None if found is None else str(found.name)

    return node


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in _CLUSTER_SCHEMES


def as_cluster_url(url: str) -> str:
    """``redis://h:p`` -> ``redis+cluster://h:p`` (``REDIS_CLUSTER=1`` with a plain URL)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("redis", "rediss"):
        return f"{scheme}+cluster://{rest}"
    return url


def redis_client(url: str, *, max_connections: int = 32, retries: int = 3) -> AnyRedis:
    """A client for ``url``; a :class:`RedisCluster` for a cluster URL.

    A single server's pool waits for a free connection instead of failing: redis-py's
    default pool raises ``MaxConnectionsError`` when a burst of subscribes outnumbers
    its connections; a blocking pool queues them. ``retries`` is how often a command
    that met a connection error is sent again (0 for commands that must not run twice).
    """
    if is_cluster_url(url):
        return cluster_client(url, retries=retries)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=10)
    return aioredis.Redis(connection_pool=pool)


class _QueuingCluster(RedisCluster):
    """A cluster client that waits for a free connection instead of failing.

    redis-py's cluster nodes raise ``MaxConnectionsError`` past ``max_connections``
    and have no blocking pool; a semaphore below that number queues a burst of
    commands instead (a pipeline takes one connection per node, outside it).
    """

    def __init__(self, *args: Any, in_flight: int = 64, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = asyncio.Semaphore(in_flight)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._in_flight:
            return await super().execute_command(*args, **kwargs)


def cluster_client(url: str, *, retries: int = 3) -> RedisCluster:
    """A cluster client from ``redis+cluster://[user:pass@]host:port[,host:port...]``.

    Every listed node is a startup node: the client needs any one of them to be up to
    learn the slot map, then follows the cluster's own view of its nodes.
    """
    scheme, _, rest = url.partition("://")
    parts = urlsplit(f"{_CLUSTER_SCHEMES[scheme]}://{rest}")
    creds, _, hosts = parts.netloc.rpartition("@")
    nodes = []
    for hostport in hosts.split(","):
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"cluster node must be host:port, got {hostport!r} in {url!r}")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    first = parts._replace(netloc=f"{creds}@{hosts.split(',')[0]}" if creds else
                           hosts.split(",")[0]).geturl()
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries)
    return _QueuingCluster.from_url(first, startup_nodes=nodes, retry=retry,
                                    max_connections=128)
