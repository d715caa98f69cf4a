"""An audit write never fails the action it records, yet commits with it when it can."""

from __future__ import annotations

import uuid

import asyncpg

from persistence.audit import audit
from persistence.tenant import Tenant, tenant_tx
from tests.persistence.conftest import within
from tests.persistence.seed import seed_org


async def _events_titled(owner: asyncpg.Connection, org: uuid.UUID, title: str) -> int:
    n: int = await within(owner.fetchval(
        "SELECT count(*) FROM events WHERE organization_id = $1 AND title = $2", org, title))
    return n


async def test_unknown_uuid_actor_is_recorded_by_subject_without_a_user_link(
    app_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """A UUID subject with no users row: the action commits, audit has actor_sub only."""
    org = await within(seed_org(owner, "audit-unknown"))
    stranger = uuid.uuid4()
    async with tenant_tx(app_pool, Tenant(org.id, stranger, "dj")) as conn:
        await conn.execute("INSERT INTO events (organization_id, title) VALUES ($1, 'x1')",
                           org.id)
        await within(audit(conn, str(stranger), "event.create", "x1", {"by": "<script>"}))
    assert await _events_titled(owner, org.id, "x1") == 1
    row = await within(owner.fetchrow(
        "SELECT actor_id, actor_sub, detail FROM audit_log WHERE organization_id = $1"
        " AND action = 'event.create'", org.id))
    assert row is not None
    assert (row["actor_id"], row["actor_sub"]) == (None, str(stranger))


async def test_known_actor_is_linked_and_non_uuid_subject_is_kept(
    app_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """A subject with a users row is linked by actor_id; a non-UUID one is kept as text."""
    org = await within(seed_org(owner, "audit-known"))
    async with tenant_tx(app_pool, Tenant(org.id, org.viewer, "viewer")) as conn:
        await within(audit(conn, str(org.viewer), "a.known", None))
    async with tenant_tx(app_pool, Tenant(org.id, None, "dj")) as conn:
        await within(audit(conn, "sms:+15550100", "a.guest", None))
    rows = await within(owner.fetch(
        "SELECT action, actor_id, actor_sub FROM audit_log WHERE organization_id = $1"
        " AND action LIKE 'a.%' ORDER BY id", org.id))
    assert [tuple(r) for r in rows] == [("a.known", org.viewer, str(org.viewer)),
                                        ("a.guest", None, "sms:+15550100")]


async def test_audit_that_cannot_be_written_leaves_the_action_committed(
    app_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """NUL bytes are stored replaced; an unwritable record is logged, the action commits."""
    org = await within(seed_org(owner, "audit-bad"))
    async with tenant_tx(app_pool, Tenant(org.id, org.viewer, "viewer")) as conn:
        await conn.execute("INSERT INTO events (organization_id, title) VALUES ($1, 'x2')",
                           org.id)
        await within(audit(conn, "fan\x00", "a.nul", "t\x00", {"k\x00": ["v\x00"]}))
        await within(audit(conn, "fan", "a.bad", "\ud800"))  # not encodable as UTF-8
        await conn.execute("INSERT INTO events (organization_id, title) VALUES ($1, 'x3')",
                           org.id)
    assert await _events_titled(owner, org.id, "x2") == 1
    assert await _events_titled(owner, org.id, "x3") == 1
    rows = await within(owner.fetch(
        "SELECT action, actor_sub, target, detail FROM audit_log WHERE organization_id = $1"
        " AND action LIKE 'a.%' ORDER BY id", org.id))
    assert [tuple(r) for r in rows] == [
        ("a.nul", "fan\ufffd", "t\ufffd", '{"k\ufffd": ["v\ufffd"]}')]
