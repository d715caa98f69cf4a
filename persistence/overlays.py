"""Event overlay secrets (migration 0015): minting, rotating, and resolving one.

An overlay credential is a random secret (URL-safe, 43 characters). Only its sha256 is
stored; a rotation replaces it and bumps ``version``, so whoever holds an older version
is out (the hub closes those connections).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from typing import Final

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from persistence.audit import audit
from persistence.tenant import Tenant, tenant_tx

Conn = asyncpg.Connection | PoolConnectionProxy
# secrets.token_urlsafe(32): 32 random bytes, base64url without padding.
_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


class OverlayGrant(msgspec.Struct, frozen=True):
    """What a valid overlay secret stands for."""

    org: uuid.UUID
    event: uuid.UUID
    version: int


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def well_formed(secret: str) -> bool:
    """Whether ``secret`` could be one we minted (garbage never reaches Postgres)."""
    return _SHAPE.fullmatch(secret) is not None


_ROTATE = """
INSERT INTO event_overlays (organization_id, event_id, secret_hash, rotated_by)
VALUES (app_org_id(), $1, $2, $3)
ON CONFLICT (event_id) DO UPDATE
    SET secret_hash = EXCLUDED.secret_hash, version = event_overlays.version + 1,
        rotated_at = now(), rotated_by = EXCLUDED.rotated_by
RETURNING version
"""


async def rotate(conn: Conn, event_id: uuid.UUID, secret: str, actor: str | None) -> int | None:
    """Make ``secret`` the event's overlay secret (audited); return its version.

    Runs in the caller's tenant transaction: None when the event is not in that org.
    """
    if await conn.fetchval("SELECT 1 FROM events WHERE id = $1 AND organization_id ="
                           " app_org_id() FOR UPDATE", event_id) is None:
        return None
    version: int = await conn.fetchval(_ROTATE, event_id, secret_hash(secret), actor)
    await audit(conn, actor, "overlay.rotate", str(event_id),
                {"version": version, "by": actor or "server"})
    return version


async def grant_of(pool: asyncpg.Pool, secret: str) -> OverlayGrant | None:
    """The grant ``secret`` holds now, or None (no such secret, or rotated away)."""
    if not well_formed(secret):
        return None
    row = await pool.fetchrow("SELECT * FROM app_overlay_by_hash($1)", secret_hash(secret))
    return None if row is None else OverlayGrant(row["organization_id"], row["event_id"],
                                                 row["version"])


async def current_versions(pool: asyncpg.Pool, org: uuid.UUID,
                           events: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The current overlay version of each of ``org``'s events (those with none are left
    out)."""
    async with tenant_tx(pool, Tenant(org)) as conn:
        rows = await conn.fetch("SELECT event_id, version FROM event_overlays"
                                " WHERE organization_id = $1 AND event_id = ANY($2::uuid[])",
                                org, events)
    return {r["event_id"]: r["version"] for r in rows}
