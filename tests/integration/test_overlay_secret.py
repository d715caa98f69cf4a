"""The OBS overlay secret: it watches one event and acks its alerts, nothing else; rotating
it closes its connections on every node. Real hubs, real Redis, real Postgres."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.test_tips import LONG, HubFactory, Overlay, alert_of, pay, statuses
from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import add_member


async def rotate(hub: HubProcess, event_id: uuid.UUID, *, bearer: str | None = None,
                 api_key: str = API_KEY) -> httpx.Response:
    """POST /api/events/{id}/overlay with the API key, or with a bearer token instead."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await http.post(f"/api/events/{event_id}/overlay", headers=headers)


async def new_link(hub: HubProcess, event_id: uuid.UUID, **auth: Any) -> dict[str, Any]:
    resp = await rotate(hub, event_id, **auth)
    assert resp.status_code == 200, resp.text
    link: dict[str, Any] = resp.json()
    return link


def secret_of(link: dict[str, Any]) -> str:
    """The secret in an overlay link: ``<base>/overlay/<secret>``, absolute, no fragment."""
    url = urlsplit(link["url"])
    assert url.scheme in {"http", "https"} and url.netloc and not url.fragment, link
    head, _, secret = url.path.rpartition("/")
    assert head == "/overlay" and secret, link
    return secret


async def open_overlay(hub: HubProcess, secret: str) -> Client:
    """Connect as an OBS overlay does: ``/ws?overlay=<secret>``, no token."""
    ws = await asyncio.wait_for(connect(f"{hub.ws_url}?overlay={secret}", compression=None),
                                10)
    client = Client(ws)
    client.welcome = await client.recv("welcome")
    return client


