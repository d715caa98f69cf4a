"""Migrations: ordered, once only, all-or-nothing per file, safe to race."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from persistence.migrate import MIGRATIONS_DIR, MigrationError, main, migrate
from tests.persistence.conftest import within

ALL_MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


async def _tables(dsn: str) -> set[str]:
    conn = await within(asyncpg.connect(dsn))
    try:
        rows = await within(conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def _versions(dsn: str) -> list[int]:
    conn = await within(asyncpg.connect(dsn))
    try:
        rows = await within(conn.fetch("SELECT version FROM schema_migrations ORDER BY 1"))
        return [r["version"] for r in rows]
    finally:
        await conn.close()


async def test_second_run_is_a_no_op(fresh_dsn: str) -> None:
    """The first run applies 0001_core; the second applies nothing."""
    assert await within(migrate(fresh_dsn)) == ALL_MIGRATIONS
    assert await within(migrate(fresh_dsn)) == []
    assert await _versions(fresh_dsn) == [int(name[:4]) for name in ALL_MIGRATIONS]


async def test_concurrent_runs_apply_once(fresh_dsn: str) -> None:
    """Two hubs migrating at once: the advisory lock lets exactly one apply."""
    results = await within(asyncio.gather(migrate(fresh_dsn), migrate(fresh_dsn)))
    assert sorted(results) == [[], ALL_MIGRATIONS]


async def test_failing_migration_rolls_back_completely(fresh_dsn: str, tmp_path: Path) -> None:
    """A file that fails half-way leaves no table and no bookkeeping row behind."""
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text(
        "CREATE TABLE bad (id int);\nINSERT INTO bad VALUES (1);\nSELECT 1 / 0;")
    (tmp_path / "0003_later.sql").write_text("CREATE TABLE later (id int);")
    with pytest.raises(MigrationError, match="0002_bad"):
        await within(migrate(fresh_dsn, tmp_path))
    assert await _tables(fresh_dsn) == {"good", "schema_migrations"}
    assert await _versions(fresh_dsn) == [1]


async def test_edited_migration_is_rejected(fresh_dsn: str, tmp_path: Path) -> None:
    """Changing a file after it was applied is an error, not a silent skip."""
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    assert await within(migrate(fresh_dsn, tmp_path)) == ["0001_good"]
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id bigint);")
    with pytest.raises(MigrationError, match="edited"):
        await within(migrate(fresh_dsn, tmp_path))


async def test_cli_migrates(fresh_dsn: str) -> None:
    """`python -m persistence.migrate --dsn ...` exits 0 and leaves the schema in place."""
    assert await within(asyncio.to_thread(main, ["--dsn", fresh_dsn])) == 0
    assert "chat_messages" in await _tables(fresh_dsn)
