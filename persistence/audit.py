"""Audit trail: one append-only row per privileged action, in the caller's transaction.

Writing through the caller's tenant_tx connection means the record commits or rolls back
with the action it describes, and RLS stamps it to the caller's org (WITH CHECK).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

_INSERT = """
INSERT INTO audit_log (organization_id, actor_id, action, target, detail)
VALUES (app_org_id(), $1, $2, $3, $4::jsonb)
"""


async def audit(
    conn: Connection | PoolConnectionProxy,
    actor_id: uuid.UUID | None,
    action: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record action on target by actor_id for the transaction's org."""
    # No RETURNING: only owners/admins may read audit rows, and RETURNING needs read access.
    payload = msgspec.json.encode(dict(detail or {})).decode()
    await conn.execute(_INSERT, actor_id, action, target, payload)
