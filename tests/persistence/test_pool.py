"""The app pool logs in as livehub_app and refuses roles that bypass RLS."""

from __future__ import annotations

import asyncpg
import pytest

from persistence.pool import APP_ROLE, app_dsn, create_app_pool
from tests.persistence.conftest import within


def test_app_dsn_swaps_the_user_and_drops_the_password() -> None:
    """Host, port, database and query survive; credentials become the app role's."""
    assert (app_dsn("postgresql://owner:secret@db.example:6543/live?sslmode=require")
            == "postgresql://livehub_app@db.example:6543/live?sslmode=require")


async def test_pool_connects_as_app_role(app_pool: asyncpg.Pool) -> None:
    """Queries run as livehub_app."""
    assert await within(app_pool.fetchval("SELECT current_user")) == APP_ROLE


async def test_pool_refuses_a_role_that_bypasses_rls(
    owner_dsn: str, owner: asyncpg.Connection
) -> None:
    """Handing a superuser/BYPASSRLS URL to the app pool fails loudly; other roles pass."""
    unsafe = await within(owner.fetchval(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"))
    if unsafe:
        with pytest.raises(RuntimeError, match="bypasses"):
            await within(create_app_pool(owner_dsn, app_database_url=owner_dsn))
    else:  # a plain owner is RLS-bound (FORCE), so the pool is allowed
        pool = await within(create_app_pool(owner_dsn, app_database_url=owner_dsn))
        await within(pool.close())
