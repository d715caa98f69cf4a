"""Events over HTTP through a real hub process, Redis and Postgres: CRUD and settings,
roles, bad input, the lifecycle with its broadcasts and refusals, and another org's tokens."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import add_member, staff_token


@pytest.fixture
def hub(hub_factory: Any) -> HubProcess:
    process: HubProcess = hub_factory(db=True)
    return process


async def http(hub: HubProcess, method: str, path: str, *, bearer: str | None = None,
               api_key: bool = False, body: Any = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if api_key:
        headers["X-API-Key"] = API_KEY
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        return await asyncio.wait_for(client.request(
            method, path, headers=headers, json=body, params=params or None), 15)


async def make_org(owner: asyncpg.Connection, product: str = "djdash") -> uuid.UUID:
    org = uuid.uuid4()
    await owner.execute("INSERT INTO organizations (id, name, slug, product_context)"
                        " VALUES ($1, 'Club', $2, $3)", org, f"c-{org.hex}", product)
    return org


async def create(hub: HubProcess, org: uuid.UUID, bearer: str, **body: Any) -> dict[str, Any]:
    resp = await http(hub, "POST", f"/api/orgs/{org}/events", bearer=bearer,
                      body={"title": "Friday", **body})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def test_create_list_read_update(hub, owner_conn):
    """An admin creates events, lists them newest first and by status, reads and changes
    settings; queue settings land in the rows the services read."""
    org = await make_org(owner_conn)
    admin = await staff_token(hub, org, "boss", "admin")
    first = await create(hub, org, admin, title="<script>alert(1)</script>")
    assert first["title"] == "<script>alert(1)</script>"  # stored and shown as text
    assert (first["status"], first["visibility"]) == ("scheduled", "public")
    assert (first["tips"], first["requests"], first["karaoke"]) == (True, True, True)
    assert (first["max_open_per_fan"], first["song_seconds"]) == (3, 210)
    assert (first["karaoke_max_active"], first["karaoke_slot_seconds"]) == (1, 240)
    second = await create(hub, org, admin, title="Saturday", tip_goal_cents=5000,
                          max_open_per_fan=2, karaoke_slot_seconds=300)
    assert second["tip_goal_cents"] == 5000 and second["karaoke_slot_seconds"] == 300
    listed = (await http(hub, "GET", f"/api/orgs/{org}/events", bearer=admin)).json()
    assert [e["id"] for e in listed["events"]] == [second["id"], first["id"]]
    ev = second["id"]
    changed = await http(hub, "PATCH", f"/api/events/{ev}", bearer=admin, body={
        "song_seconds": 180, "karaoke_max_active": 2, "visibility": "private",
        "tip_alert_timeout_ms": 5000, "requests": False, "starts_at": "2026-12-31T22:00:00Z"})
    assert changed.status_code == 200, changed.text
    got = (await http(hub, "GET", f"/api/events/{ev}", bearer=admin)).json()
    assert got == changed.json()
    assert (got["song_seconds"], got["karaoke_max_active"], got["visibility"]) == (
        180, 2, "private")
    assert got["requests"] is False and got["title"] == "Saturday"  # absent fields stay
    queue = await owner_conn.fetchrow("SELECT max_open_per_fan, song_seconds FROM"
                                      " request_queues WHERE event_id = $1", uuid.UUID(ev))
    assert dict(queue) == {"max_open_per_fan": 2, "song_seconds": 180}
    karaoke = await owner_conn.fetchval("SELECT max_active FROM karaoke_queues"
                                        " WHERE event_id = $1", uuid.UUID(ev))
    assert karaoke == 2
    await http(hub, "POST", f"/api/events/{first['id']}/status", bearer=admin,
               body={"status": "cancelled"})
    only = (await http(hub, "GET", f"/api/orgs/{org}/events", bearer=admin,
                       status="cancelled")).json()["events"]
    assert [e["id"] for e in only] == [first["id"]]


async def test_features_default_by_product_and_can_be_overridden(hub, owner_conn):
    """A tipjar org's events start with karaoke off; an event may turn it on."""
    org = await make_org(owner_conn, "tipjar")
    resp = await http(hub, "POST", f"/api/orgs/{org}/events", api_key=True,
                      body={"title": "Tip night"})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["tips"], resp.json()["requests"], resp.json()["karaoke"]) == (
        True, True, False)
    resp = await http(hub, "POST", f"/api/orgs/{org}/events", api_key=True,
                      body={"title": "Sing night", "karaoke": True})
    assert resp.json()["karaoke"] is True


