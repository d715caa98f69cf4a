"""Redis broker: history in a Stream per room, live fan-out through pub/sub.

Keys per room share a hash tag, so a room's script runs on one Cluster node:

* ``<prefix>:{<room>}:m`` hash with ``epoch`` and ``offset``
* ``<prefix>:{<room>}:h`` stream; entry id ``<offset>-0``, field ``d``
* ``<prefix>:{<room>}``   pub/sub channel

A pub/sub payload is ``b"<offset> <epoch> <data>"`` (offset 0 = ephemeral).

Publications made in the same loop tick run the same script in one pipeline
(``rooms.redis_batch``): a connect storm's joins, or a burst of chat across rooms, cost
a round trip, a pool connection and a reply read per batch, not per publish. Durable and
ephemeral (presence join/leave) publications batch separately. A pipeline runs its
commands in order on one connection, so publications to one room keep their order within
a batch, as separate calls from one task would; on a Cluster, durable publishes are not
batched (see ``rooms.cluster_broker``).

``rooms.cluster_broker`` is this broker on a Redis Cluster (sharded pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError, RedisError

from rooms.broker import EPHEMERAL, Broker, Handler, HistorySlice, Publication
from rooms.redis_batch import ShardedCoalescer
from rooms.redis_client import AnyRedis, redis_client, room_shard, run_script

log = logging.getLogger(__name__)

# Save + publish in one step. A new epoch drops any stale stream, so offsets
# in (epoch, offset) never repeat. %s is PUBLISH, or SPUBLISH on a Cluster: the room's
# channel shares its keys' hash tag, so it lives on the node that runs the script.
_PUBLISH = """
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local offset = 0
if ARGV[6] == '1' then
  offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], offset .. '-0', 'd', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('%s', ARGV[4], offset .. ' ' .. epoch .. ' ' .. ARGV[1])
