"""The money ledger as livehub_app: append-only, signed by kind, idempotent by its keys."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from persistence import ledger
from persistence.tenant import Tenant, tenant_tx
from tests.persistence.conftest import within
from tests.persistence.seed import Org, Seed


def owner_of(org: Org) -> Tenant:
    return Tenant(org.id, org.owner, "owner")


def payment(org: Org, ref: str, cents: int = 700) -> ledger.Entry:
    return ledger.Entry(event_id=org.live_event, kind="payment", cents=cents, target="tip",
                        target_id=uuid.uuid4(), payment_ref=ref)


async def test_app_role_cannot_update_or_delete_its_own_entries(
        app_pool: asyncpg.Pool, seeded: Seed) -> None:
    """Even an org owner's transaction may only insert and read ledger rows."""
    a = seeded.orgs["A"]
    for sql in ("UPDATE ledger_entries SET amount_cents = 1 WHERE organization_id = $1",
                "DELETE FROM ledger_entries WHERE organization_id = $1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_tx(app_pool, owner_of(a)) as conn:
                await within(conn.execute(sql, a.id))
    async with tenant_tx(app_pool, owner_of(a)) as conn:
        assert await within(conn.fetchval("SELECT count(*) FROM ledger_entries")) >= 2


async def test_redelivery_records_once_and_signs_by_kind(
        app_pool: asyncpg.Pool, seeded: Seed) -> None:
    """One payment per payment_ref: a repeat is a no-op; a fee is stored negative."""
    a = seeded.orgs["A"]
    ref = f"pi_{uuid.uuid4().hex}"
    entry = payment(a, ref)
    async with tenant_tx(app_pool, owner_of(a)) as conn:
        assert await within(ledger.record(conn, entry)) is True
        assert await within(ledger.record(conn, entry)) is False
        assert await within(ledger.record(conn, ledger.Entry(
            event_id=a.live_event, kind="platform_fee", cents=55, target="tip",
            target_id=entry.target_id, payment_ref=ref))) is True
        rows = await within(conn.fetch(
            "SELECT kind, amount_cents FROM ledger_entries WHERE payment_ref = $1"
            " ORDER BY kind", ref))
    assert [tuple(r) for r in rows] == [("payment", 700), ("platform_fee", -55)]


async def test_another_orgs_payment_ref_is_not_recorded_twice(
        app_pool: asyncpg.Pool, seeded: Seed) -> None:
    """A payment id taken by org A records nothing for org B (and B cannot read A's row)."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    ref = f"pi_{uuid.uuid4().hex}"
    async with tenant_tx(app_pool, owner_of(a)) as conn:
        assert await within(ledger.record(conn, payment(a, ref))) is True
    async with tenant_tx(app_pool, owner_of(b)) as conn:
        assert await within(ledger.record(conn, payment(b, ref, 9_999))) is False
        assert await within(conn.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE payment_ref = $1", ref)) == 0


async def test_a_manual_entry_needs_a_note_and_signs_must_match(
        owner: asyncpg.Connection, seeded: Seed) -> None:
    """The table itself refuses a positive fee, a manual row without note, a bad kind."""
    a = seeded.orgs["A"]
    bad = [("platform_fee", 30, "stripe", None), ("payment", 500, "manual", None),
           ("payment", -500, "stripe", None), ("bonus", 500, "stripe", None)]
    for kind, cents, source, note in bad:
        with pytest.raises(asyncpg.CheckViolationError):
            await within(owner.execute(
                "INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents,"
                " target, target_id, payment_ref, source, created_by, note)"
                " VALUES ($1, $2, $3, $4, 'tip', $5, $6, $7, 'test', $8)",
                a.id, a.live_event, kind, cents, uuid.uuid4(), f"pi_{uuid.uuid4().hex}",
                source, note))
