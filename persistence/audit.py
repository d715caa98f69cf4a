"""Audit trail: one append-only row per privileged action, in the caller's transaction.

Writing through the caller's tenant_tx connection means the record commits or rolls back
with the action it describes, and RLS stamps it to the caller's org (WITH CHECK).

An audit write never fails the action it records:
  * the actor is recorded as the token's subject (``actor_sub``, plain text), and linked to
    ``users`` (``actor_id``, an FK) only when a users row with that id (or, for a subject
    that is not a uuid, that ``external_id``) exists, so a subject
    with no users row cannot break the insert;
  * the insert runs under a SAVEPOINT: if it fails anyway, only the savepoint rolls back,
    the failure is logged with the record it lost, and the action still commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

# The user link is resolved inside the statement, the way the hub maps token subjects
# (a uuid names users.id, anything else users.external_id): NULL when no user matches.
_INSERT = """
INSERT INTO audit_log (organization_id, actor_id, actor_sub, action, target, detail)
VALUES (app_org_id(),
        COALESCE((SELECT id FROM users WHERE id = $1),
                 (SELECT id FROM users WHERE external_id = $2)),
        $2, $3, $4, $5::jsonb)
"""


def _clean(value: Any) -> Any:
    # Postgres text and jsonb cannot hold NUL; an audit row must not be lost to one.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


async def audit(
    conn: Connection | PoolConnectionProxy,
    actor: str | uuid.UUID | None,
    action: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record action on target by actor (a token subject) for the transaction's org.

    Never raises for a record it cannot write: it logs the record instead.
    """
    sub = None if actor is None else str(actor)
    try:
        user_id: uuid.UUID | None = None if sub is None else uuid.UUID(sub)
    except ValueError:
        user_id = None
    try:
        payload = msgspec.json.encode(_clean(dict(detail or {}))).decode()
        # No RETURNING: only owners/admins may read audit rows, and RETURNING needs read
        # access. The savepoint keeps a failed insert from aborting the caller's transaction.
        async with conn.transaction():
            await conn.execute(_INSERT, user_id, _clean(sub), action, _clean(target), payload)
    except Exception:
        log.exception("audit record lost: action=%s actor=%r target=%r detail=%r",
                      action, sub, target, detail)
