"""Tenant isolation, checked for every tenant table the catalog lists, as livehub_app."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from persistence.pool import APP_ROLE, app_dsn, create_app_pool
from persistence.tenant import Tenant, tenant_tx
from tests.persistence.conftest import within
from tests.persistence.seed import Org, Seed, key_column, tenant_tables

# Tables deliberately without organization_id; anything else new must be a tenant table.
GLOBAL_TABLES = {"users", "platform_admins", "schema_migrations"}
# Rows readable with no tenant context, by design (see 0001_core.sql).
PUBLIC_READ = {"events": "status IN ('scheduled', 'live')"}
DENIED = asyncpg.InsufficientPrivilegeError  # SQLSTATE 42501: RLS WITH CHECK or no grant


def owner_of(org: Org) -> Tenant:
    return Tenant(org.id, org.owner, "owner")


@pytest.fixture
async def tables(owner: asyncpg.Connection) -> list[str]:
    found = await within(tenant_tables(owner))
    assert len(found) >= 13, found  # the enumeration itself must not silently go empty
    return found


async def test_every_public_table_is_tenant_or_declared_global(
    owner: asyncpg.Connection, tables: list[str]
) -> None:
    """A new table must either carry organization_id or be listed as global on purpose."""
    rows = await within(owner.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    assert {r["tablename"] for r in rows} - set(tables) == GLOBAL_TABLES


async def test_tenant_tables_force_rls_and_have_policies(
    owner: asyncpg.Connection, tables: list[str]
) -> None:
    """Every tenant table (and users) has RLS enabled, forced, and at least one policy."""
    rows = await within(owner.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public'"
        "  AND p.tablename = c.relname) AS policies"
        " FROM pg_class c WHERE c.oid = ANY($1::regclass[])", [*tables, "users"]))
    bad = [dict(r) for r in rows
           if not (r["relrowsecurity"] and r["relforcerowsecurity"] and r["policies"] > 0)]
    assert len(rows) == len(tables) + 1
    assert bad == []


async def test_app_role_cannot_bypass_rls(owner: asyncpg.Connection) -> None:
    """livehub_app logs in but is neither superuser nor BYPASSRLS."""
    row = await within(owner.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1",
        APP_ROLE))
    assert row is not None
    assert dict(row) == {"rolsuper": False, "rolbypassrls": False, "rolcanlogin": True}


async def test_seed_covers_every_tenant_table(
    owner: asyncpg.Connection, seeded: Seed, tables: list[str]
) -> None:
    """Each org has at least one row in every tenant table, so isolation is really tested."""
    missing = []
    for table in tables:
        for label, org in seeded.orgs.items():
            n = await within(owner.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE {key_column(table)} = $1', org.id))
            if n == 0:
                missing.append(f"{table}:{label}")
    assert missing == []


async def test_org_context_reads_only_its_own_rows(
    app_pool: asyncpg.Pool, seeded: Seed, tables: list[str]
) -> None:
    """A's context sees its own rows in every tenant table and none of B's or C's."""
    a = seeded.orgs["A"]
    problems = []
    async with tenant_tx(app_pool, owner_of(a)) as conn:
        for table in tables:
            key = key_column(table)
            counts = await within(conn.fetchrow(
                f'SELECT count(*) FILTER (WHERE {key} = $1),'
                f' count(*) FILTER (WHERE {key} <> $1) FROM "{table}"', a.id))
            assert counts is not None
            own, other = counts
            if own == 0 or other != 0:
                problems.append(f"{table}: own={own} other={other}")
    assert problems == []


