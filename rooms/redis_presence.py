"""Presence in Redis: per room a sorted set of client ids scored by expiry
time (ms) and a hash of client id -> member JSON, under the room's hash tag.

Joins arriving in the same loop tick are written in one pipeline (``rooms.redis_batch``),
one ZADD and one HSET per room for all of them (one pipeline per shard on a cluster); a
refresh is one pipeline with one ZADD per room (chunked), so neither costs a round trip
per member."""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio.cluster import RedisCluster

from rooms.envelope import Member
from rooms.presence import Presence, member_decoder, member_encoder
from rooms.redis_batch import ShardedCoalescer
from rooms.redis_client import AnyRedis, redis_client, room_shard, run_script

_CHUNK = 1000  # members per ZADD in a refresh: bounds one command's size and run time

# Drop expired members, then list the live ones in join (insertion) order.
_SNAPSHOT = """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(live))
"""


class RedisPresence(Presence):
    def __init__(self, url: str, *, prefix: str = "lh", ttl: float = 30.0) -> None:
        self._redis: AnyRedis = redis_client(url)
        self._prefix = prefix
        self._ttl = ttl
        self._snapshot = self._redis.register_script(_SNAPSHOT)
        self._adds: ShardedCoalescer[tuple[str, Member], None] = ShardedCoalescer(
            self._add_batch, room_shard(self._redis))

    def _keys(self, room: str) -> tuple[str, str]:
        base = f"{self._prefix}:{{{room}}}"
        return f"{base}:pz", f"{base}:ph"

    async def start(self) -> None:
        # A cluster client reads the slot map on its first command, asking the nodes of
        # the URL in turn; one that hangs then holds every command for a socket timeout.
        # Read it now, while the cluster is whole, not with the first join.
        if isinstance(self._redis, RedisCluster):
            await self._redis.initialize()

    def _deadline(self) -> int:
        return int((time.time() + self._ttl) * 1000)

    async def add(self, room: str, member: Member) -> None:
        await self._adds.submit((room, member))

    async def _add_batch(self, items: Sequence[tuple[str, Member]]) -> list[None]:
        by_room: dict[str, dict[str, bytes]] = {}
        for room, member in items:
            by_room.setdefault(room, {})[member.client] = member_encoder.encode(member)
        deadline = self._deadline()
        keep = int(self._ttl * 2)
        async with self._redis.pipeline(transaction=False) as pipe:
            for room, members in by_room.items():
                zkey, hkey = self._keys(room)
                pipe.zadd(zkey, dict.fromkeys(members, deadline))
                pipe.hset(hkey, mapping=members)  # type: ignore[arg-type]
                pipe.expire(zkey, keep)
                pipe.expire(hkey, keep)
            await pipe.execute()
        return [None] * len(items)

    async def remove(self, room: str, client: str) -> None:
        zkey, hkey = self._keys(room)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(zkey, client)
            pipe.hdel(hkey, client)
            await pipe.execute()

    async def remove_many(self, entries: list[tuple[str, str]]) -> None:
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for room, client in entries:
                zkey, hkey = self._keys(room)
                pipe.zrem(zkey, client)
                pipe.hdel(hkey, client)
            await pipe.execute()

    async def refresh(self, entries: list[tuple[str, str]]) -> None:
        if not entries:
            return
        by_room: dict[str, list[str]] = {}
        for room, client in entries:
            by_room.setdefault(room, []).append(client)
        deadline = self._deadline()
        keep = int(self._ttl * 2)
        async with self._redis.pipeline(transaction=False) as pipe:
            for room, clients in by_room.items():
                zkey, hkey = self._keys(room)
                for i in range(0, len(clients), _CHUNK):
                    # XX: never re-add a member removed meanwhile.
                    pipe.zadd(zkey, dict.fromkeys(clients[i:i + _CHUNK], deadline), xx=True)
                pipe.expire(zkey, keep)
                pipe.expire(hkey, keep)
            await pipe.execute()

    async def snapshot(self, room: str) -> list[Member]:
        raw = await run_script(self._redis, self._snapshot, list(self._keys(room)),
                               [int(time.time() * 1000)])
        return [member_decoder.decode(item) for item in raw if item is not None]

    async def close(self) -> None:
        await self._adds.aclose()
        await self._redis.aclose()
