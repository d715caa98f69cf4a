"""Audit rows: written in the caller's transaction, readable only by owners and admins."""

from __future__ import annotations

import asyncpg
import pytest

from persistence.audit import audit
from persistence.tenant import Tenant, tenant_tx
from tests.persistence.conftest import within
from tests.persistence.seed import seed_org


async def test_audit_commits_and_rolls_back_with_its_transaction(
    app_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """A viewer's action is recorded under its org; a rolled-back action leaves no record."""
    org = await within(seed_org(owner, "audit"))
    async with tenant_tx(app_pool, Tenant(org.id, org.viewer, "viewer")) as conn:
        await within(audit(conn, org.viewer, "chat.delete", "message:1", {"reason": "spam"}))
    with pytest.raises(RuntimeError):
        async with tenant_tx(app_pool, Tenant(org.id, org.viewer, "viewer")) as conn:
            await within(audit(conn, org.viewer, "chat.delete", "message:2"))
            raise RuntimeError("action failed")
    rows = await within(owner.fetch(
        "SELECT organization_id, target, detail FROM audit_log"
        " WHERE organization_id = $1 AND action = 'chat.delete'", org.id))
    assert [(r["organization_id"], r["target"]) for r in rows] == [(org.id, "message:1")]
    assert rows[0]["detail"] == '{"reason": "spam"}'


async def test_only_owners_and_admins_read_the_trail(
    app_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """A viewer reads no audit rows; the org's owner reads them."""
    org = await within(seed_org(owner, "audit"))
    async with tenant_tx(app_pool, Tenant(org.id, org.viewer, "viewer")) as conn:
        assert await within(conn.fetchval("SELECT count(*) FROM audit_log")) == 0
    async with tenant_tx(app_pool, Tenant(org.id, org.owner, "owner")) as conn:
        assert await within(conn.fetchval("SELECT count(*) FROM audit_log")) >= 1
