"""Membership rows for tests: with Postgres, a token's staff roles need one (hub.roles)."""

from __future__ import annotations

import uuid

import asyncpg


async def add_member(dsn: str, org: uuid.UUID, sub: str, role: str) -> uuid.UUID:
    """Make ``sub`` a member of ``org`` with ``role`` (as the owner); return the user's id.

    Creates the organization if it is missing. A uuid ``sub`` becomes the user's id,
    any other ``sub`` the user's ``external_id``, as the hub maps token subs.
    """
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO organizations (id, name, slug, product_context)"
                " VALUES ($1, $2, $3, 'djdash') ON CONFLICT (id) DO NOTHING",
                org, f"Org {org.hex[:6]}", f"org-{org.hex}")
            try:
                user = uuid.UUID(sub)
                await conn.execute("INSERT INTO users (id, display_name) VALUES ($1, $2)"
                                   " ON CONFLICT (id) DO NOTHING", user, sub)
            except ValueError:
                user = await conn.fetchval(
                    "INSERT INTO users (display_name, external_id) VALUES ($1, $1)"
                    " ON CONFLICT (external_id) DO UPDATE SET display_name = users.display_name"
                    " RETURNING id", sub)
            await conn.execute(
                "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)"
                " ON CONFLICT (organization_id, user_id) DO UPDATE SET role = $3",
                org, user, role)
    finally:
        await conn.close()
    return user
