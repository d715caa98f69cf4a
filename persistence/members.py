"""Organizations, users and memberships written as the owner role, for operators' tools.

``hub member`` and the tests use this to give a token subject a role before an operator
API exists for it. A token ``sub`` that is a uuid names ``users.id``; any other ``sub``
names ``users.external_id`` (the way hub.memberships reads them).
"""

from __future__ import annotations

import uuid

import asyncpg

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
