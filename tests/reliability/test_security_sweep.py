"""Security sweep (issue #13), table-driven against real hub processes, Redis and Postgres.

Every forged token on every transport that takes one; another org's rooms through every
frame type, every room service method, SSE and every bearer route; every role on every
method it lacks; every route that takes a body, oversized; SQL and script payloads in
every text field. Each refusal must carry its documented code (docs/protocol.md, README
"Limits"), and Postgres (row counts and a digest of every tenant table, per org) and the
rooms' Redis history must be unchanged. The pages' part is tests/e2e/test_security_sweep_pages.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms.principal import display_name
from rooms.roles import Role
from tests.e2e.viewer_support import until
from tests.integration.test_overlay_secret import new_link, open_overlay, secret_of
from tests.integration.test_tips import alert_of, pay
from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.injection import PAYLOADS, artist, plant
from tests.support.members import staff_token
from tests.support.sweep import (
    BAD_TOKENS,
    CLOSE_EXPIRED,
    PUBLIC_ROUTES,
    ROUTE_BODIES,
    VIEWER_ROUTES,
    Seeded,
    body_routes,
    call_params,
    holdings,
    methods,
    record_routes,
    room_history,
)

TIP_TIMEOUT = "120"  # seconds: no alert changes state by itself while a test compares
BODY_CAP = 128 * 1024  # HUB_MAX_BODY_BYTES: a smaller default cap keeps the chunked sweep quick


@pytest.fixture
def hub(hub_factory: Any, stripe_fake: Any, livekit: Any) -> HubProcess:
    """A hub with Postgres, payments, streaming and SMS set up (the fakes record any call
    that gets out); rates high enough that a sweep is not cut short by 4429."""
    process: HubProcess = hub_factory(
        db=True, HUB_PUBLISH_RATE="1000", HUB_PUBLISH_BURST="1000", HUB_READ_RATE="1000",
        HUB_READ_BURST="1000", HUB_TIP_ALERT_TIMEOUT=TIP_TIMEOUT, **stripe_fake.env(),
        **livekit.env(), TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="sweep-token",
        TWILIO_API_BASE="http://127.0.0.1:9", HUB_PUBLIC_URL="http://hub.example",
        HUB_MAX_BODY_BYTES=str(BODY_CAP))
    return process


async def new_event(owner: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """Another organization with one live event (every feature on)."""
    org, ev = uuid.uuid4(), uuid.uuid4()
    await owner.execute(
        "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, $2, $3,"
        " 'djdash')", org, f"B {org.hex[:6]}", f"b-{org.hex}")
    await owner.execute(
        "INSERT INTO events (id, organization_id, title, status) VALUES ($1, $2, 'Secret',"
        " 'live')", ev, org)
    return org, ev


async def seed(hub: HubProcess, owner: asyncpg.Connection, org: uuid.UUID,
               ev: uuid.UUID) -> Seeded:
    """A chat message, a request, a karaoke signup and a paid tip in ``ev``, by a fan."""
    await owner.execute("UPDATE events SET tip_goal_cents = 5000 WHERE id = $1", ev)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    await fan.send({"type": "chat", "room": room, "text": "hello", "id": 1})
    sent = await fan.recv("chat_sent")
    submitted = await fan.call(room, "requests.submit", {"title": "Song", "artist": "Band"})
    signed = await fan.call(room, "karaoke.signup", {"singer": "Fan", "song": "Tune"})
    await fan.close()
    paid = await pay(hub, room, 700, "Tipper")
    return Seeded(org=org, event=ev, fan="fan", message_id=sent["message_id"],
                  request_id=submitted["request"]["id"], requests_version=submitted["version"],
                  signup_id=signed["signup_id"], karaoke_version=signed["version"],
                  tip_id=paid["tip_id"], alert_id=alert_of(paid))


async def answer(client: Client, frame: dict[str, Any],
                 others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Send ``frame`` with a fresh id; the reply (or error) that echoes it. Any other frame
    that arrives meanwhile goes to ``others``."""
    client._next_id += 1
    frame_id = client._next_id
    await client.send({**frame, "id": frame_id})
    while True:
        reply = await client._next(timeout=10)
        if reply.get("id") == frame_id:
            return reply
        if others is not None:
            others.append(reply)


