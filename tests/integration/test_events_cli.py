"""``hub event create``, ``hub demo`` and ``hub seed`` run as real processes against
Postgres, and what they print works against a real hub; guest links are rate-limited."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.integration.test_overlay_secret import open_overlay
from tests.support.client import Client
from tests.support.hubproc import ROOT, SECRET, HubProcess


async def hub_cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hub <args>`` with the test hub's secret and owner DSN."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"DATABASE_URL": dsn, "HUB_SECRET": SECRET, "HUB_EMBEDDED_PG": "0"})
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hub", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60)


async def test_demo_prints_urls_that_work(hub_factory: Any, owner_conn: asyncpg.Connection):
    """``hub demo`` makes a live public event; its DJ token holds the DJ's powers and its
    viewer URL's token joins the room and chats."""
    hub: HubProcess = hub_factory(db=True)
    done = await hub_cli(hub.database_url, "demo")
    assert done.returncode == 0, done.stderr
    event = re.search(r"^event:\s+(\S+) \(live, public\)$", done.stdout, re.M)
    dj_token = re.search(r"^DJ token:\s+(\S+)$", done.stdout, re.M)
    viewer = re.search(r"^viewer URL:\s+\S+/e/(\S+)#token=(\S+)$", done.stdout, re.M)
    dj_url = re.search(r"^DJ URL:\s+\S+/dj/(\S+)#token=(\S+)$", done.stdout, re.M)
    overlay = re.search(r"^overlay URL:\s+\S+/overlay/(\S+)$", done.stdout, re.M)
    assert event and dj_token and viewer and dj_url and overlay, done.stdout
    assert viewer.group(1) == dj_url.group(1) == event.group(1)
    assert dj_url.group(2) == dj_token.group(1)
    room = f"event:{event.group(1)}"
    row = await owner_conn.fetchrow("SELECT status, visibility FROM events WHERE id = $1",
                                    uuid.UUID(event.group(1)))
    assert dict(row) == {"status": "live", "visibility": "public"}
    dj = await Client.open(hub.ws_url, dj_token.group(1))
    fan = await Client.open(hub.ws_url, viewer.group(2))
    obs = await open_overlay(hub, overlay.group(1))  # the overlay's own secret
    try:
        assert (await obs.subscribe(room))["room"] == room
        await dj.subscribe(room)
        await fan.subscribe(room)
        await fan.send({"type": "chat", "room": room, "text": "hi", "id": 1})
        assert (await dj.next_event("chat"))["name"] == "Guest"
        # The DJ's membership is real: staff-only calls pass.
        karaoke = await dj.call(room, "karaoke.settings", {"version": 0, "max_active": 2})
        assert karaoke["settings"]["max_active"] == 2
    finally:
        await obs.close()
        await fan.close()
        await dj.close()


async def test_seed_writes_tokens_that_connect(hub_factory: Any, tmp_path: Path,
                                               owner_conn: asyncpg.Connection):
    """``hub seed`` makes N orgs x M live events with a DJ and K fans; a fan token
    subscribes to its event room and a DJ token runs it."""
    hub: HubProcess = hub_factory(db=True)
    out = tmp_path / "seed.json"
    done = await hub_cli(hub.database_url, "seed", "--orgs", "2", "--events", "2",
                         "--fans", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    orgs = json.loads(out.read_text())["orgs"]
    assert len(orgs) == 2
    assert all(len(o["events"]) == 2 and len(o["fan_tokens"]) == 3 for o in orgs)
    live = await owner_conn.fetchval("SELECT count(*) FROM events WHERE id = ANY($1::uuid[])"
                                     " AND status = 'live'",
                                     [e for o in orgs for e in o["events"]])
    assert live == 4
    first = orgs[0]
    fan = await Client.open(hub.ws_url, first["fan_tokens"][2])
    dj = await Client.open(hub.ws_url, first["dj_token"])
    try:
        assert (await fan.subscribe(first["rooms"][1]))["type"] == "subscribed"
        await dj.subscribe(first["rooms"][1])
        await fan.call(first["rooms"][1], "requests.submit", {"title": "Seeded song"})
        await dj.call(first["rooms"][1], "requests.accept",
                      {"request_id": (await dj.next_event("requests"))["request"]["id"],
                       "version": 1})
        # Another org's room stays closed to this fan.
        other = await fan.call(orgs[1]["rooms"][0], "requests.submit", {"title": "x"},
                               expect_error=True)
        assert other["code"] == 4404
    finally:
        await fan.close()
        await dj.close()


async def test_event_create_prints_the_id(hub_factory: Any, owner_conn: asyncpg.Connection):
    """``hub event create --live`` prints a new live event's id; an unknown org exits 2."""
    hub: HubProcess = hub_factory(db=True)
    org = uuid.uuid4()
    await owner_conn.execute("INSERT INTO organizations (id, name, slug, product_context)"
                             " VALUES ($1, 'Bar', $2, 'tipjar')", org, f"bar-{org.hex}")
    done = await hub_cli(hub.database_url, "event", "create", "--org", str(org),
                         "--title", "Open mic", "--live")
    assert done.returncode == 0, done.stderr
    row = await owner_conn.fetchrow("SELECT organization_id, title, status, karaoke_enabled"
                                    " FROM events WHERE id = $1", uuid.UUID(done.stdout.strip()))
    assert dict(row) == {"organization_id": org, "title": "Open mic", "status": "live",
                         "karaoke_enabled": False}
    unknown = await hub_cli(hub.database_url, "event", "create", "--org", str(uuid.uuid4()),
                            "--title", "x")
    assert unknown.returncode == 2 and "unknown organization" in unknown.stderr


async def test_guest_links_are_rate_limited(hub_factory: Any, owner_conn: asyncpg.Connection):
    """Past HUB_GUEST_TOKENS_PER_MINUTE from one address: 429 with Retry-After, no token."""
    hub: HubProcess = hub_factory(db=True, HUB_GUEST_TOKENS_PER_MINUTE="3")
    org = uuid.uuid4()
    await owner_conn.execute("INSERT INTO organizations (id, name, slug, product_context)"
                             " VALUES ($1, 'Bar', $2, 'djdash')", org, f"bar-{org.hex}")
    ev = await owner_conn.fetchval("INSERT INTO events (organization_id, title) VALUES"
                                   " ($1, 'Open') RETURNING id", org)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        answers = [await asyncio.wait_for(http.post(f"/api/events/{ev}/guest",
                                                    json={"display_name": f"g{n}"}), 10)
                   for n in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 20
    assert "token" not in answers[3].json()
