"""One way to build Redis clients, so every pool behaves the same under load."""

from __future__ import annotations

import redis.asyncio as aioredis


def redis_client(url: str, *, max_connections: int = 32) -> aioredis.Redis:
    """A client whose pool waits for a free connection instead of failing.

    redis-py's default pool raises ``MaxConnectionsError`` when a burst of
    subscribes outnumbers its connections; a blocking pool queues them.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=10)
    return aioredis.Redis(connection_pool=pool)