async def test_bad_input_is_named(hub, owner_conn):
    """Bad enums and values are 422 naming the field, unknown ids 404, never a 500."""
    org = await make_org(owner_conn)
    admin = await staff_token(hub, org, "boss", "admin")
    path = f"/api/orgs/{org}/events"
    for body, field in (({"title": "x", "visibility": "secret"}, "visibility"),
                        ({"title": "x", "max_open_per_fan": 0}, "max_open_per_fan"),
                        ({"title": "x", "song_seconds": "long"}, "song_seconds"),
                        ({"title": "x", "colour": "red"}, "colour"),
                        ({"title": ""}, "title"), ({}, "title")):
        resp = await http(hub, "POST", path, bearer=admin, body=body)
        assert resp.status_code == 422 and field in resp.json()["detail"], (body, resp.text)
    assert (await http(hub, "POST", path, bearer=admin, body={"title": "   "})).status_code == 422
    bad = await http(hub, "GET", path, bearer=admin, status="paused")
    assert bad.status_code == 422 and "status" in bad.json()["detail"]
    ev = (await create(hub, org, admin))["id"]
    resp = await http(hub, "POST", f"/api/events/{ev}/status", bearer=admin,
                      body={"status": "paused"})
    assert resp.status_code == 422 and "status" in resp.json()["detail"]
    resp = await http(hub, "PATCH", f"/api/events/{ev}", bearer=admin,
                      body={"karaoke_slot_seconds": 5})
    assert resp.status_code == 422 and "karaoke_slot_seconds" in resp.json()["detail"]
    unknown = uuid.uuid4()
    for method, suffix in (("GET", ""), ("PATCH", ""), ("POST", "/status")):
        resp = await http(hub, method, f"/api/events/{unknown}{suffix}", bearer=admin,
                          body={"status": "live"} if suffix else {})
        assert resp.status_code == 404, (method, suffix, resp.text)
    for method in ("POST", "GET"):
        resp = await http(hub, method, f"/api/orgs/{uuid.uuid4()}/events", api_key=True,
                          body={"title": "x"} if method == "POST" else None)
        assert resp.status_code == 404 and resp.json()["detail"] == "unknown organization"


async def test_roles(hub, owner_conn):
    """An owner creates; a DJ reads, changes settings and runs the lifecycle but cannot
    create; a viewer and a DJ claim without a membership get 403."""
    org = await make_org(owner_conn)
    dj = await staff_token(hub, org, "dj-1", "dj")
    await add_member(hub.database_url, org, "own-1", "owner")  # confirms every staff role
    owner = token(org, sub="own-1", roles=("admin",))
    resp = await http(hub, "POST", f"/api/orgs/{org}/events", bearer=dj, body={"title": "x"})
    assert resp.status_code == 403, resp.text
    ev = (await create(hub, org, owner))["id"]
    assert (await http(hub, "GET", f"/api/events/{ev}", bearer=dj)).status_code == 200
    assert (await http(hub, "PATCH", f"/api/events/{ev}", bearer=dj,
                       body={"title": "DJ's night"})).json()["title"] == "DJ's night"
    assert (await http(hub, "POST", f"/api/events/{ev}/status", bearer=dj,
                       body={"status": "live"})).json()["status"] == "live"
    for bearer in (token(org, sub="fan"), token(org, sub="nobody", roles=("dj",))):
        for method, path in (("GET", f"/api/events/{ev}"), ("PATCH", f"/api/events/{ev}"),
                             ("GET", f"/api/orgs/{org}/events")):
            resp = await http(hub, method, path, bearer=bearer, body={})
            assert resp.status_code == 403, (method, path, resp.text)
    assert (await http(hub, "GET", f"/api/events/{ev}")).status_code == 401


