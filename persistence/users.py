"""User rows for the operator API: create-or-look-up by external_id and/or email.

``users`` is global and RLS-protected (0001): a row is visible to the user's own claim.
Before any claim exists the one lookup is ``app_users_matching()`` (0013), which returns
ids only; each row is then read and written under that user's own claim.
"""

from __future__ import annotations

import uuid

import asyncpg
from asyncpg import Record

from persistence.tenant import Tenant, tenant_tx

_COLUMNS = "id, display_name, external_id, email, created_at"


class Conflict(Exception):
    """external_id and email name two different users, or a user's stored one differs."""


class _Raced(Exception):
    """Another transaction created or removed the user between lookup and write."""


async def get(pool: asyncpg.Pool, user: uuid.UUID) -> Record | None:
    """The user's row, or None when there is no such user."""
    async with tenant_tx(pool, Tenant(None, user)) as conn:
        row: Record | None = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM users WHERE id = $1", user)
    return row


async def find_or_create(pool: asyncpg.Pool, external_id: str | None, email: str | None,
                         display_name: str) -> tuple[Record, bool]:
    """The user named by ``external_id`` and/or ``email``, created if neither matches; a
    found user gets whichever of the two it lacked. Returns (row, created).

    Raises:
        Conflict: they name two users, or the user found has a different one stored.
    """
    for _ in range(3):  # a concurrent create of the same user: look again
        try:
            return await _find_or_create(pool, external_id, email, display_name)
        except (asyncpg.UniqueViolationError, _Raced):
            continue
    raise Conflict("the user changed concurrently; retry")


async def _find_or_create(pool: asyncpg.Pool, external_id: str | None, email: str | None,
                          display_name: str) -> tuple[Record, bool]:
    ids: list[uuid.UUID] = await pool.fetchval("SELECT app_users_matching($1, $2)",
                                               external_id, email)
    if len(ids) > 1:
        raise Conflict("external_id and email belong to different users")
    user = ids[0] if ids else uuid.uuid4()
    async with tenant_tx(pool, Tenant(None, user)) as conn:
        if not ids:
            row = await conn.fetchrow(
                "INSERT INTO users (id, display_name, external_id, email)"
                f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
                user, display_name, external_id, email)
            assert row is not None
            return row, True
        row = await conn.fetchrow(
            "UPDATE users SET external_id = coalesce(external_id, $2),"
            f" email = coalesce(email, $3) WHERE id = $1 RETURNING {_COLUMNS}",
            user, external_id, email)
    if row is None:  # deleted since the lookup
        raise _Raced
    for given, stored in ((external_id, row["external_id"]), (email, row["email"])):
        if given is not None and given != stored:
            raise Conflict("external_id and email belong to different users")
    return row, False