async def close_code(client: Client, timeout: float = 10.0) -> tuple[int, str]:
    """Wait until the hub closes ``client``; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(client.ws.recv(), timeout)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def refused_at_handshake(hub: HubProcess, secret: str) -> tuple[int, str]:
    ws = await asyncio.wait_for(connect(f"{hub.ws_url}?overlay={secret}", compression=None),
                                10)
    return await close_code(Client(ws))


async def overlay_on(hub: HubProcess, secret: str, room: str) -> Overlay:
    """An overlay connected with ``secret``, subscribed, its tips snapshot applied."""
    overlay = Overlay(await open_overlay(hub, secret))
    await overlay.client.subscribe(room)
    await asyncio.wait_for(overlay.until(lambda o: o._state is not None), 15)
    return overlay


async def another_event(owner_conn: asyncpg.Connection, org: uuid.UUID | None = None,
                        ) -> tuple[uuid.UUID, uuid.UUID]:
    """A live event in ``org``, or in a new organization."""
    ev = uuid.uuid4()
    if org is None:
        org = uuid.uuid4()
        await owner_conn.execute(
            "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, $2, $3,"
            " 'djdash')", org, f"Other {org.hex[:6]}", f"other-{org.hex}")
    await owner_conn.execute("INSERT INTO events (id, organization_id, title, status)"
                             " VALUES ($1, $2, 'Saturday', 'live')", ev, org)
    return org, ev


async def overlay_row(owner_conn: asyncpg.Connection, ev: uuid.UUID) -> asyncpg.Record | None:
    return await owner_conn.fetchrow("SELECT * FROM event_overlays WHERE event_id = $1", ev)


async def test_overlay_watches_its_event_and_acks_an_alert(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """The secret subscribes to its event, reads tips.state and acks the showing alert."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    link = await new_link(hub, ev)
    assert link["version"] == 1 and link["expires_at"] is None
    # Absolute, from the address the caller used: pasted into OBS as is.
    assert link["url"].startswith(f"{hub.url}/overlay/")
    secret = secret_of(link)
    row = await overlay_row(owner_conn, ev)
    assert row is not None and row["organization_id"] == org
    assert bytes(row["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret.encode() not in b"".join(str(v).encode() for v in row.values())

    overlay = await overlay_on(hub, secret, room)
    first = alert_of(await pay(hub, room, 500, "Ann"))
    second = alert_of(await pay(hub, room, 700, "Bob"))
    await asyncio.wait_for(overlay.until(overlay.showing_is(first)), 15)
    state = await overlay.client.call(room, "tips.state")
    assert state["showing"]["alert_id"] == first
    assert (await overlay.ack_showing(room))["advanced"] is True
    await asyncio.wait_for(overlay.until(overlay.showing_is(second)), 15)
    assert (await statuses(owner_conn, ev))[first] == "acked"
    await overlay.client.close()


async def test_overlay_is_refused_everything_else(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """Chat, publish, other methods, other rooms (another org's too) get 4403, refresh
    4410; nothing is stored, and the connection stays usable for what it may do."""
    org, ev = event
    _, sibling = await another_event(owner_conn, org)
    _, foreign = await another_event(owner_conn)
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await overlay_on(hub, secret_of(await new_link(hub, ev)), room)
    client = overlay.client
    refusals: list[tuple[dict[str, Any], int]] = [
        ({"type": "chat", "room": room, "text": "<script>alert(1)</script>"}, 4403),
        ({"type": "publish", "room": room, "data": {"type": "banner", "text": "hi"}}, 4403),
        ({"type": "call", "room": room, "method": "requests.submit",
          "params": {"song": "Mr. Brightside"}}, 4403),
        ({"type": "call", "room": room, "method": "karaoke.signup",
          "params": {"singer_name": "x"}}, 4403),
        ({"type": "call", "room": room, "method": "moderation.slow_mode",
          "params": {"seconds": 5}}, 4403),
        ({"type": "call", "room": room, "method": "tips.paid", "params": {}}, 4403),
        ({"type": "chat_history", "room": room}, 4403),
        ({"type": "subscribe", "room": f"event:{sibling}"}, 4403),
        ({"type": "subscribe", "room": f"org:{org}"}, 4403),
        ({"type": "call", "room": f"event:{sibling}", "method": "tips.state"}, 4403),
        ({"type": "subscribe", "room": f"event:{foreign}"}, 4403),
        ({"type": "refresh", "token": token(org, sub=f"overlay:{ev}", roles=("admin",))},
         4410),
    ]
    for n, (frame, code) in enumerate(refusals, start=100):
        await client.send({**frame, "id": n})
        while True:
            answer = await client.recv(timeout=10)
            if answer.get("id") == n:
                break
        assert answer["type"] == "error" and answer["code"] == code, (frame, answer)
    assert (await client.call(room, "tips.state"))["version"] >= 0
    rows = await owner_conn.fetchval("SELECT count(*) FROM chat_messages WHERE event_id = $1",
                                     ev)
    assert rows == 0
    await client.close()


async def test_rotation_closes_old_overlays_on_every_node(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection,
        owner_dsn: str) -> None:
    """An admin's rotation closes old-secret overlays on both nodes (4003); the old secret
    is refused (4001) everywhere, the new one works, and the rotation is audited."""
    org, ev = event
    first, second = (hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG) for _ in range(2))
    room = f"event:{ev}"
    old = secret_of(await new_link(first, ev))
    on_first = await overlay_on(first, old, room)
    on_second = await overlay_on(second, old, room)
    await add_member(owner_dsn, org, "boss", "owner")  # an owner's membership...
    boss = token(org, sub="boss", roles=("admin",))  # ...confirms an admin token
    link = await new_link(second, ev, bearer=boss)
    assert link["version"] == 2
    assert await close_code(on_first.client) == (4003, "overlay secret rotated")
    assert await close_code(on_second.client) == (4003, "overlay secret rotated")
    for hub in (first, second):
        assert (await refused_at_handshake(hub, old))[0] == 4001
    renewed = await overlay_on(first, secret_of(link), room)
    alert = alert_of(await pay(first, room, 900, "Cy"))
    await asyncio.wait_for(renewed.until(renewed.showing_is(alert)), 15)
    assert (await renewed.ack_showing(room))["advanced"] is True
    audit = await owner_conn.fetch(
        "SELECT actor_sub, detail->>'version' AS version FROM audit_log"
        " WHERE action = 'overlay.rotate' AND target = $1 ORDER BY id", str(ev))
    assert [(r["actor_sub"], r["version"]) for r in audit] == [(None, "1"), ("boss", "2")]
    await renewed.client.close()


async def test_other_orgs_admin_and_weak_roles_cannot_rotate(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection,
        owner_dsn: str) -> None:
    """Another org's admin gets 404, a dj-less viewer 403, a wrong key 401, an unknown
    event 404; none of them changes the secret or closes its overlay."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await overlay_on(hub, secret_of(await new_link(hub, ev)), room)
    before = await overlay_row(owner_conn, ev)
    other_org, _ = await another_event(owner_conn)
    await add_member(owner_dsn, other_org, "rival", "owner")
    rival = token(other_org, sub="rival", roles=("admin",))
    fan = token(org, sub="fan-1", roles=("viewer",))
    attempts = [
        (rotate(hub, ev, bearer=rival), 404),
        (rotate(hub, ev, bearer=fan), 403),
        (rotate(hub, ev, bearer="not-a-jwt"), 401),
        (rotate(hub, ev, api_key="wrong"), 401),
        (rotate(hub, uuid.uuid4()), 404),
        (rotate(hub, uuid.uuid4(), bearer=rival), 404),
    ]
    for attempt, status in attempts:
        resp = await attempt
        assert resp.status_code == status, resp.text
        assert resp.json()["detail"]
    assert await overlay_row(owner_conn, ev) == before
    assert (await overlay.client.call(room, "tips.state"))["version"] >= 0
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        bad_id = await http.post("/api/events/not-a-uuid/overlay",
                                 headers={"X-API-Key": API_KEY})
    assert bad_id.status_code == 404
    await overlay.client.close()


@pytest.mark.parametrize("secret", [
    "garbage",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "A" * 43,  # well formed, never minted
    "x" * 5000,
])
async def test_forged_overlay_credential_is_refused_with_4001(
        hub_factory: HubFactory, event: tuple, secret: str) -> None:
    """A secret the hub never minted is closed with 4001; tokens keep working."""
    org, ev = event
    hub = hub_factory(db=True)
    await new_link(hub, ev)  # the event has a real secret; it is not this one
    assert await refused_at_handshake(hub, secret) == (4001, "invalid overlay credential")
    viewer = await Client.open(hub.ws_url, token(org, sub="fan-2"))
    assert (await viewer.subscribe(f"event:{ev}"))["room"] == f"event:{ev}"
    await viewer.close()


async def test_a_rotation_whose_notice_was_lost_still_closes_within_the_recheck(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """A version changed in Postgres with no notice (lost) closes the overlay at the next
    periodic re-check (HUB_ROLE_CACHE_TTL), and the cached grant stops counting."""
    _, ev = event
    hub = hub_factory(db=True, HUB_ROLE_CACHE_TTL="1")
    room = f"event:{ev}"
    secret = secret_of(await new_link(hub, ev))
    overlay = await overlay_on(hub, secret, room)
    await owner_conn.execute("UPDATE event_overlays SET version = version + 1,"
                             " secret_hash = $2 WHERE event_id = $1", ev,
                             hashlib.sha256(b"someone else's secret").digest())
    assert await close_code(overlay.client, timeout=10) == (4003, "overlay secret rotated")
    assert (await refused_at_handshake(hub, secret))[0] == 4001
