"""Organization rows: create, read, update. Callers hold the transaction and its claims.

The HTTP API runs these in ``tenant_tx`` as the caller (the org's own claim: RLS lets an
org's owner/admin edit only that org, and creating one means claiming its new id first);
``hub org create`` runs them as the owner role. A duplicate slug or SMS number raises
``asyncpg.UniqueViolationError``, a bad value ``CheckViolationError``: the HTTP layer
answers 409 and 422.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import asyncpg
from asyncpg import Connection, Record
from asyncpg.pool import PoolConnectionProxy

Conn = Connection | PoolConnectionProxy
BlockedAction = Literal["reject", "hold"]  # chat_settings.blocked_action (0006)

SLUG_PATTERN = r"^[a-z0-9-]{3,63}\Z"  # checked by the API's decoder and the CLI
# What a caller may change with update(); the rest (Stripe state, owner) has its own paths.
EDITABLE = ("name", "slug", "product_context", "tip_priority_cents", "sms_number")
_COLUMNS = "id, name, slug, product_context, tip_priority_cents, sms_number, created_at"


def slugs_for(name: str, tries: int = 5) -> Iterator[str]:
    """Slugs to try for an org called ``name``: its words in lower case joined by -, then
    the same with a random suffix (for when it is taken)."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    base = base if len(base) >= 3 else f"org-{base}".rstrip("-")
    yield base
    for _ in range(tries - 1):
        yield f"{base}-{secrets.token_hex(3)}"


async def insert(conn: Conn, org: uuid.UUID, name: str, slug: str, product: str,
                 extra: Mapping[str, Any] | None = None) -> Record:
    """Create organization ``org``; ``extra`` sets other EDITABLE columns. Returns the row.

    Raises:
        asyncpg.UniqueViolationError: the slug (or SMS number) is taken.
    """
    row = await conn.fetchrow(
        f"INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_COLUMNS}", org, name, slug, product)
    assert row is not None
    return await update(conn, org, extra) if extra else row


async def fetch(conn: Conn, org: uuid.UUID, *, lock: bool = False) -> Record | None:
    """The organization's row, or None when it is unknown (or not visible to the claims);
    ``lock`` holds it (FOR UPDATE) to compare before and after a change."""
    row: Record | None = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM organizations WHERE id = $1"
        + (" FOR UPDATE" if lock else ""), org)
    return row


async def update(conn: Conn, org: uuid.UUID, changes: Mapping[str, Any]) -> Record:
    """Set ``changes`` (EDITABLE columns only) and return the row (read it if none).

    Raises:
        LookupError: no such organization under the claims.
        ValueError: a column that is not EDITABLE.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if changes:
        sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, start=2))
        row = await conn.fetchrow(
            f"UPDATE organizations SET {sets} WHERE id = $1 RETURNING {_COLUMNS}",
            org, *changes.values())
    else:
        row = await fetch(conn, org)
    if row is None:
        raise LookupError("unknown organization")
    return row


async def chat_rules(conn: Conn, org: uuid.UUID) -> tuple[list[str], BlockedAction]:
    """The org's blocked words and action (``rooms.services.moderation`` writes them)."""
    row = await conn.fetchrow("SELECT blocked_words, blocked_action FROM chat_settings"
                              " WHERE organization_id = $1", org)
    return ([], "reject") if row is None else (list(row["blocked_words"]),
                                               row["blocked_action"])


async def create(dsn: str, name: str, product: str, slug: str | None = None) -> uuid.UUID:
    """Create an organization as the owner role (``hub org create``); return its id.

    Raises:
        asyncpg.UniqueViolationError: ``slug`` (given) is taken.
    """
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for candidate in [slug] if slug else slugs_for(name):
            org = uuid.uuid4()
            try:
                async with conn.transaction():
                    await insert(conn, org, name, candidate, product)
                return org
            except asyncpg.UniqueViolationError:
                if slug:
                    raise
    finally:
        await conn.close()
    raise LookupError("no free slug; pass one")
