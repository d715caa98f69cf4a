"""Apply persistence/migrations/NNNN_name.sql in order, each in its own transaction.

Guarantees:
  * A file is applied at most once; its version, name and sha256 go in schema_migrations.
  * A failing file rolls back completely (schema and bookkeeping) and raises MigrationError;
    files before it stay applied, files after it are not tried.
  * A session advisory lock serialises hubs that start together, so the loser of the race
    sees the winner's rows and applies nothing.
  * Editing an already-applied file is an error: migrations are append-only.

Files must not contain BEGIN/COMMIT; this module owns the transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import sys
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary fixed key shared by every hub; advisory locks are per database.
LOCK_KEY = 0x6C69766568756201
_FILE = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration could not be applied; the database is as it was before that file."""


def discover(migrations_dir: Path) -> list[tuple[int, str, str]]:
    """Return (version, name, sql) for every migration file, ordered by version."""
    found: dict[int, tuple[int, str, str]] = {}
    for path in migrations_dir.glob("*.sql"):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: expected NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} used twice")
        found[version] = (version, path.stem, path.read_text())
    return [found[v] for v in sorted(found)]


def _checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


async def migrate(
    dsn: str, migrations_dir: Path | None = None, *, lock_timeout: float = 60.0
) -> list[str]:
    """Apply pending migrations as the owner role; return the names applied (may be [])."""
    files = discover(migrations_dir or MIGRATIONS_DIR)
    conn = await asyncpg.connect(dsn)
    try:
        try:
            await asyncio.wait_for(conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY),
                                   lock_timeout)
        except TimeoutError as exc:
            raise MigrationError(f"another migrator held the lock for {lock_timeout}s") from exc
        await conn.execute(_BOOKKEEPING)
        done = {r["version"]: (r["name"], r["checksum"])
                for r in await conn.fetch("SELECT version, name, checksum FROM schema_migrations")}
        applied: list[str] = []
        for version, name, sql in files:
            checksum = _checksum(sql)
            if version in done:
                if done[version][1] != checksum:
                    raise MigrationError(f"{name} was edited after it was applied")
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES ($1, $2, $3)", version, name, checksum)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{name} failed and was rolled back: {exc}") from exc
            applied.append(name)
        return applied
    finally:
        # Closing also drops the session lock; unlock first so a pooled server frees it now.
        if not conn.is_closed():
            try:
                await conn.execute("SELECT pg_advisory_unlock_all()")
            finally:
                await conn.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m persistence.migrate [--dsn DSN] [--dir DIR]`; DSN defaults to DATABASE_URL."""
    parser = argparse.ArgumentParser(prog="python -m persistence.migrate")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--dir", type=Path, default=None, help="migrations directory")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("set DATABASE_URL or pass --dsn (an owner role, not livehub_app)")
    try:
        applied = asyncio.run(migrate(args.dsn, args.dir))
    except MigrationError as exc:
        print(f"migration failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(f"applied {name}" for name in applied) or "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