async def alert_status(owner: asyncpg.Connection, alert_id: str, status: str) -> bool:
    found = await owner.fetchval("SELECT status FROM tip_alerts WHERE id = $1",
                                 uuid.UUID(alert_id))
    return bool(found == status)


def code_of(reply: dict[str, Any]) -> int | str:
    return int(reply["code"]) if reply["type"] == "error" else str(reply["type"])


async def ws_close_code(hub: HubProcess, **query: str) -> int | None:
    """The close code the hub sends a websocket opened with ``query``."""
    async with connect(f"{hub.ws_url}?{urlencode(query)}", compression=None) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


async def sse_refusal(http: httpx.AsyncClient, room: str, headers: dict[str, str] | None = None,
                      **params: str) -> tuple[int, Any]:
    """Status and protocol code of a refused ``/sse/rooms/{room}`` (the stream never opens)."""
    async with http.stream("GET", f"/sse/rooms/{room}", params=params,
                           headers=headers) as resp:
        if resp.status_code == 200:
            return 200, None
        return resp.status_code, json.loads(await resp.aread()).get("code")


# -- tokens -----------------------------------------------------------------------------


async def test_every_forged_token_is_refused_on_every_transport(hub: HubProcess,
                                                                event: Any) -> None:
    """Each bad token: websocket close 4001/4002, SSE 401 with that code (query or header),
    401 on every route that takes a bearer token, 4410 as a refresh frame; a forged overlay
    secret: 4001 on both streams. A valid token passes each check (the control)."""
    org, ev = event
    room = f"event:{ev}"
    good = await staff_token(hub, org, "mallory", "admin")
    ids = {"event_id:uuid": str(ev), "org_id:uuid": str(org), "tip_id:uuid": str(uuid.uuid4()),
           "user_id:uuid": str(uuid.uuid4())}
    routes = [(verb, concrete(path, ids)) for verb, path, bearer in record_routes() if bearer]
    routes.append(("POST", "/api/tokens/refresh"))
    live = await Client.open(hub.ws_url, good)
    mismatches: list[tuple[str, str, Any]] = []
    cases = 0
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:

        async def status(verb: str, path: str, tok: str) -> int:
            # A request answered before its body is read closes its connection.
            resp = await http.request(verb, path, json={}, headers={
                "Authorization": f"Bearer {tok}".strip(), "Connection": "close"})
            return resp.status_code

        # The control: a good token gets past every check below (an empty body may still
        # be refused, but not its token).
        assert await sse_refusal_or_open(http, room, good) == 200
        assert [path for verb, path in routes if await status(verb, path, good) == 401] == []
        assert code_of(await answer(live, {"type": "refresh", "token": good})) == "refreshed"

        for bad in BAD_TOKENS:
            tok = bad.make(org)
            got: dict[str, Any] = {
                "ws": await ws_close_code(hub, token=tok),
                "sse": await sse_refusal(http, room, token=tok),
                "sse bearer": await sse_refusal(http, room, headers={
                    "Authorization": f"Bearer {tok}".strip()}),
                "refresh frame": code_of(await answer(live, {"type": "refresh", "token": tok})),
            }
            want: dict[str, Any] = {"ws": bad.code, "sse": (401, bad.code),
                                    "sse bearer": (401, bad.code), "refresh frame": 4410}
            for verb, path in routes:
                got[f"{verb} {path}"], want[f"{verb} {path}"] = await status(verb, path, tok), 401
            for where, value in got.items():
                cases += 1
                if value != want[where]:
                    mismatches.append((bad.name, where, value))
        for secret in OVERLAY_FORGERIES:
            for where, value in (("ws", await ws_close_code(hub, overlay=secret)),
                                 ("sse", await sse_refusal(http, room, overlay=secret))):
                cases += 1
                if value != (4001 if where == "ws" else (401, 4001)):
                    mismatches.append((f"overlay={secret}", where, value))
    # The connection that saw every refused refresh still works on its first token.
    assert code_of(await answer(live, {"type": "subscribe", "room": room})) == "subscribed"
    await live.close()
    print(f"tokens: {len(BAD_TOKENS)} forged tokens and {len(OVERLAY_FORGERIES)} overlay"
          f" secrets on ws, SSE and {len(routes)} bearer routes: {cases} cases,"
          f" {cases - len(mismatches)} refused with the documented code")
    assert mismatches == []
    assert any(b.code == CLOSE_EXPIRED for b in BAD_TOKENS)


