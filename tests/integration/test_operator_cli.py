"""`hub org create` and `hub member add` set up a night on the owner DSN, without SQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from tests.support.hubproc import ROOT


async def hub_cli(owner_dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hub ...`` against the test database (in a thread: it blocks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["DATABASE_URL"] = owner_dsn
    return await asyncio.wait_for(asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hub", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False), 90)


async def test_org_create_then_member_add_by_slug(owner_dsn, owner_conn):
    """`hub org create` prints the new org's id; `hub member add` finds it by slug."""
    slug = f"club-nova-{uuid.uuid4().hex[:6]}"
    made = await hub_cli(owner_dsn, "org", "create", "--name", "Club Nova", "--product",
                         "djdash", "--slug", slug)
    assert made.returncode == 0, made.stderr
    org = uuid.UUID(made.stdout.strip())
    row = await owner_conn.fetchrow("SELECT name, slug, product_context FROM organizations"
                                    " WHERE id = $1", org)
    assert tuple(row) == ("Club Nova", slug, "djdash")
    ext = f"dj-{uuid.uuid4().hex[:6]}"
    added = await hub_cli(owner_dsn, "member", "add", "--org", slug, "--user", ext,
                          "--role", "dj")
    assert added.returncode == 0, added.stderr
    role = await owner_conn.fetchval(
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = $1 AND u.external_id = $2", org, ext)
    assert role == "dj"
    again = await hub_cli(owner_dsn, "member", "add", "--org", str(org), "--user", ext,
                          "--role", "moderator")
    assert again.returncode == 0, again.stderr
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM memberships WHERE organization_id = $1", org) == 1


async def test_cli_refuses_duplicates_unknowns_and_bad_values(owner_dsn, owner_conn):
    """A taken slug, an unknown org or user, a bad slug or product: one line, no traceback."""
    slug = f"taken-{uuid.uuid4().hex[:6]}"
    assert (await hub_cli(owner_dsn, "org", "create", "--name", "A", "--product", "tipjar",
                          "--slug", slug)).returncode == 0
    cases = [
        (("org", "create", "--name", "B", "--product", "tipjar", "--slug", slug), 1, "taken"),
        (("org", "create", "--name", "B", "--product", "tipjar", "--slug", "Bad Slug"), 2,
         "--slug"),
        (("org", "create", "--name", "B", "--product", "spotify"), 2, "--product"),
        (("member", "add", "--org", "no-such-org", "--user", "x", "--role", "dj"), 1,
         "unknown organization"),
        (("member", "add", "--org", slug, "--user", str(uuid.uuid4()), "--role", "dj"), 1,
         "unknown user"),
    ]
    for args, code, complaint in cases:
        done = await hub_cli(owner_dsn, *args)
        assert (done.returncode, complaint in done.stderr) == (code, True), (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM organizations WHERE name = 'B'") == 0


async def test_name_derived_slug_and_the_old_member_form(owner_dsn, owner_conn):
    """Without --slug the name gives one; `hub member --org <uuid> --sub` still works."""
    made = await hub_cli(owner_dsn, "org", "create", "--name", "Karaoke <Bar>!", "--product",
                         "m10dj")
    org = uuid.UUID(made.stdout.strip())
    slug = await owner_conn.fetchval("SELECT slug FROM organizations WHERE id = $1", org)
    assert slug.startswith("karaoke-bar")
    fresh = uuid.uuid4()
    old = await hub_cli(owner_dsn, "member", "--org", str(fresh), "--sub", "dj-old",
                        "--role", "dj")
    assert old.returncode == 0, old.stderr
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM memberships WHERE organization_id = $1", fresh) == 1
