"""A whole night run through the operator API alone: no SQL anywhere. Real hub, Redis and
Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.test_overlay_secret import close_code, open_overlay, secret_of
from tests.support.client import Client
from tests.support.hubproc import API_KEY, HubProcess


@pytest.fixture
def hub(hub_factory: Any) -> HubProcess:
    process: HubProcess = hub_factory(db=True)
    return process


async def api(hub: HubProcess, method: str, path: str, expect: int, *,
              bearer: str | None = None, body: Any = None) -> Any:
    """One operator API call with the platform key (or a bearer token); its JSON body."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {"X-API-Key": API_KEY}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await asyncio.wait_for(http.request(method, path, headers=headers, json=body),
                                      15)
    assert resp.status_code == expect, (method, path, resp.status_code, resp.text)
    return resp.json() if resp.content else None


async def test_a_night_from_signup_to_the_end(hub: HubProcess) -> None:
    """Org, DJ and event; live; a guest requests a song; the overlay secret rotates (the old
    connection is closed, the new one works); ending refuses requests and says so."""
    org = (await api(hub, "POST", "/api/orgs", 201,
                     body={"name": "Club Nova", "product_context": "djdash"}))["id"]
    user = (await api(hub, "POST", "/api/users", 201,
                      body={"external_id": "dj-nova", "display_name": "DJ Nova"}))["id"]
    await api(hub, "PUT", f"/api/orgs/{org}/members/{user}", 200, body={"role": "dj"})
    dj_token = (await api(hub, "POST", f"/api/orgs/{org}/tokens", 200,
                          body={"external_id": "dj-nova", "role": "dj"}))["token"]
    ev = (await api(hub, "POST", f"/api/orgs/{org}/events", 201,
                    body={"title": "Friday at Nova"}))["id"]
    room = f"event:{ev}"

    dj = await Client.open(hub.ws_url, dj_token)
    await dj.subscribe(room)
    await api(hub, "POST", f"/api/events/{ev}/status", 200, bearer=dj_token,
              body={"status": "live"})
    assert (await dj.next_event("event_status"))["status"] == "live"

    guest_token = (await api(hub, "POST", f"/api/events/{ev}/guest", 201,
                             body={"display_name": "Ann"}))["token"]
    guest = await Client.open(hub.ws_url, guest_token)
    await guest.subscribe(room)
    await guest.call(room, "requests.submit", {"title": "Freebird", "artist": "Skynyrd"})
    added = (await dj.next_event("requests"))["request"]
    assert (added["title"], added["requester_name"]) == ("Freebird", "Ann")  # not a sub

    first = secret_of(await api(hub, "POST", f"/api/events/{ev}/overlay", 200,
                                bearer=dj_token))
    old = await open_overlay(hub, first)
    await old.subscribe(room)
    second = secret_of(await api(hub, "POST", f"/api/events/{ev}/overlay", 200,
                                 bearer=dj_token))
    assert await close_code(old) == (4003, "overlay secret rotated")
    new = await open_overlay(hub, second)
    assert (await new.subscribe(room))["room"] == room

    await api(hub, "POST", f"/api/events/{ev}/status", 200, bearer=dj_token,
              body={"status": "ended"})
    assert (await dj.next_event("event_status"))["status"] == "ended"
    refused = await guest.call(room, "requests.submit", {"title": "Hey Jude"},
                               expect_error=True)
    assert (refused["code"], refused["reason"]) == (4422, "the event has ended")
    for client in (dj, guest, new):
        await client.close()


async def _state_of(owner: asyncpg.Connection, org: str) -> list[object]:
    """Everything of ``org`` the operator routes could write, read as the owner."""
    queries = [
        "SELECT name, slug, tip_priority_cents, sms_number FROM organizations WHERE id = $1",
        "SELECT user_id, role FROM memberships WHERE organization_id = $1 ORDER BY user_id",
        "SELECT id, title, status FROM events WHERE organization_id = $1 ORDER BY id",
        "SELECT count(*) FROM event_overlays WHERE organization_id = $1",
        "SELECT count(*) FROM ledger_entries WHERE organization_id = $1",
        "SELECT count(*) FROM audit_log WHERE organization_id = $1",
        "SELECT count(*) FROM chat_settings WHERE organization_id = $1"]
    return [[tuple(r) for r in await owner.fetch(q, uuid.UUID(org))] for q in queries]


async def test_an_org_admin_gets_404_on_every_route_of_another_org(
        hub: HubProcess, owner_conn: asyncpg.Connection) -> None:
    """Org A's admin token, aimed at org B's org, members, tokens, events, overlay and
    money routes, gets 404 every time and changes nothing of B's."""
    a, b = [(await api(hub, "POST", "/api/orgs", 201,
                       body={"name": f"Club {x}", "product_context": "djdash"}))["id"]
            for x in "AB"]
    for org, ext, role in ((a, "admin-a", "admin"), (b, "owner-b", "owner")):
        user = (await api(hub, "POST", "/api/users", 201, body={"external_id": ext}))["id"]
        await api(hub, "PUT", f"/api/orgs/{org}/members/{user}", 200, body={"role": role})
    b_user = (await api(hub, "POST", "/api/users", 200, body={"external_id": "owner-b"}))["id"]
    admin_a = (await api(hub, "POST", f"/api/orgs/{a}/tokens", 200,
                         body={"external_id": "admin-a", "role": "admin"}))["token"]
    ev = (await api(hub, "POST", f"/api/orgs/{b}/events", 201, body={"title": "B's"}))["id"]
    before = await _state_of(owner_conn, b)
    attempts = [
        ("GET", f"/api/orgs/{b}", None),
        ("PATCH", f"/api/orgs/{b}", {"name": "<script>x</script>", "tip_priority_cents": 1}),
        ("GET", f"/api/orgs/{b}/members", None),
        ("PUT", f"/api/orgs/{b}/members/{b_user}", {"role": "viewer"}),
        ("DELETE", f"/api/orgs/{b}/members/{b_user}", None),
        ("POST", f"/api/orgs/{b}/tokens", {"external_id": "owner-b", "role": "admin"}),
        ("GET", f"/api/orgs/{b}/events", None),
        ("POST", f"/api/orgs/{b}/events", {"title": "injected"}),
        ("GET", f"/api/events/{ev}", None),
        ("PATCH", f"/api/events/{ev}", {"title": "renamed"}),
        ("POST", f"/api/events/{ev}/status", {"status": "cancelled"}),
        ("POST", f"/api/events/{ev}/overlay", None),
        ("GET", f"/api/events/{ev}/money", None),
        ("POST", f"/api/events/{ev}/money/manual",
         {"kind": "tip", "amount_cents": 500, "note": "cash"}),
    ]
    for method, path, body in attempts:
        await api(hub, method, path, 404, bearer=admin_a, body=body)
    assert await _state_of(owner_conn, b) == before
