"""Sharded pub/sub on a Redis Cluster: one SSUBSCRIBE connection per primary that owns
a subscribed channel, each with its own reader.

redis-py's ``ClusterPubSub`` polls its per-node connections in turn (a message waits
while another node's poll times out) and re-routes channels only after a command of
the same client met a topology change; a node that only listens would never notice.
So the feed keeps its own map, channel -> the primary it is subscribed on, and
rebuilds it whenever a connection fails or Redis takes a channel away (a slot moved, or
the primary became a replica after a failover): refresh the slot map, subscribe every
orphaned channel on its current owner, then PING the resync marker there. The marker's
pong comes after the subscribe confirmations, so the broker's resync callback runs once
the channels are live again and the node repairs from history what was missed.

A watchdog backs this up: every ``check_interval`` seconds it pings every connection
(one silent for three rounds is treated as lost: a dead peer does not always close the
socket), and every fifth round it reads the slot map, so a change nobody told this
process about (a demoted primary that keeps its subscribers) is still followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisError, SlotNotCoveredError

from rooms.redis_broker import RESYNC_MARKER

log = logging.getLogger(__name__)

# Between attempts to rebuild subscriptions while the cluster is failing over.
_RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8, 1.0)
_ALIVE = b"lh-alive"  # the watchdog's PING payload; its pong only proves the link
_SILENT_ROUNDS = 3  # watchdog rounds without a word from a connection: it is lost
_MAP_ROUNDS = 5  # the watchdog reads the slot map every this many rounds
_STALE_MAP_SECONDS = 5.0  # how long a node that dropped a channel is not its owner


class StaleSlotMap(RedisError):
    """The slot map still names the node that just gave a channel up: read it again."""

Dispatch = Callable[[dict[str, Any]], None]


def _by_slot(channels: list[str]) -> list[list[str]]:
    """One SSUBSCRIBE may only name channels of one slot (else CROSSSLOT)."""
    groups: defaultdict[int, list[str]] = defaultdict(list)
    for channel in channels:
        groups[key_slot(channel.encode())].append(channel)
    return list(groups.values())


class _Shard:
    def __init__(self, node: ClusterNode, pubsub: PubSub) -> None:
        self.name = node.name
        self.pubsub = pubsub
        self.reader: asyncio.Task[None] | None = None
        self.heard = asyncio.get_running_loop().time()  # last message, pong included


class ShardFeed:
    """The channels this process listens to, spread over the cluster's primaries."""

    def __init__(self, cluster: RedisCluster, dispatch: Dispatch,
                 connection_kwargs: dict[str, Any], *, check_interval: float = 1.0) -> None:
        self._rc = cluster
        self._dispatch = dispatch
        self._kwargs = connection_kwargs
        self._wanted: set[str] = set()
        self._owner: dict[str, str] = {}  # channel -> name of the shard it is live on
        # channel -> (node that dropped it, when): a slot map naming that node again is
        # taken as stale for a while, since the nodes learn a failover one by one.
        self._dropped_by: dict[str, tuple[str, float]] = {}
        self._shards: dict[str, _Shard] = {}
        self._lock = asyncio.Lock()  # one change to the map at a time
        # Connections opened for a shard not in the map yet, and a lock per node while
        # one is being opened (outside ``_lock``: see ``add``).
        self._ready: dict[str, PubSub] = {}
        self._connecting: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._rebuild: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._interval = check_interval
        self._watchdog = asyncio.create_task(self._watch(), name="shard-watchdog")

    async def add(self, channel: str) -> None:
        node = self._owner_of(channel)
        if node.name not in self._shards:
            # Connect before taking the map's lock: a primary that hangs (stopped,
            # partitioned) answers nothing until the socket timeout, and would hold up
            # every shard's joins behind its own for that long.
            await self._connect(node)
        async with self._lock:
            self._wanted.add(channel)
            try:
                await self._subscribe(self._owner_of(channel), [channel])
            except BaseException:
                self._wanted.discard(channel)
                raise

    async def remove(self, channel: str) -> None:
        async with self._lock:
            self._wanted.discard(channel)
            self._dropped_by.pop(channel, None)
            shard = self._shards.get(self._owner.pop(channel, ""))
            if shard is None:
                return
            if not any(name == shard.name for name in self._owner.values()):
                self._drop(shard)  # its last channel: close the connection
                return
            with contextlib.suppress(RedisError, OSError):  # a broken one is rebuilt
                await shard.pubsub.sunsubscribe(channel)

    async def aclose(self) -> None:
        for task in (self._watchdog, self._rebuild):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for shard in list(self._shards.values()):
            self._drop(shard)
        for pubsub in self._ready.values():
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await pubsub.connection_pool.aclose()
        self._ready.clear()
        if self._closing:
            await asyncio.wait(list(self._closing))

    # -- subscriptions ------------------------------------------------------------

    def _owner_of(self, channel: str) -> ClusterNode:
        node = self._rc.get_node_from_key(channel)
        if node is None:
            raise SlotNotCoveredError(f"no primary serves {channel!r}")
        return node

    def _pubsub(self, node: ClusterNode) -> PubSub:
        # No reconnect inside redis-py: a lost connection is rebuilt here, on whichever
        # primary owns each channel by then.
        pool = aioredis.ConnectionPool(host=node.host, port=node.port, **self._kwargs,
                                       retry=Retry(NoBackoff(), 0))
        return PubSub(pool)

    async def _connect(self, node: ClusterNode) -> None:
        """Open a connection to ``node`` for ``_subscribe`` to take."""
        async with self._connecting[node.name]:
            if node.name in self._shards or node.name in self._ready:
                return
            pubsub = self._pubsub(node)
            try:
                await pubsub.connect()  # type: ignore[no-untyped-call]
            except BaseException:
                with contextlib.suppress(Exception):
                    await pubsub.connection_pool.aclose()
                raise
            self._ready[node.name] = pubsub

    async def _subscribe(self, node: ClusterNode, channels: list[str]) -> _Shard:
        """Subscribe ``channels`` (all owned by ``node``) on that node's connection."""
        shard = self._shards.get(node.name)
        if shard is None:
            pubsub = self._ready.pop(node.name, None) or self._pubsub(node)
            shard = self._shards[node.name] = _Shard(node, pubsub)
        try:
            for group in _by_slot(channels):
                await shard.pubsub.ssubscribe(*group)
        except BaseException:
            self._drop(shard)
            self._schedule_rebuild()  # for the shard's other channels, if it had any
            raise
        for channel in channels:
            self._owner[channel] = shard.name
        if shard.reader is None:
            shard.reader = asyncio.create_task(self._read(shard), name=f"shard-{shard.name}")
        return shard

    def _drop(self, shard: _Shard) -> None:
        """Forget a shard; its channels are orphans until the next rebuild."""
        if self._shards.get(shard.name) is shard:
            del self._shards[shard.name]
        for channel, name in list(self._owner.items()):
            if name == shard.name:
                del self._owner[channel]
        task = asyncio.create_task(self._close(shard))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(shard: _Shard) -> None:
        current = asyncio.current_task()
        if shard.reader is not None and shard.reader is not current:
            shard.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shard.reader
        with contextlib.suppress(Exception):
            await shard.pubsub.aclose()  # type: ignore[no-untyped-call]
            await shard.pubsub.connection_pool.aclose()

    # -- repair -------------------------------------------------------------------

    def _lost(self, shard: _Shard, why: str) -> None:
        if self._shards.get(shard.name) is shard:
            log.warning("sharded pub/sub on %s lost (%s); resubscribing", shard.name, why)
            self._drop(shard)
        self._schedule_rebuild()

    def _schedule_rebuild(self) -> None:
        if self._rebuild is None or self._rebuild.done():
            self._rebuild = asyncio.create_task(self._rebuild_loop(), name="shard-rebuild")

    async def _rebuild_loop(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._lock:
                    await self._resubscribe_orphans()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever it was, giving up would leave rooms deaf
                # The cluster client may be refreshing its own slot map at the same time
                # (after a failed command): a clash is one more reason to try again.
                if attempt == 0:
                    log.warning("cluster not ready for resubscribe (%r); retrying", exc)
                await asyncio.sleep(_RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)])
                attempt += 1

    async def _resubscribe_orphans(self) -> None:
        """Refresh the slot map, then subscribe each channel not live on its owner."""
        await self._rc.nodes_manager.initialize()
        moves: defaultdict[str, list[str]] = defaultdict(list)
        nodes: dict[str, ClusterNode] = {}
        now = asyncio.get_running_loop().time()
        for channel in self._wanted:
            node = self._owner_of(channel)
            held = self._owner.get(channel)
            if held == node.name:
                continue
            dropper, since = self._dropped_by.get(channel, ("", 0.0))
            if dropper == node.name and now - since < _STALE_MAP_SECONDS:
                raise StaleSlotMap(f"{node.name} dropped {channel!r} yet is named its owner")
            if held is not None:  # still on a live shard that no longer owns it
                with contextlib.suppress(RedisError, OSError):
                    await self._shards[held].pubsub.sunsubscribe(channel)
                del self._owner[channel]
            moves[node.name].append(channel)
            nodes[node.name] = node
        for name, channels in moves.items():
            shard = await self._subscribe(nodes[name], channels)
            for channel in channels:
                self._dropped_by.pop(channel, None)
            log.debug("resubscribed %d channels on %s", len(channels), name)
            await shard.pubsub.ping(RESYNC_MARKER)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        rounds = 0
        while True:
            await asyncio.sleep(self._interval)
            if not self._wanted:
                continue
            rounds += 1
            for shard in list(self._shards.values()):
                if loop.time() - shard.heard > self._interval * _SILENT_ROUNDS:
                    self._lost(shard, "no answer to pings")
                    continue
                try:
                    await shard.pubsub.ping(_ALIVE)
                except (RedisError, OSError) as exc:
                    self._lost(shard, repr(exc))
            if rounds % _MAP_ROUNDS == 0:
                self._schedule_rebuild()  # reads the slot map; moves only what changed

    # -- reading ------------------------------------------------------------------

    async def _read(self, shard: _Shard) -> None:
        pubsub = shard.pubsub
        while True:
            try:
                msg = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._lost(shard, str(exc) or type(exc).__name__)
                return
            if msg is None:
                continue
            shard.heard = asyncio.get_running_loop().time()
            if msg["type"] == "sunsubscribe" and msg["channel"] in pubsub.shard_channels:
                # Not ours: Redis dropped the channel because its slot is no longer
                # served here (moved away, or this primary became a replica).
                pubsub.shard_channels.pop(msg["channel"], None)
                channel = msg["channel"].decode()
                self._dropped_by[channel] = (shard.name, asyncio.get_running_loop().time())
                if self._owner.get(channel) == shard.name:
                    del self._owner[channel]
                self._schedule_rebuild()
                continue
            self._dispatch(msg)