async def _row_for_org_b(
    owner: asyncpg.Connection, table: str, a: Org, b: Org
) -> dict[str, Any]:
    """A copy of one of A's rows with a new primary key and B's organization id."""
    row: dict[str, Any] = json.loads(await owner.fetchval(
        f'SELECT to_jsonb(t) FROM "{table}" t WHERE {key_column(table)} = $1 LIMIT 1', a.id))
    pk = await owner.fetch(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = $1::regclass AND i.indisprimary", table)
    for col in pk:
        row[col["attname"]] = (str(uuid.uuid4()) if col["type"] == "uuid"
                               else 2_000_000_000 + uuid.uuid4().int % 10**6)
    row[key_column(table)] = str(b.id)
    return row


async def test_insert_carrying_another_orgs_id_is_refused(
    owner: asyncpg.Connection, app_pool: asyncpg.Pool, seeded: Seed, tables: list[str]
) -> None:
    """In A's context, inserting a row that belongs to B raises in every tenant table."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    accepted = []
    for table in tables:
        row = await within(_row_for_org_b(owner, table, a, b))
        try:
            async with tenant_tx(app_pool, owner_of(a)) as conn:
                await within(conn.execute(
                    f'INSERT INTO "{table}" SELECT * FROM jsonb_populate_record('
                    f'NULL::"{table}", $1::jsonb)', json.dumps(row)))
        except DENIED:
            continue
        accepted.append(table)
    assert accepted == []


async def test_update_into_or_of_another_org_is_refused(
    app_pool: asyncpg.Pool, seeded: Seed, tables: list[str]
) -> None:
    """A cannot touch B's rows (0 rows) nor move its own rows into B (raises)."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    problems = []
    for table in tables:
        key = key_column(table)
        try:
            async with tenant_tx(app_pool, owner_of(a)) as conn:
                status = await within(conn.execute(
                    f'UPDATE "{table}" SET {key} = {key} WHERE {key} = $1', b.id))
            if status != "UPDATE 0":
                problems.append(f"{table}: updated B's rows ({status})")
        except DENIED:
            pass
        try:
            async with tenant_tx(app_pool, owner_of(a)) as conn:
                await within(conn.execute(
                    f'UPDATE "{table}" SET {key} = $1 WHERE {key} = $2', b.id, a.id))
            problems.append(f"{table}: moved A's rows into B")
        except DENIED:
            pass
    assert problems == []


async def test_delete_of_another_orgs_rows_affects_nothing(
    owner: asyncpg.Connection, app_pool: asyncpg.Pool, seeded: Seed, tables: list[str]
) -> None:
    """In A's context, deleting B's rows deletes none (or is denied outright)."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    problems = []
    for table in tables:
        key = key_column(table)
        try:
            async with tenant_tx(app_pool, owner_of(a)) as conn:
                status = await within(conn.execute(
                    f'DELETE FROM "{table}" WHERE {key} = $1', b.id))
            if status != "DELETE 0":
                problems.append(f"{table}: {status}")
        except DENIED:
            pass
        left = await within(owner.fetchval(
            f'SELECT count(*) FROM "{table}" WHERE {key} = $1', b.id))
        if left == 0:
            problems.append(f"{table}: B's rows are gone")
    assert problems == []


async def test_no_context_sees_only_public_events(
    app_pool: asyncpg.Pool, seeded: Seed, tables: list[str]
) -> None:
    """Without claims nothing is visible, except scheduled/live events, which are public."""
    visible = {}
    async with tenant_tx(app_pool, Tenant(None)) as conn:
        for table in tables:
            hidden = PUBLIC_READ.get(table, "true")
            n = await within(conn.fetchval(f'SELECT count(*) FROM "{table}" WHERE {hidden}'))
            total = await within(conn.fetchval(f'SELECT count(*) FROM "{table}"'))
            if table not in PUBLIC_READ and total:
                visible[table] = total
            elif table in PUBLIC_READ and n != total:
                visible[table] = f"{total - n} non-public rows"
        events = {r["id"] for r in await within(conn.fetch("SELECT id FROM events"))}
        users = await within(conn.fetchval("SELECT count(*) FROM users"))
    assert visible == {}
    assert users == 0
    for org in seeded.orgs.values():
        assert org.live_event in events
        assert org.ended_event not in events


async def test_no_context_cannot_write_public_events(
    app_pool: asyncpg.Pool, seeded: Seed
) -> None:
    """Public read of events does not extend to writes."""
    a = seeded.orgs["A"]
    async with tenant_tx(app_pool, Tenant(None)) as conn:
        status = await within(conn.execute(
            "UPDATE events SET title = 'defaced' WHERE id = $1", a.live_event))
    assert status == "UPDATE 0"
    with pytest.raises(DENIED):
        async with tenant_tx(app_pool, Tenant(None)) as conn:
            await within(conn.execute(
                "INSERT INTO events (organization_id, title, status) VALUES ($1, 'x', 'live')",
                a.id))


async def test_platform_admin_sees_every_org(
    app_pool: asyncpg.Pool, seeded: Seed, tables: list[str]
) -> None:
    """A user in platform_admins, with no org claim, reads all three orgs' rows."""
    ids = [o.id for o in seeded.orgs.values()]
    short = []
    async with tenant_tx(app_pool, Tenant(None, seeded.admin)) as conn:
        for table in tables:
            key = key_column(table)
            n = await within(conn.fetchval(
                f'SELECT count(DISTINCT {key}) FROM "{table}" WHERE {key} = ANY($1)', ids))
            if n != 3:
                short.append(f"{table}: {n}")
    assert short == []


async def test_claims_do_not_leak_across_pooled_transactions(
    owner_dsn: str, seeded: Seed
) -> None:
    """A's transaction, then B's, on the one pooled connection: B sees nothing of A."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    pool = await within(create_app_pool(owner_dsn, app_database_url=app_dsn(owner_dsn),
                                        min_size=1, max_size=1))
    try:
        async with tenant_tx(pool, owner_of(a)) as conn:
            first_pid = conn.get_server_pid()
            assert await within(conn.fetchval("SELECT count(*) FROM events")) >= 2
        with pytest.raises(RuntimeError):  # a failed block must not leak either
            async with tenant_tx(pool, owner_of(a)):
                raise RuntimeError("boom")
        async with pool.acquire() as conn:
            leftover = await within(conn.fetchval("SELECT current_setting('app.org_id', true)"))
        assert leftover in ("", None)
        async with tenant_tx(pool, owner_of(b)) as conn:
            assert conn.get_server_pid() == first_pid
            orgs = {r[0] for r in await within(conn.fetch(
                "SELECT DISTINCT organization_id FROM events"))}
        assert orgs == {b.id}
    finally:
        await within(pool.close())


async def test_users_visible_only_through_a_shared_membership(
    app_pool: asyncpg.Pool, seeded: Seed
) -> None:
    """A's members see A's users, not B's, and not the platform admin."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    async with tenant_tx(app_pool, owner_of(a)) as conn:
        seen = {r["id"] for r in await within(conn.fetch("SELECT id FROM users"))}
    assert {a.owner, a.viewer} <= seen
    assert not seen & {b.owner, b.viewer, seeded.admin}
    async with tenant_tx(app_pool, Tenant(None, b.viewer)) as conn:
        alone = {r["id"] for r in await within(conn.fetch("SELECT id FROM users"))}
    assert alone == {b.viewer}


async def test_platform_admins_table_is_not_readable_by_the_app(app_pool: asyncpg.Pool) -> None:
    """Only app_is_platform_admin() may look at platform_admins."""
    with pytest.raises(DENIED):
        async with tenant_tx(app_pool, Tenant(None)) as conn:
            await within(conn.fetch("SELECT * FROM platform_admins"))


async def test_viewer_cannot_manage_memberships(app_pool: asyncpg.Pool, seeded: Seed) -> None:
    """Role claims matter: a viewer cannot add members, an owner can."""
    a, b = seeded.orgs["A"], seeded.orgs["B"]
    add = "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'dj')"
    with pytest.raises(DENIED):
        async with tenant_tx(app_pool, Tenant(a.id, a.viewer, "viewer")) as conn:
            await within(conn.execute(add, a.id, b.owner))
    async with tenant_tx(app_pool, owner_of(a)) as conn:
        await within(conn.execute(add, a.id, b.owner))
        await within(conn.execute(
            "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
            a.id, b.owner))


async def test_stripe_account_resolves_to_its_org_without_context(
    app_pool: asyncpg.Pool, seeded: Seed
) -> None:
    """Webhooks with no tenant context can map a Connect account to its org."""
    a = seeded.orgs["A"]
    async with tenant_tx(app_pool, Tenant(None)) as conn:
        account = f"acct_{a.room.removeprefix('room-')}"
        found = await within(conn.fetchval("SELECT app_org_for_stripe_account($1)", account))
    assert found == a.id
