"""`hub member`: an operator gives a token subject a role without writing SQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from tests.persistence.conftest import within

ROOT = Path(__file__).resolve().parents[2]


def hub_member(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "hub", "member", *args], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=120,
                          check=False)


async def test_member_creates_org_user_and_role_then_changes_the_role(owner_dsn: str) -> None:
    """A new org and external-id user get a dj membership; a second call makes them admin."""
    org = uuid.uuid4()
    sub = f"dj-{org.hex[:6]}"
    env = {"DATABASE_URL": owner_dsn}
    first = await asyncio.to_thread(hub_member, env, "--org", str(org), "--sub", sub,
                                    "--role", "dj")
    assert first.returncode == 0, first.stderr
    second = await asyncio.to_thread(hub_member, env, "--org", str(org), "--sub", sub,
                                     "--role", "admin")
    assert second.returncode == 0, second.stderr
    conn = await within(asyncpg.connect(owner_dsn))
    rows = await conn.fetch(
        "SELECT m.role, u.external_id FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = $1", org)
    await conn.close()
    assert [(r["role"], r["external_id"]) for r in rows] == [("admin", sub)]


async def test_member_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    """No DATABASE_URL and no running embedded server: exit 2 with one line, no traceback."""
    env = {"HUB_PG_DATA_DIR": str(tmp_path / "pg")}
    done = await asyncio.to_thread(hub_member, env, "--org", str(uuid.uuid4()), "--sub", "x",
                                   "--role", "dj")
    assert done.returncode == 2
    assert "set DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


async def test_member_refuses_an_unknown_role(owner_dsn: str) -> None:
    """--role superhero is refused by the parser, with nothing written."""
    done = await asyncio.to_thread(hub_member, {"DATABASE_URL": owner_dsn}, "--org",
                                   str(uuid.uuid4()), "--sub", "x", "--role", "superhero")
    assert done.returncode == 2 and "invalid choice" in done.stderr
