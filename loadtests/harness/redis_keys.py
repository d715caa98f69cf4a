"""The Redis a benchmark runs against: reachable first, its keys gone after."""

from __future__ import annotations

import contextlib

import redis.asyncio as aioredis


async def ping(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        await r.ping()
    finally:
        await r.aclose()


async def drop_keys(redis_url: str, prefix: str) -> None:
    """Delete ``prefix:*``, best effort: a round's history and presence keys."""
    with contextlib.suppress(Exception):
        r = aioredis.Redis.from_url(redis_url)
        try:
            keys = [k async for k in r.scan_iter(match=f"{prefix}:*", count=1000)]
            if keys:
                await r.delete(*keys)
        finally:
            await r.aclose()