return {offset, epoch}
"""

_HISTORY = """
if redis.call('HSETNX', KEYS[2], 'epoch', ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
local offset = tonumber(redis.call('HGET', KEYS[2], 'offset') or '0')
local since = tonumber(ARGV[3])
local entries = {}
if since >= 0 and since < offset and tonumber(ARGV[4]) > 0 then
  entries = redis.call('XRANGE', KEYS[1], (since + 1) .. '-0', '+', 'COUNT', ARGV[4])
end
return {epoch, offset, entries}
"""

# PING payload sent right after a reconnect's resubscription: its pong comes after every
# subscribe confirmation, so from then on the channels are live again.
RESYNC_MARKER = b"lh-resync"
# How long the reader waits between attempts to reconnect a lost pub/sub connection.
_RECONNECT_DELAY = 0.1


class _PubSub(PubSub):
    """redis-py's PubSub, resubscribing on reconnect (as it does), plus a marker PING.

    redis-py calls ``on_connect`` only on reconnects: the first connection is made
    before the callback is registered."""

    reconnects = 0

    async def on_connect(self, connection: Connection) -> None:
        await super().on_connect(connection)
        self.reconnects += 1
        if self.subscribed:
            await self.ping(RESYNC_MARKER)


class RedisBroker(Broker):
    """Broker over one Redis: a command pool plus one pub/sub connection per node."""

    _PUBLISH_COMMAND = "PUBLISH"

    def __init__(self, url: str, *, prefix: str = "lh", history_size: int = 1000,
                 history_ttl: int = 300) -> None:
        self._url = url
        self._prefix = prefix
        self._size = history_size
        self._ttl = history_ttl
        self._redis: AnyRedis = self._client(url)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._handler: Handler | None = None
        self._publish_lua = _PUBLISH % self._PUBLISH_COMMAND
        self._publish_script = self._redis.register_script(self._publish_lua)
        self._history_script = self._redis.register_script(_HISTORY)
        self._channels: dict[bytes, str] = {}
        # Epoch candidates (used only where a room has none yet): random per process, then
        # a counter, so a publish costs no call into the OS for randomness.
        self._epoch_base = secrets.token_hex(4)
        self._epoch_seq = itertools.count()
        by_shard = room_shard(self._redis)
        self._durable: ShardedCoalescer[tuple[str, bytes], Publication] = ShardedCoalescer(
            functools.partial(self._publish_batch, history=True), by_shard)
        self._ephemeral: ShardedCoalescer[tuple[str, bytes], Publication] = ShardedCoalescer(
            functools.partial(self._publish_batch, history=False), by_shard)

    def _client(self, url: str) -> AnyRedis:
        return redis_client(url)

    # -- naming ---------------------------------------------------------------

    def channel(self, room: str) -> str:
        return f"{self._prefix}:{{{room}}}"

    def _keys(self, room: str) -> list[str]:
        base = self.channel(room)
        return [f"{base}:h", f"{base}:m"]

    @staticmethod
    def decode(room: str, payload: bytes) -> Publication:
        """Parse a pub/sub payload published by the publish script."""
        offset, epoch, data = payload.split(b" ", 2)
        return Publication(room, epoch.decode(), int(offset), data)

    # -- lifecycle --------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        assert isinstance(self._redis, aioredis.Redis)
        self._pubsub = _PubSub(self._redis.connection_pool, ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def close(self) -> None:
        self._handler = None
        await self._durable.aclose()
        await self._ephemeral.aclose()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # -- operations -----------------------------------------------------------

    async def publish(self, room: str, data: bytes, *, history: bool = True) -> Publication:
        return await (self._durable if history else self._ephemeral).submit((room, data))

    async def _publish_batch(self, items: Sequence[tuple[str, bytes]], *, history: bool
                             ) -> list[Publication | BaseException]:
        """One pipeline of the publish script, one command per item.

        EVALSHA by the script's digest: a pipeline running a ``Script`` object would first
        ask ``SCRIPT EXISTS``, a round trip per batch. A Redis that lost its scripts
        (restarted, or a replica just promoted) answers NOSCRIPT: the items refused so, and
        only those, since the others have run, run again as EVAL with the script's text,
        which also caches it there. Not SCRIPT LOAD: on a cluster that goes to every
        primary, and one primary down would then fail publishes in every room.
        """
        results: list[Any] = await self._pipeline(items, history)
        retry = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if retry:
            again = await self._pipeline([items[i] for i in retry], history, text=True)
            for i, result in zip(retry, again, strict=True):
                results[i] = result
        out: list[Publication | BaseException] = []
        for (room, data), result in zip(items, results, strict=True):
            if isinstance(result, BaseException):
                out.append(result)
            else:
                out.append(Publication(room, result[1].decode(), int(result[0]), data))
        return out

    async def _pipeline(self, items: Sequence[tuple[str, bytes]], history: bool, *,
                        text: bool = False) -> list[Any]:
        command, script = ("EVAL", self._publish_lua) if text else (
            "EVALSHA", self._publish_script.sha)
        async with self._redis.pipeline(transaction=False) as pipe:
            for room, data in items:
                # execute_command: a cluster pipeline refuses pipe.evalsha(), yet routes
                # EVAL and EVALSHA by their keys like any keyed command.
                pipe.execute_command(command, script, 2, *self._keys(room),
                                     *self._publish_args(room, data, history=history))
            return list(await pipe.execute(raise_on_error=False))

    def _publish_args(self, room: str, data: bytes, *, history: bool) -> list[Any]:
        return [data, self._size, self._ttl, self.channel(room), self._new_epoch(),
                "1" if history else "0"]

    def _new_epoch(self) -> str:
        return f"{self._epoch_base}{next(self._epoch_seq):x}"

    async def subscribe(self, room: str) -> None:
        channel = self.channel(room)
        self._channels[channel.encode()] = room
        await self._pubsub.subscribe(channel)

    async def unsubscribe(self, room: str) -> None:
        channel = self.channel(room)
        await self._pubsub.unsubscribe(channel)
        self._channels.pop(channel.encode(), None)

    async def history(self, room: str, since: int | None = None, limit: int = 0) -> HistorySlice:
        epoch_b, offset, entries = await run_script(
            self._redis, self._history_script, self._keys(room),
            [self._new_epoch(), self._ttl, -1 if since is None else since, limit])
        epoch = epoch_b.decode()
        pubs = [
            Publication(room, epoch, int(entry_id.split(b"-", 1)[0]), fields[1])
            for entry_id, fields in entries
        ]
        if since is None:
            complete = True
        elif pubs:
            complete = pubs[0].offset == since + 1
        else:
            complete = since == offset
        return HistorySlice(epoch, int(offset), pubs, complete)

    # -- pub/sub reader -------------------------------------------------------

    async def _read(self) -> None:
        failing = False  # log an outage once, not every reconnect attempt
        while True:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                # No timeout: redis-py wraps every timed read in a timer of its own, a
                # cost per message; cancellation and a lost connection still end the wait.
                msg = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                # The next call reconnects, and _PubSub resubscribes every channel; the
                # node then repairs what was missed once the resync pong arrives.
                if not failing:
                    log.warning("pub/sub read failed (%s); reconnecting", exc)
                failing = True
                await asyncio.sleep(_RECONNECT_DELAY)
                continue
            failing = False
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        """Hand one pub/sub message to the node: a publication, or the resync marker."""
        kind = msg.get("type")
        if kind == "pong" and msg.get("data") == RESYNC_MARKER:
            log.warning("pub/sub reconnected; rooms resync from history")
            if self._on_resync is not None and self._handler is not None:
                try:
                    self._on_resync()
                except Exception:
                    log.exception("resync callback failed")
            return
        if kind not in ("message", "smessage"):
            return
        room = self._channels.get(msg["channel"])
        handler = self._handler
        if room is None or handler is None:
            return
        try:
            handler(self.decode(room, msg["data"]))
        except Exception:  # a bad handler must not kill the reader
            log.exception("publication handler failed")


__all__ = ["EPHEMERAL", "RedisBroker"]
