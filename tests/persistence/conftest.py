"""Persistence fixtures on top of tests/support/postgres.py (server_dsn, owner_dsn)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from persistence.pool import app_dsn, create_app_pool
from tests.persistence.seed import Seed, seed
from tests.support.postgres import TIMEOUT, create_database, drop_database, within

__all__ = ["TIMEOUT", "within"]


@pytest.fixture(scope="session")
def seeded(owner_dsn: str) -> Seed:
    """Orgs A, B, C with a row in every tenant table, and a platform admin."""
    return asyncio.run(asyncio.wait_for(seed(owner_dsn), TIMEOUT))


@pytest.fixture
async def fresh_dsn(server_dsn: str) -> AsyncIterator[str]:
    """An empty, unmigrated database for this test alone."""
    dsn = await create_database(server_dsn)
    try:
        yield dsn
    finally:
        await drop_database(server_dsn, dsn)


@pytest.fixture
async def owner(owner_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner (a superuser here, so it bypasses RLS) for seeding."""
    conn = await within(asyncpg.connect(owner_dsn))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def app_pool(owner_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool logged in as livehub_app, bound by RLS."""
    pool = await within(create_app_pool(owner_dsn, app_database_url=app_dsn(owner_dsn),
                                        min_size=1, max_size=4))
    try:
        yield pool
    finally:
        await within(pool.close())