async def test_invalid_transitions_are_409_naming_both(hub, owner_conn):
    """scheduled -> ended, cancelled -> live and ended -> live are refused with 409."""
    org = await make_org(owner_conn)
    ev = (await http(hub, "POST", f"/api/orgs/{org}/events", api_key=True,
                     body={"title": "x"})).json()["id"]

    async def move(to: str) -> httpx.Response:
        return await http(hub, "POST", f"/api/events/{ev}/status", api_key=True,
                          body={"status": to})

    resp = await move("ended")
    assert resp.status_code == 409 and "from scheduled to ended" in resp.json()["detail"]
    assert (await move("live")).status_code == 200
    assert (await move("cancelled")).status_code == 409
    assert (await move("ended")).status_code == 200
    resp = await move("live")
    assert resp.status_code == 409 and "from ended to live" in resp.json()["detail"]
    assert await owner_conn.fetchval("SELECT status FROM events WHERE id = $1",
                                     uuid.UUID(ev)) == "ended"


async def test_another_orgs_admin_gets_404_and_writes_nothing(hub, owner_conn):
    """Every event route answers 404 to another org's admin, and nothing changes."""
    org = await make_org(owner_conn)
    admin = await staff_token(hub, org, "boss", "admin")
    ev = (await create(hub, org, admin, title="Ours"))["id"]
    other = await make_org(owner_conn)
    intruder = await staff_token(hub, other, "intruder", "admin")
    before = await owner_conn.fetch("SELECT * FROM events WHERE organization_id = $1", org)
    for method, path, body in (
            ("POST", f"/api/orgs/{org}/events", {"title": "Theirs"}),
            ("GET", f"/api/orgs/{org}/events", None),
            ("GET", f"/api/events/{ev}", None),
            ("PATCH", f"/api/events/{ev}", {"title": "Pwned", "visibility": "private"}),
            ("POST", f"/api/events/{ev}/status", {"status": "cancelled"})):
        resp = await http(hub, method, path, bearer=intruder, body=body)
        assert resp.status_code == 404, (method, path, resp.text)
    assert await owner_conn.fetch("SELECT * FROM events WHERE organization_id = $1",
                                  org) == before
    assert await owner_conn.fetchval("SELECT count(*) FROM audit_log WHERE"
                                     " action LIKE 'event.%' AND target = $1", ev) == 0


async def test_lifecycle_walk_with_a_guest(hub, owner_conn):
    """Live broadcasts event_status; a guest joins, chats under their name and requests a
    song; ending broadcasts event_status, then requests and signups are refused."""
    org = await make_org(owner_conn)
    admin = await staff_token(hub, org, "boss", "admin")
    ev = (await create(hub, org, admin, title="Walk"))["id"]
    room = f"event:{ev}"
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj-1", "dj"))
    try:
        await dj.subscribe(room)
        live = await http(hub, "POST", f"/api/events/{ev}/status", bearer=admin,
                          body={"status": "live"})
        assert live.status_code == 200, live.text
        assert await dj.next_event("event_status") == {
            "type": "event_status", "status": "live", "livekit_room": None}
        minted = await http(hub, "POST", f"/api/events/{ev}/guest",
                            body={"display_name": "Ann\x07 <b>B</b>"})
        assert minted.status_code == 201, minted.text
        body = minted.json()
        assert body["name"] == "Ann <b>B</b>" and body["sub"].startswith("guest:")
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        assert (claims["roles"], claims["exp"] - claims["iat"]) == (["viewer"], 7200)
        assert abs(body["expires_at"] - claims["exp"] * 1000) < 2000
        assert body["room"] == room and body["url"] == f"/e/{ev}#token={body['token']}"
        guest = await Client.open(hub.ws_url, body["token"])
        try:
            await guest.subscribe(room)
            await guest.send({"type": "chat", "room": room, "text": "hello", "id": 7})
            chat = await dj.next_event("chat")
            assert (chat["user"], chat["name"], chat["text"]) == (
                body["sub"], "Ann <b>B</b>", "hello")
            members = (await http(hub, "GET", f"/api/rooms/{room}/presence",
                                  api_key=True)).json()["members"]
            assert {"Ann <b>B</b>"} == {m["name"] for m in members if m["user"] == body["sub"]}
            sent = await guest.call(room, "requests.submit", {"title": "Freebird"})
            assert sent["request"]["requester"] == body["sub"]
            ended = await http(hub, "POST", f"/api/events/{ev}/status", bearer=admin,
                               body={"status": "ended"})
            assert ended.status_code == 200, ended.text
            assert (await dj.next_event("event_status"))["status"] == "ended"
            refused = await guest.call(room, "requests.submit", {"title": "Hey Jude"},
                                       expect_error=True)
            assert refused["code"] == 4422 and refused["reason"] == "the event has ended"
            refused = await guest.call(room, "karaoke.signup",
                                       {"singer": "Ann", "song": "Hey Jude"},
                                       expect_error=True)
            assert refused["reason"] == "the event has ended"
        finally:
            await guest.close()
    finally:
        await dj.close()
    assert await owner_conn.fetchval("SELECT count(*) FROM song_requests WHERE event_id = $1",
                                     uuid.UUID(ev)) == 1


