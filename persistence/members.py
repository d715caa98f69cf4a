"""Organizations, users and memberships written as the owner role, for operators' tools.

``hub member`` and the tests use this to give a token subject a role before an operator
API exists for it. A token ``sub`` that is a uuid names ``users.id``; any other ``sub``
names ``users.external_id`` (the way hub.memberships reads them).
"""

from __future__ import annotations

import uuid

import asyncpg
from asyncpg import Connection, Record
from asyncpg.pool import PoolConnectionProxy

Conn = Connection | PoolConnectionProxy
MEMBER_ROLES = ("owner", "admin", "dj", "moderator", "performer", "viewer")


async def add_member(dsn: str, org: uuid.UUID, sub: str, role: str) -> uuid.UUID:
    """Make ``sub`` a member of ``org`` with ``role``; return the user's id.

    Creates the organization and the user when they are missing; an existing
    membership gets the new role. Runs as the owner (``dsn``), outside RLS.
    """
    if role not in MEMBER_ROLES:
        raise ValueError(f"role must be one of {', '.join(MEMBER_ROLES)}")
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO organizations (id, name, slug, product_context)"
                " VALUES ($1, $2, $3, 'djdash') ON CONFLICT (id) DO NOTHING",
                org, f"Org {org.hex[:6]}", f"org-{org.hex}")
            try:
                user = uuid.UUID(sub)
            except ValueError:
                found = await conn.fetchval(
                    "INSERT INTO users (display_name, external_id) VALUES ($1, $1)"
                    " ON CONFLICT (external_id) DO UPDATE SET display_name = users.display_name"
                    " RETURNING id", sub)
                user = found
            else:
                await conn.execute("INSERT INTO users (id, display_name) VALUES ($1, $2)"
                                   " ON CONFLICT (id) DO NOTHING", user, sub)
            await conn.execute(
                "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)"
                " ON CONFLICT (organization_id, user_id) DO UPDATE SET role = $3",
                org, user, role)
    finally:
        await conn.close()
    assert isinstance(user, uuid.UUID)
    return user


async def add_to_org(dsn: str, org_ref: str, user_ref: str, role: str) -> tuple[uuid.UUID,
                                                                                 uuid.UUID]:
    """Give a user ``role`` in an existing org (``hub member add``); return (org, user).

    ``org_ref`` is the org's uuid or slug. ``user_ref`` is a users.id, which must exist, or
    an external id, whose user is created when missing. Runs as the owner (``dsn``).

    Raises:
        LookupError: no such organization, or no user with that uuid.
        ValueError: an unknown role.
    """
    if role not in MEMBER_ROLES:
        raise ValueError(f"role must be one of {', '.join(MEMBER_ROLES)}")
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        async with conn.transaction():
            try:
                org = await conn.fetchval("SELECT id FROM organizations WHERE id = $1",
                                          uuid.UUID(org_ref))
            except ValueError:
                org = await conn.fetchval("SELECT id FROM organizations WHERE slug = $1",
                                          org_ref)
            if org is None:
                raise LookupError(f"unknown organization {org_ref!r}")
            try:
                user = await conn.fetchval("SELECT id FROM users WHERE id = $1",
                                           uuid.UUID(user_ref))
            except ValueError:
                user = await conn.fetchval(
                    "INSERT INTO users (display_name, external_id) VALUES ($1, $1)"
                    " ON CONFLICT (external_id) DO UPDATE SET display_name = users.display_name"
                    " RETURNING id", user_ref)
            if user is None:
                raise LookupError(f"unknown user {user_ref}")
            await put(conn, org, user, role)
    finally:
        await conn.close()
    return org, user


# The SQL below runs in the caller's transaction (the HTTP API: tenant_tx as the caller, so
# RLS lets only the org's owners/admins change memberships).

_MEMBER = """
SELECT m.user_id, m.role, u.external_id FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = $1 AND {match} FOR UPDATE OF m
"""


async def member(conn: Conn, org: uuid.UUID, *, user: uuid.UUID | None = None,
                 external_id: str | None = None) -> Record | None:
    """(user_id, role, external_id) of the member named by ``user`` or ``external_id``, held
    for the transaction; None if not a member."""
    if user is not None:
        row: Record | None = await conn.fetchrow(_MEMBER.format(match="m.user_id = $2"),
                                                 org, user)
    else:
        row = await conn.fetchrow(_MEMBER.format(match="u.external_id = $2"), org, external_id)
    return row


async def member_for_sub(conn: Conn, org: uuid.UUID, sub: str) -> Record | None:
    """The member a token ``sub`` names (a uuid is users.id, else users.external_id)."""
    try:
        return await member(conn, org, user=uuid.UUID(sub))
    except ValueError:
        return await member(conn, org, external_id=sub)


async def owners(conn: Conn, org: uuid.UUID) -> list[uuid.UUID]:
    """The org's owners, their rows held: a concurrent demotion waits, then sees the change."""
    rows = await conn.fetch("SELECT user_id FROM memberships WHERE organization_id = $1"
                            " AND role = 'owner' FOR UPDATE", org)
    return [row["user_id"] for row in rows]


async def put(conn: Conn, org: uuid.UUID, user: uuid.UUID, role: str) -> None:
    await conn.execute(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (organization_id, user_id) DO UPDATE SET role = $3", org, user, role)


async def remove(conn: Conn, org: uuid.UUID, user: uuid.UUID) -> None:
    await conn.execute("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
                       org, user)


async def roster(conn: Conn, org: uuid.UUID) -> list[Record]:
    """Every member: user_id, role, display_name, external_id, email, since."""
    rows: list[Record] = await conn.fetch(
        "SELECT m.user_id, m.role, u.display_name, u.external_id, u.email,"
        " m.created_at AS since FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = $1 ORDER BY m.created_at, m.user_id", org)
    return rows
