"""app_users_matching() (0013) and persistence.users: a lookup that yields ids, nothing else."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from persistence import users
from persistence.tenant import Tenant, tenant_tx
from tests.persistence.conftest import within


async def test_lookup_returns_only_ids_and_rows_stay_hidden(
        app_pool: asyncpg.Pool, owner: asyncpg.Connection) -> None:
    """With no claims the app role learns a matching user's id, never the row itself."""
    user, ext = uuid.uuid4(), f"crm-{uuid.uuid4().hex[:8]}"
    await within(owner.execute(
        "INSERT INTO users (id, display_name, external_id, email) VALUES ($1, 'Secret', $2,"
        " $3)", user, ext, f"{ext}@example.com"))
    async with tenant_tx(app_pool, Tenant(None)) as conn:
        assert await within(conn.fetchval("SELECT app_users_matching($1, NULL)", ext)) == [user]
        assert await within(conn.fetchval("SELECT app_users_matching(NULL, $1)",
                                          f"{ext}@example.com")) == [user]
        assert await within(conn.fetchval("SELECT app_users_matching(NULL, NULL)")) == []
        assert await within(conn.fetchval("SELECT count(*) FROM users WHERE id = $1",
                                          user)) == 0


async def test_find_or_create_is_idempotent_and_refuses_two_people(
        app_pool: asyncpg.Pool) -> None:
    """The same external_id finds the same user; one that names two users is a Conflict."""
    ext = f"id-{uuid.uuid4().hex[:8]}"
    made, created = await within(users.find_or_create(app_pool, ext, None, "DJ"))
    found, again = await within(users.find_or_create(app_pool, ext, None, "Other name"))
    assert (created, again, found["id"], found["display_name"]) == (True, False, made["id"],
                                                                     "DJ")
    mail = f"{uuid.uuid4().hex[:8]}@example.com"
    await within(users.find_or_create(app_pool, None, mail, "Fan"))
    with pytest.raises(users.Conflict):
        await within(users.find_or_create(app_pool, ext, mail, "Both"))
    assert (await within(users.get(app_pool, made["id"])))["email"] is None
