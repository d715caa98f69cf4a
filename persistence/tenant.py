"""Tenant transactions: every query runs inside one, with the caller's claims set locally.

Claims are set with set_config(..., is_local => true), so they end with the transaction:
a connection goes back to the pool carrying nothing for its next user (the supabase
realtime pattern). RLS policies read them back through app_org_id()/app_user_id()/app_role().
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

_SET_CLAIMS = (
    "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true),"
    " set_config('app.role', $3, true)"
)


class Tenant(msgspec.Struct, frozen=True):
    """The claims a transaction runs under. org_id None means no tenant: only public rows
    are visible. (Built from a ``rooms.principal.Principal`` by its ``tenant()``.)"""

    org_id: uuid.UUID | None
    user_id: uuid.UUID | None = None
    role: str = ""


def _claim(value: uuid.UUID | None) -> str:
    return "" if value is None else str(value)


@asynccontextmanager
async def tenant_tx(
    pool: asyncpg.Pool, tenant: Tenant
) -> AsyncIterator[PoolConnectionProxy]:
    """Yield a pooled connection inside a transaction scoped to ``tenant``.

    Commits when the block exits normally and rolls back when it raises.
    """
    async with pool.acquire() as conn, conn.transaction():
        # One round trip: a single prepared statement sets all three claims.
        await conn.execute(_SET_CLAIMS, _claim(tenant.org_id),
                           _claim(tenant.user_id), tenant.role)
        yield conn