# Overlay secrets the hub never issued: a token is not one, nor a path, nor markup.
OVERLAY_FORGERIES = ("not-a-secret", "A" * 43, "../../etc/passwd", "%3Cscript%3E",
                     "' OR 1=1 --")


async def sse_refusal_or_open(http: httpx.AsyncClient, room: str, tok: str) -> int:
    async with http.stream("GET", f"/sse/rooms/{room}", params={"token": tok}) as resp:
        return resp.status_code


# -- oversized bodies -------------------------------------------------------------------


def concrete(path: str, ids: dict[str, str]) -> str:
    """A route template with real ids (and a real room and method) filled in."""
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


async def oversized(hub: HubProcess, verb: str, path: str, cap: int, headers: dict[str, str],
                    *, chunked: bool) -> bytes:
    """A body over ``cap``: declared (Content-Length: cap + 1, then its first 64 KiB) or
    chunked (chunks until past the cap). Everything the hub answers until it closes."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", hub.port), 10)
    head = "".join(f"{k}: {v}\r\n" for k, v in {
        "Host": "hub", "Content-Type": "application/json", **headers,
        **({"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(cap + 1)}),
    }.items())
    chunk = b"{" + b" " * 65535
    data = b""
    try:
        writer.write(f"{verb} {path} HTTP/1.1\r\n{head}\r\n".encode())
        for _ in range(cap // len(chunk) + 2 if chunked else 1):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            await asyncio.wait_for(writer.drain(), 5)
        writer.write(b"0\r\n\r\n" if chunked else b"")
        while received := await asyncio.wait_for(reader.read(65536), 10):
            data += received
    except (OSError, TimeoutError):
        data += await reader.read(65536) if not reader.at_eof() else b""
    writer.close()
    return data


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_every_route_refuses_an_oversized_body_with_413(
        hub: HubProcess, event: Any, owner_conn: Any, framing: str) -> None:
    """Each POST/PUT/PATCH/DELETE route (webhooks included), with valid credentials and a
    body over its cap, declared or chunked: 413 with the JSON error body, the connection
    closed, nothing written; the hub keeps serving."""
    org, ev = event
    user = await staff_token(hub, org, "boss", "admin")
    await staff_token(hub, org, "some-dj", "dj")  # a member the DELETE route names
    member_id = await owner_conn.fetchval("SELECT id FROM users WHERE external_id = 'some-dj'")
    seeded = await seed(hub, owner_conn, org, ev)
    ids = {"room:str": f"event:{ev}", "method:str": "chat.post", "event_id:uuid": str(ev),
           "org_id:uuid": str(org), "user_id:uuid": str(member_id),
           "tip_id:uuid": seeded.tip_id}
    routes = body_routes(BODY_CAP)
    assert len(routes) >= 25 and ("POST", "/webhooks/stripe", 256 * 1024) in routes
    before = await holdings(owner_conn, [org])
    wrong: list[tuple[str, str, bytes]] = []
    for verb, template, cap in routes:
        answer_ = await oversized(hub, verb, concrete(template, ids), cap,
                                  {"X-API-Key": API_KEY, "Authorization": f"Bearer {user}"},
                                  chunked=framing == "chunked")
        head, _, body = answer_.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 413") or not body.startswith(
                b'{"status_code":413,"detail":"Request Entity Too Large","request_id":"'):
            wrong.append((verb, template, answer_[:160]))
    assert wrong == []
    assert await holdings(owner_conn, [org]) == before
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
    print(f"bodies ({framing}): {len(routes)} routes, {len(routes) - len(wrong)} answered 413")


# -- another organization ---------------------------------------------------------------


def room_frames(room: str, s: Seeded) -> list[tuple[str, dict[str, Any]]]:
    """Every client frame that names a room, and a ``call`` of every service method."""
    frames: list[tuple[str, dict[str, Any]]] = [
        ("subscribe", {"type": "subscribe", "room": room}),
        ("subscribe+recover", {"type": "subscribe", "room": room,
                               "recover": {"epoch": "x", "offset": 0}}),
        ("publish", {"type": "publish", "room": room, "data": {"forged": True}}),
        ("presence", {"type": "presence", "room": room}),
        ("history", {"type": "history", "room": room, "limit": 1000}),
        ("chat", {"type": "chat", "room": room, "text": "written from outside"}),
        ("chat_history", {"type": "chat_history", "room": room, "limit": 100}),
        ("unsubscribe", {"type": "unsubscribe", "room": room}),
        ("call unknown", {"type": "call", "room": room, "method": "nope.nothing"}),
    ]
    frames += [(f"call {name}", {"type": "call", "room": room, "method": name,
                                 "params": call_params(name, s)}) for name, _ in methods()]
    return frames


NEEDS_SUBSCRIPTION = {"presence", "history", "unsubscribe"}


async def test_another_orgs_rooms_and_records_refuse_everything(
        hub: HubProcess, event: Any, owner_conn: Any, redis_url: str, prefix: str,
        stripe_fake: Any, livekit: Any) -> None:
    """An admin of org A, on org B's rooms (every frame, every method, SSE) and records
    (every route naming one), and org A's overlay credential on B's rooms: 4404/404 for
    B's event (4403 to an overlay socket), 4403/403 for B's org room, 404 for B's records;
    nothing
    changes in Postgres for A or B, nor in B's rooms' Redis history; no provider call."""
    org_a, ev_a = event
    org_b, ev_b = await new_event(owner_conn)
    victim = await seed(hub, owner_conn, org_b, ev_b)
    rooms = {"event": victim.room, "org": f"org:{org_b}"}
    dj_b = await Client.open(hub.ws_url, await staff_token(hub, org_b, "dj-b", "dj"))
    for room in rooms.values():
        await dj_b.subscribe(room)
        await dj_b.publish(room, {"secret": "org-b"})
    # A subscriber puts B's waiting tip alert on screen: let that happen before comparing.
    await until(lambda: alert_status(owner_conn, victim.alert_id, "showing"))
    attacker_token = await staff_token(hub, org_a, "mallory", "admin")
    attacker = await Client.open(hub.ws_url, attacker_token)
    secret = secret_of(await new_link(hub, ev_a))  # org A's OBS overlay credential
    before = await holdings(owner_conn, [org_a, org_b])
    history = {room: await room_history(redis_url, prefix, room) for room in rooms.values()}
    provider_calls = (len(stripe_fake.calls), len(livekit.calls))

    got: dict[str, Any] = {}
    want: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []  # every frame the attacker got
    for kind, room in rooms.items():
        refusal = 4404 if kind == "event" else 4403
        for name, frame in room_frames(room, victim):
            reply = await answer(attacker, frame, seen)
            seen.append(reply)
            got[f"ws {kind} {name}"] = code_of(reply)
            # Reads of a room one is not subscribed to say so first, for any room.
            want[f"ws {kind} {name}"] = 4405 if name in NEEDS_SUBSCRIPTION else refusal
    # Org A's overlay credential (an OBS browser source) on B's rooms.
    overlay = await open_overlay(hub, secret)
    for kind, room in rooms.items():
        for name in ("subscribe", "call tips.ack", "call tips.state"):
            frame = dict(room_frames(room, victim))[name]
            got[f"overlay {kind} {name}"] = code_of(await answer(overlay, frame, seen))
            # An overlay socket may use its own event room only: 4403 anywhere else, told
            # before any lookup (docs/protocol.md, "Connecting").
            want[f"overlay {kind} {name}"] = 4403
    await overlay.close()
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for kind, room in rooms.items():
            got[f"sse {kind}"] = await sse_refusal(http, room, token=attacker_token)
            got[f"sse overlay {kind}"] = await sse_refusal(http, room, overlay=secret)
        want |= {"sse event": (404, 4404), "sse org": (403, 4403),
                 "sse overlay event": (404, 4404), "sse overlay org": (403, 4403)}
        b_ids = {"event_id:uuid": str(ev_b), "org_id:uuid": str(org_b),
                 "tip_id:uuid": victim.tip_id, "user_id:uuid": str(await owner_conn.fetchval(
                     "SELECT id FROM users WHERE external_id = 'dj-b'"))}
        for verb, template, bearer in record_routes():
            if (verb, template) in PUBLIC_ROUTES:
                continue
            # A request answered before its body is read closes its connection.
            resp = await http.request(verb, concrete(template, b_ids),
                                      json=ROUTE_BODIES.get((verb, template), {}),
                                      headers={"Authorization": f"Bearer {attacker_token}",
                                               "Connection": "close"})
            got[f"http {verb} {template}"] = resp.status_code
            want[f"http {verb} {template}"] = 404 if bearer else 401
    await attacker.close()
    assert {k: v for k, v in got.items() if want[k] != v} == {}
    leaked = [f for f in seen if f["type"] != "error" or "org-b" in repr(f) or "hello" in repr(f)]
    assert leaked == []
    assert await holdings(owner_conn, [org_a, org_b]) == before
    assert {room: await room_history(redis_url, prefix, room) for room in rooms.values()} == history
    assert (len(stripe_fake.calls), len(livekit.calls)) == provider_calls
    # B's rooms still work for B.
    await dj_b.publish(victim.room, {"after": True})
    await dj_b.close()
    kinds = {k: sum(key.startswith(k) for key in got) for k in ("ws", "overlay", "sse", "http")}
    print(f"cross-tenant: {len(got)} cases {kinds} ({len(methods())} methods x 2 rooms), all"
          " refused with the documented code; 0 rows or history entries changed")


# -- roles ------------------------------------------------------------------------------


def refused_methods(role: Role) -> list[str]:
    """The methods ``role`` may not call, from the services' role tables (server-only
    methods included, for every role)."""
    return [name for name, m in methods() if m.server_only or role not in m.roles]


async def test_every_role_is_refused_every_method_it_lacks(
        hub: HubProcess, event: Any, owner_conn: Any, redis_url: str, prefix: str) -> None:
    """In its own org, each role (membership-confirmed) calling each method its role table
    leaves out, a viewer's raw publish, and a viewer's bearer on each staff route: 4403 (403
    over HTTP), and nothing is written."""
    org, ev = event
    own = await seed(hub, owner_conn, org, ev)
    rooms = [own.room, f"org:{org}"]
    callers = {role: await Client.open(hub.ws_url, await staff_token(hub, org, f"as-{role}", role))
               for role in (Role.VIEWER, Role.PERFORMER, Role.DJ, Role.MODERATOR, Role.ADMIN)}
    before = await holdings(owner_conn, [org])
    history = {room: await room_history(redis_url, prefix, room) for room in rooms}
    got: dict[str, Any] = {}
    for role, caller in callers.items():
        for name in refused_methods(role):
            got[f"{role} {name}"] = code_of(await answer(caller, {
                "type": "call", "room": own.room, "method": name,
                "params": call_params(name, own)}))
    for room in rooms:
        got[f"viewer publish {room}"] = code_of(await answer(callers[Role.VIEWER], {
            "type": "publish", "room": room, "data": {"type": "song"}}))
    viewer = token(org, sub="as-viewer")
    ids = {"event_id:uuid": str(ev), "org_id:uuid": str(org), "tip_id:uuid": own.tip_id,
           "user_id:uuid": str(await owner_conn.fetchval(
               "SELECT id FROM users WHERE external_id = 'as-dj'"))}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for verb, template, bearer in record_routes():
            if bearer and (verb, template) not in VIEWER_ROUTES:
                resp = await http.request(verb, concrete(template, ids),
                                          json=ROUTE_BODIES.get((verb, template), {}),
                                          headers={"Authorization": f"Bearer {viewer}",
                                                   "Connection": "close"})
                got[f"viewer {verb} {template}"] = resp.status_code
    assert len(got) >= 20 and {k: v for k, v in got.items() if v not in (4403, 403)} == {}
    assert await holdings(owner_conn, [org]) == before
    assert {room: await room_history(redis_url, prefix, room) for room in rooms} == history
    # The control: the same params work for a role that has them.
    dj = callers[Role.DJ]
    assert code_of(await answer(dj, {"type": "call", "room": own.room, "method": "requests.accept",
                                     "params": call_params("requests.accept", own)})) == "result"
    for caller in callers.values():
        await caller.close()
    print(f"roles: {len(got)} refused calls, publishes and staff routes, all 4403 (403 over"
          " HTTP); 0 rows changed")


# -- injection strings ------------------------------------------------------------------

# Each planted field, read back as the owner: (query by id, the columns, which Planted map).
STORED = (
    ("SELECT body, author_name FROM chat_messages WHERE id = $1", "chat"),
    ("SELECT song_title, artist, note, requester_name FROM song_requests WHERE id = $1",
     "requests"),
    ("SELECT decline_reason FROM song_requests WHERE id = $1", "declined"),
    ("SELECT singer_name, song_title FROM karaoke_signups WHERE id = $1", "signups"),
    ("SELECT from_name, message FROM tips WHERE id = $1", "tips"),
    ("SELECT title FROM events WHERE id = $1", "events"),
)
NAME_COLUMNS = {"author_name", "requester_name"}  # a display name: cleaned (rooms.principal)


async def all_tables(conn: asyncpg.Connection) -> dict[str, int]:
    """Every table in the schema with its row count (all orgs)."""
    names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"]: await conn.fetchval(f"SELECT count(*) FROM {r['tablename']}")
            for r in names}


async def test_injection_strings_are_stored_verbatim(hub_factory: Any, event: Any,
                                                     owner_conn: Any) -> None:
    """SQL and script payloads in every text field (chat, names, requests, decline reasons,
    karaoke, tips, event titles, org and user names over the operator API): each stored
    exactly as sent, every table still there, and exactly the expected rows added."""
    org, ev = event
    hub = hub_factory(db=True, HUB_GUEST_TOKENS_PER_MINUTE="1000",
                      HUB_TIP_ALERT_TIMEOUT=TIP_TIMEOUT)
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj", "dj"))
    before = await all_tables(owner_conn)
    planted = await plant(hub, org, ev, dj)
    mismatches: list[tuple[str, str, Any]] = []
    checked = 0
    for query, where in STORED:
        for payload, row_id in getattr(planted, where).items():
            row = await owner_conn.fetchrow(query, row_id)
            for column, value in row.items():
                checked += 1
                want = (display_name(payload) if column in NAME_COLUMNS else
                        artist(PAYLOADS.index(payload), payload) if column == "artist" else
                        payload)
                if value != want:
                    mismatches.append((payload, column, value))
    # The operator API's other free-text fields.
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        for payload in PAYLOADS[:3]:
            renamed = await http.patch(f"/api/orgs/{org}", json={"name": payload})
            user = await http.post("/api/users", json={"external_id": f"u-{uuid.uuid4().hex}",
                                                       "display_name": payload})
            assert (renamed.status_code, user.status_code) == (200, 201), (renamed, user.text)
            stored = (await owner_conn.fetchval("SELECT name FROM organizations WHERE id = $1",
                                                org),
                      await owner_conn.fetchval("SELECT display_name FROM users WHERE id = $1",
                                                uuid.UUID(user.json()["id"])))
            checked += 2
            if stored != (payload, payload):
                mismatches.append((payload, "org name / user name", stored))
        # NUL is the one character refused, with 4402 (docs/protocol.md), storing nothing.
        await dj.send({"type": "chat", "room": planted.room, "text": "a\u0000b", "id": 9})
        assert (await dj.recv("error"))["code"] == 4402
    await dj.close()
    after = await all_tables(owner_conn)
    n = len(PAYLOADS)
    added = {t: after[t] - before[t] for t in before if after.get(t) != before[t]}
    assert set(after) == set(before)  # no table dropped (or created)
    assert mismatches == []
    assert {t: added.get(t, 0) for t in ("chat_messages", "song_requests", "karaoke_signups",
                                         "tips", "events", "tip_alerts")} == {
        "chat_messages": n, "song_requests": 2 * n, "karaoke_signups": n, "tips": n,
        "events": n, "tip_alerts": n}
    print(f"injection: {n} payloads, {checked} stored fields checked, all verbatim;"
          f" {len(after)} tables intact; rows added {added}")
