"""The Redis broker on a Redis Cluster (Redis >= 7): sharded pub/sub.

Same keys, scripts and payloads as ``rooms.redis_broker``; the room's channel
``<prefix>:{<room>}`` shares the hash tag of its stream and meta hash, so the publish
script's XADD and SPUBLISH run atomically on the primary that owns the room's slot.
Subscriptions live in ``rooms.shard_feed``, which follows slots that move and
primaries that fail over, and then triggers the same resync as a reconnect.

Commands are not retried blindly on a connection error: a publish whose reply was lost
may have run, and running it again would publish it twice. The caller gets the error
(a client sees "unavailable" and may retry), as with any refused publish.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from rooms.broker import Handler, Publication
from rooms.redis_broker import RedisBroker
from rooms.redis_client import AnyRedis, cluster_client, run_script
from rooms.shard_feed import ShardFeed


class ClusterBroker(RedisBroker):
    """Broker over a Redis Cluster: a cluster client plus one SSUBSCRIBE connection per
    primary that owns a subscribed room."""

    _PUBLISH_COMMAND = "SPUBLISH"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._feed: ShardFeed | None = None

    def _client(self, url: str) -> AnyRedis:
        return cluster_client(url, retries=0)

    @property
    def _cluster(self) -> RedisCluster:
        assert isinstance(self._redis, RedisCluster)
        return self._redis

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        await self._cluster.initialize()
        kwargs = {k: v for k, v in self._cluster.get_connection_kwargs().items()
                  if k in _CONNECTION_SETTINGS}
        self._feed = ShardFeed(self._cluster, self._dispatch, kwargs)

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.aclose()
        await super().close()

    async def ping(self) -> bool:
        """True while any primary answers (``/ready``).

        redis-py's ``ping()`` asks every node and fails if one does not answer: one shard
        failing over would then take every hub out of its load balancer at once, though
        only that shard's rooms are refused (4503), and only for seconds.
        """
        for node in self._cluster.get_primaries():
            try:
                if await self._cluster.execute_command("PING", target_nodes=node):
                    return True
            except (RedisError, OSError):
                continue
        return False

    async def publish(self, room: str, data: bytes, *, history: bool = True) -> Publication:
        """Durable publishes one command each, not pipelined as on a single Redis.

        A cluster pipeline splits by node and redirects on its own during a failover or
        a slot move; the failover tests cover the one-command path, which is refused with
        an error the caller sees, never sent twice.
        """
        if not history:
            return await super().publish(room, data, history=False)
        offset, epoch = await run_script(self._redis, self._publish_script, self._keys(room),
                                         self._publish_args(room, data, history=True))
        return Publication(room, epoch.decode(), int(offset), data)

    async def subscribe(self, room: str) -> None:
        assert self._feed is not None, "start() first"
        channel = self.channel(room)
        self._channels[channel.encode()] = room
        await self._feed.add(channel)

    async def unsubscribe(self, room: str) -> None:
        assert self._feed is not None, "start() first"
        channel = self.channel(room)
        await self._feed.remove(channel)
        self._channels.pop(channel.encode(), None)


# What a sharded pub/sub connection takes from the cluster client's settings (the rest,
# such as the cluster's own connect callback, belong to its command connections).
_CONNECTION_SETTINGS = frozenset({
    "username", "password", "credential_provider", "ssl_ca_certs", "ssl_certfile",
    "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname", "socket_timeout",
    "socket_connect_timeout", "socket_keepalive", "client_name", "protocol",
    "connection_class",
})
