"""Presence in Redis: per room a sorted set of client ids scored by expiry
time (ms) and a hash of client id -> member JSON, under the room's hash tag."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from rooms.envelope import Member
from rooms.presence import Presence, member_decoder, member_encoder
from rooms.redis_client import redis_client

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
        self._redis: aioredis.Redis = redis_client(url)
        self._prefix = prefix
        self._ttl = ttl
        self._snapshot = self._redis.register_script(_SNAPSHOT)

    def _keys(self, room: str) -> tuple[str, str]:
        base = f"{self._prefix}:{{{room}}}"
        return f"{base}:pz", f"{base}:ph"

    def _deadline(self) -> int:
        return int((time.time() + self._ttl) * 1000)

    async def add(self, room: str, member: Member) -> None:
        zkey, hkey = self._keys(room)
        keep = int(self._ttl * 2)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(zkey, {member.client: self._deadline()})
            pipe.hset(hkey, member.client, member_encoder.encode(member))
            pipe.expire(zkey, keep)
            pipe.expire(hkey, keep)
            await pipe.execute()

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
        deadline = self._deadline()
        keep = int(self._ttl * 2)
        async with self._redis.pipeline(transaction=False) as pipe:
            for room, client in entries:
                zkey, hkey = self._keys(room)
                pipe.zadd(zkey, {client: deadline}, xx=True)
                pipe.expire(zkey, keep)
                pipe.expire(hkey, keep)
            await pipe.execute()

    async def snapshot(self, room: str) -> list[Member]:
        raw = await self._snapshot(keys=list(self._keys(room)), args=[int(time.time() * 1000)])
        return [member_decoder.decode(item) for item in raw if item is not None]

    async def close(self) -> None:
        await self._redis.aclose()
