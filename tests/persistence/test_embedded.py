"""Embedded Postgres: start, migrate, stop, and reuse the data dir. Runs under CI too."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg

from persistence import embedded
from persistence.migrate import MIGRATIONS_DIR, migrate
from tests.persistence.conftest import within

ALL_MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


async def test_start_migrate_stop_and_restart() -> None:
    """A fresh data dir initialises, migrates, and keeps its schema across a restart."""
    # mkdtemp, not tmp_path: as root the server runs as nobody, who must traverse parents.
    data_dir = Path(tempfile.mkdtemp(prefix="livehub-embedded-"))
    try:
        dsn = await within(asyncio.to_thread(embedded.start, data_dir), 60)
        assert await within(migrate(dsn)) == ALL_MIGRATIONS
        await within(asyncio.to_thread(embedded.stop, data_dir))
        dsn = await within(asyncio.to_thread(embedded.start, data_dir), 60)
        conn = await within(asyncpg.connect(dsn))
        try:
            names = await within(conn.fetch("SELECT name FROM schema_migrations"))
        finally:
            await conn.close()
        assert [r["name"] for r in names] == ALL_MIGRATIONS
    finally:
        await asyncio.to_thread(embedded.stop, data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
