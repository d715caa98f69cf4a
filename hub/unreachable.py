"""Which failures mean "a backing service (Redis, Postgres) did not answer".

Each is answered as unavailable (websocket error 4503, HTTP 503, an SSE ``close`` with
4503): the client should retry, and nothing changed. Anything else is an internal error.

Postgres going away shows up as more than a refused socket: a server that is shutting
down or starting up refuses new sessions with SQLSTATE 57P03 (``CannotConnectNowError``),
a shutdown ends the sessions it kills with 57P01/57P02, and a full server says 53300.
A session the server ends in the middle of an operation sometimes surfaces from asyncpg
as ``InternalClientError`` ("cannot switch to state 15; another operation (2) is in
progress", asyncpg issues 784 and 1069) instead of a closed connection; its pool then
drops that connection.
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import RedisError

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, timed out (TimeoutError and ConnectionError are OSErrors)
    RedisError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # the connection was lost under a query
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
)
