"""`hub migrate` from the command line, as an operator runs it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg

from persistence.migrate import MIGRATIONS_DIR
from tests.persistence.conftest import within

ROOT = Path(__file__).resolve().parents[2]


def hub_migrate(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", "migrate", "--dsn", dsn], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_hub_migrate_twice_is_a_no_op(fresh_dsn: str) -> None:
    """The first run applies every migration; the second applies nothing and changes nothing."""
    first = await asyncio.to_thread(hub_migrate, fresh_dsn)
    assert first.returncode == 0, first.stderr
    names = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))
    assert first.stdout.strip() == "applied " + ", ".join(names)
    conn = await within(asyncpg.connect(fresh_dsn))
    before = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    second = await asyncio.to_thread(hub_migrate, fresh_dsn)
    assert second.returncode == 0 and second.stdout.strip() == "up to date"
    after = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations")
    await conn.close()
    assert before == after and len(after) == len(names)