async def test_a_disabled_feature_refuses_its_methods(hub, owner_conn):
    """With requests off, submit is refused; with karaoke off, signups are."""
    org = await make_org(owner_conn)
    ev = (await http(hub, "POST", f"/api/orgs/{org}/events", api_key=True,
                     body={"title": "Quiet", "requests": False, "karaoke": False})).json()["id"]
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    try:
        await fan.subscribe(f"event:{ev}")
        refused = await fan.call(f"event:{ev}", "requests.submit", {"title": "x"},
                                 expect_error=True)
        assert refused["code"] == 4422 and refused["reason"] == "requests are off for this event"
        refused = await fan.call(f"event:{ev}", "karaoke.signup", {"singer": "a", "song": "b"},
                                 expect_error=True)
        assert refused["reason"] == "karaoke are off for this event"
    finally:
        await fan.close()


async def test_guest_refusals(hub, owner_conn):
    """Private and pay-per-view events are 403, ended and cancelled 409, unknown 404, and a
    name with nothing printable 422."""
    org = await make_org(owner_conn)

    async def event(**body: Any) -> str:
        resp = await http(hub, "POST", f"/api/orgs/{org}/events", api_key=True,
                          body={"title": "x", **body})
        ev: str = resp.json()["id"]
        return ev

    async def guest(ev: object, name: str = "Ann") -> httpx.Response:
        return await http(hub, "POST", f"/api/events/{ev}/guest", body={"display_name": name})

    private = await guest(await event(visibility="private"))
    assert private.status_code == 403 and "private" in private.json()["detail"]
    ppv = await guest(await event(ppv_price_cents=500))
    assert ppv.status_code == 403 and "pay-per-view" in ppv.json()["detail"]
    cancelled = await event()
    await http(hub, "POST", f"/api/events/{cancelled}/status", api_key=True,
               body={"status": "cancelled"})
    resp = await guest(cancelled)
    assert resp.status_code == 409 and "cancelled" in resp.json()["detail"]
    assert (await guest(uuid.uuid4())).status_code == 404
    assert (await guest(await event(), "\x01\x02 ")).status_code == 422
    assert (await guest(await event(), "x" * 201)).status_code == 422


async def test_livekit_go_live_never_revives_an_ended_event(hub_factory, livekit, owner_conn):
    """POST /api/events/{id}/live on an ended or cancelled event is 409, status unchanged."""
    hub = hub_factory(db=True, **livekit.env())
    org = await make_org(owner_conn)
    dj = await staff_token(hub, org, "dj-1", "dj")
    for final in ("ended", "cancelled"):
        ev = await owner_conn.fetchval("INSERT INTO events (organization_id, title, status)"
                                       " VALUES ($1, 'Over', $2) RETURNING id", org, final)
        resp = await http(hub, "POST", f"/api/events/{ev}/live", bearer=dj)
        assert resp.status_code == 409 and f"from {final} to live" in resp.json()["detail"]
        assert await owner_conn.fetchval("SELECT status FROM events WHERE id = $1", ev) == final


async def test_two_djs_ending_at_once_end_it_once(hub, owner_conn):
    """Concurrent ends: one 200, one 409, one audit row, one status change."""
    org = await make_org(owner_conn)
    ev = (await http(hub, "POST", f"/api/orgs/{org}/events", api_key=True,
                     body={"title": "x"})).json()["id"]
    await http(hub, "POST", f"/api/events/{ev}/status", api_key=True, body={"status": "live"})
    djs = [await staff_token(hub, org, f"dj-{n}", "dj") for n in range(2)]
    answers = await asyncio.gather(*(
        http(hub, "POST", f"/api/events/{ev}/status", bearer=dj, body={"status": "ended"})
        for dj in djs))
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'event.status' AND target = $1"
        " AND detail->>'to' = 'ended'", ev) == 1
