"""LiveKit video through real hub processes, Redis and Postgres, against a local fake
RoomService that checks every call's signature, grants and body."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.support.client import Client, token
from tests.support.fake_livekit import FakeLiveKit, webhook_body
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import staff_token

TTL = 120


@pytest.fixture
def hub(hub_factory: Any, livekit: FakeLiveKit) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **livekit.env(LIVEKIT_TOKEN_TTL=str(TTL)))
    return process


async def post(hub: HubProcess, path: str, *, bearer: str | None = None,
               body: Any = None, content: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    sent = dict(headers or {})
    if bearer is not None:
        sent["Authorization"] = f"Bearer {bearer}"
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        if content is not None:
            return await http.post(path, content=content, headers=sent)
        return await http.post(path, json=body, headers=sent)


async def lk_token(hub: HubProcess, ev: uuid.UUID, bearer: str, kind: str) -> httpx.Response:
    return await post(hub, f"/api/events/{ev}/livekit-token", bearer=bearer, body={"kind": kind})


def video(fake: FakeLiveKit, lk: str) -> dict[str, Any]:
    """The verified claims of a LiveKit token minted by the hub."""
    claims: dict[str, Any] = jwt.decode(lk, fake.secret, algorithms=["HS256"], issuer=fake.key)
    return claims


async def add_user(owner: asyncpg.Connection) -> uuid.UUID:
    user = uuid.uuid4()
    await owner.execute("INSERT INTO users (id, display_name) VALUES ($1, 'fan')", user)
    return user


async def audit_rows(owner: asyncpg.Connection, org: uuid.UUID, action: str) -> list[Any]:
    return await owner.fetch(
        "SELECT actor_id, target, detail FROM audit_log WHERE organization_id = $1"
        " AND action = $2 ORDER BY id", org, action)


async def webhook(hub: HubProcess, fake: FakeLiveKit, body: str) -> httpx.Response:
    return await post(hub, "/webhooks/livekit", content=body, headers={
        "Authorization": fake.sign_webhook(body), "Content-Type": "application/webhook+json"})


async def test_viewer_token_subscribes_only(hub, livekit, event):
    """A viewer's token joins the event room, subscribes, and can publish neither media nor data."""
    org, ev = event
    resp = await lk_token(hub, ev, token(org, sub="fan-1"), "viewer")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    claims = video(livekit, body["token"])
    assert claims["sub"] == body["identity"] == "fan-1"
    assert claims["video"] == {"roomJoin": True, "room": f"event-{ev}", "canPublish": False,
                               "canSubscribe": True, "canPublishData": False}
    assert body["room"] == f"event-{ev}" and body["url"] == livekit.url
    assert claims["exp"] - claims["nbf"] == TTL and body["expires_at"] == claims["exp"] * 1000


async def test_publisher_and_bot_tokens_follow_roles(hub, livekit, event):
    """A DJ's publisher token publishes; a DJ's bot is hidden; a viewer gets neither (403)."""
    org, ev = event
    dj = await staff_token(hub, org, "dj-1", "dj")
    pub = video(livekit, (await lk_token(hub, ev, dj, "publisher")).json()["token"])["video"]
    assert pub["canPublish"] is True and pub["canSubscribe"] is True
    bot_resp = (await lk_token(hub, ev, dj, "bot")).json()
    bot = video(livekit, bot_resp["token"])
    assert bot["sub"].startswith("bot-dj-1-") and bot_resp["identity"] == bot["sub"]
    assert bot["video"]["hidden"] is True and bot["video"]["recorder"] is True
    assert bot["video"]["canPublish"] is False and bot["video"]["canSubscribe"] is True
    performer = await staff_token(hub, org, "perf-1", "performer")
    assert (await lk_token(hub, ev, performer, "publisher")).status_code == 200
    assert (await lk_token(hub, ev, performer, "bot")).status_code == 403
    fan = token(org, sub="fan-1")
    for kind in ("publisher", "bot"):
        assert (await lk_token(hub, ev, fan, kind)).status_code == 403


async def test_token_needs_a_valid_bearer_and_an_event_of_its_org(hub, event):
    """No bearer or a forged one is 401; another org's event is 404; a bad kind is 400."""
    org, ev = event
    assert (await post(hub, f"/api/events/{ev}/livekit-token",
                       body={"kind": "viewer"})).status_code == 401
    forged = jwt.encode({"sub": "x", "org": str(org), "exp": 9999999999},
                        "wrong-secret-0123456789-0123456789-abcdef")
    assert (await lk_token(hub, ev, forged, "viewer")).status_code == 401
    assert (await lk_token(hub, ev, token(uuid.uuid4()), "viewer")).status_code == 404
    assert (await lk_token(hub, ev, token(org), "stage")).status_code == 400


async def test_ppv_viewer_needs_a_purchase_and_each_grant_is_audited(
        hub, livekit, event, owner_conn):
    """Pay-per-view: 402 before the ppv_access row exists, a token after, and audit_log has it."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET ppv_price_cents = 500 WHERE id = $1", ev)
    user = await add_user(owner_conn)
    fan = token(org, sub=str(user))
    refused = await lk_token(hub, ev, fan, "viewer")
    assert refused.status_code == 402, refused.text
    assert await audit_rows(owner_conn, org, "livekit.token") == []
    await owner_conn.execute(
        "INSERT INTO ppv_access (organization_id, event_id, user_id) VALUES ($1, $2, $3)",
        org, ev, user)
    resp = await lk_token(hub, ev, fan, "viewer")
    assert resp.status_code == 200, resp.text
    assert video(livekit, resp.json()["token"])["video"]["canPublish"] is False
    [row] = await audit_rows(owner_conn, org, "livekit.token")
    assert row["actor_id"] == user and row["target"] == str(ev)
    detail = json.loads(row["detail"])
    assert (detail["kind"], detail["identity"], detail["ttl"]) == ("viewer", str(user), TTL)
    # The DJ hosting the event watches without buying.
    dj = await staff_token(hub, org, "dj-1", "dj")
    assert (await lk_token(hub, ev, dj, "viewer")).status_code == 200


async def test_going_live_creates_the_room_and_broadcasts(hub, livekit, event, owner_conn):
    """Go-live calls CreateRoom with a valid signed grant, stores the room and tells subscribers."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    watcher = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    await watcher.subscribe(f"event:{ev}")
    assert (await post(hub, f"/api/events/{ev}/live",
                       bearer=token(org, sub="fan-1"))).status_code == 403
    assert livekit.calls == []
    dj = await staff_token(hub, org, "dj", "dj")
    resp = await post(hub, f"/api/events/{ev}/live", bearer=dj)
    assert resp.status_code == 200, resp.text
    [call] = livekit.calls
    assert call.method == "CreateRoom" and call.body == {"name": f"event-{ev}"}
    assert call.claims["video"]["roomCreate"] is True and livekit.refused == []
    row = await owner_conn.fetchrow("SELECT status, livekit_room FROM events WHERE id = $1", ev)
    assert dict(row) == {"status": "live", "livekit_room": f"event-{ev}"}
    assert await watcher.next_event("event_status") == {
        "type": "event_status", "status": "live", "livekit_room": f"event-{ev}"}
    await watcher.close()


async def test_revoke_removes_access_and_the_participant(hub, livekit, event, owner_conn):
    """Revoking PPV deletes the purchase (audited), kicks via RemoveParticipant, refuses tokens."""
    org, ev = event
    await owner_conn.execute(
        "UPDATE events SET ppv_price_cents = 900, livekit_room = $2 WHERE id = $1",
        ev, f"show-{ev.hex[:8]}")
    user = await add_user(owner_conn)
    await owner_conn.execute(
        "INSERT INTO ppv_access (organization_id, event_id, user_id) VALUES ($1, $2, $3)",
        org, ev, user)
    livekit.participants[f"show-{ev.hex[:8]}"] = {str(user)}
    path = f"/api/events/{ev}/ppv/revoke"
    assert (await post(hub, path, body={"user_id": str(user)})).status_code == 401
    resp = await post(hub, path, body={"user_id": str(user)}, headers={"X-API-Key": API_KEY})
    assert resp.status_code == 204, resp.text
    [call] = livekit.calls
    assert call.method == "RemoveParticipant"
    assert call.body == {"room": f"show-{ev.hex[:8]}", "identity": str(user)}
    assert call.claims["video"] == {"roomAdmin": True, "room": f"show-{ev.hex[:8]}",
                                    "canPublish": True, "canSubscribe": True,
                                    "canPublishData": True}  # the SDK's grant for the call
    assert livekit.participants[f"show-{ev.hex[:8]}"] == set() and livekit.refused == []
    assert await owner_conn.fetchval("SELECT count(*) FROM ppv_access WHERE event_id = $1",
                                     ev) == 0
    [row] = await audit_rows(owner_conn, org, "ppv.revoke")
    assert json.loads(row["detail"])["user_id"] == str(user)
    assert (await lk_token(hub, ev, token(org, sub=str(user)), "viewer")).status_code == 402
    # Again: LiveKit answers not_found (already gone), which is fine.
    again = await post(hub, path, body={"user_id": str(user)}, headers={"X-API-Key": API_KEY})
    assert again.status_code == 204 and len(livekit.calls) == 2


async def test_tampered_webhook_is_refused_and_changes_nothing(hub, livekit, event, owner_conn):
    """A body that differs from the signed one, or no signature, is 401 and nothing changes."""
    org, ev = event
    signed = webhook_body("participant_joined", f"event-{ev}", identity="fan-1")
    tampered = signed.replace("fan-1", "fan-2")
    for headers in ({"Authorization": livekit.sign_webhook(signed)}, {}):
        resp = await post(hub, "/webhooks/livekit", content=tampered, headers=headers)
        assert resp.status_code == 401, resp.text
    stranger = FakeLiveKit(secret="not-the-secret-0123456789abcdef-0123456789")
    forged = stranger.sign_webhook(tampered)
    resp = await post(hub, "/webhooks/livekit", content=tampered,
                      headers={"Authorization": forged})
    assert resp.status_code == 401
    assert await owner_conn.fetchval("SELECT viewer_count FROM events WHERE id = $1", ev) == 0
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM webhook_events WHERE organization_id = $1", org) == 0
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM livekit_participants WHERE event_id = $1", ev) == 0


async def test_signed_webhooks_count_viewers_once_and_reach_the_room(
        hub, livekit, event, owner_conn):
    """Joins and leaves update the stored count and the room; redelivery and bots count nothing."""
    org, ev = event
    room = f"event-{ev}"
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(f"event:{ev}")
    joined = webhook_body("participant_joined", room, identity="fan-1", created_at=100)
    resp = await webhook(hub, livekit, joined)
    assert resp.status_code == 200 and resp.json() == {"outcome": "applied"}
    assert await watcher.next_event("viewers") == {"type": "viewers", "count": 1}
    redelivered = await webhook(hub, livekit, joined)
    assert redelivered.json() == {"outcome": "duplicate"}
    # A bot (by identity prefix or LiveKit's hidden flag) is not a viewer.
    await webhook(hub, livekit, webhook_body("participant_joined", room,
                                             identity="bot-dj-1-abcd", created_at=101))
    await webhook(hub, livekit, webhook_body("participant_joined", room, identity="overlay",
                                             hidden=True, created_at=101))
    await webhook(hub, livekit, webhook_body("participant_joined", room, identity="fan-2",
                                             created_at=102))
    # The next broadcast is 2: the redelivery and the bots broadcast nothing.
    assert await watcher.next_event("viewers") == {"type": "viewers", "count": 2}
    assert await owner_conn.fetchval("SELECT viewer_count FROM events WHERE id = $1", ev) == 2
    await webhook(hub, livekit, webhook_body("participant_left", room, identity="fan-1",
                                             created_at=103))
    assert await watcher.next_event("viewers") == {"type": "viewers", "count": 1}
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM webhook_events WHERE organization_id = $1 AND provider = 'livekit'",
        org) == 5
    await watcher.close()


async def test_room_finished_webhook_ends_the_event(hub, livekit, event, owner_conn):
    """room_finished sets the event ended with no viewers and broadcasts event_status."""
    org, ev = event
    room = f"event-{ev}"
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(f"event:{ev}")
    await webhook(hub, livekit, webhook_body("participant_joined", room, identity="fan-1",
                                             created_at=100))
    assert (await watcher.next_event("viewers"))["count"] == 1
    resp = await webhook(hub, livekit, webhook_body("room_finished", room, created_at=200))
    assert resp.json() == {"outcome": "applied"}
    assert await watcher.next_event("event_status") == {
        "type": "event_status", "status": "ended", "livekit_room": None}
    assert await watcher.next_event("viewers") == {"type": "viewers", "count": 0}
    row = await owner_conn.fetchrow("SELECT status, viewer_count FROM events WHERE id = $1", ev)
    assert dict(row) == {"status": "ended", "viewer_count": 0}
    await watcher.close()


async def test_routes_answer_503_without_livekit(hub_factory, event):
    """With no LIVEKIT_API_KEY every LiveKit route says streaming is not configured."""
    org, ev = event
    hub = hub_factory(db=True)
    resp = await lk_token(hub, ev, token(org), "viewer")
    assert resp.status_code == 503 and "streaming not configured" in resp.text
    assert (await post(hub, "/webhooks/livekit", content="{}")).status_code == 503


async def test_a_room_starting_again_never_revives_an_ended_event(hub, livekit, event,
                                                                   owner_conn):
    """room_started after the operator ended the event changes nothing and says nothing;
    a cancelled event is not ended by room_finished either."""
    org, ev = event
    room = f"event-{ev}"
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(f"event:{ev}")
    await owner_conn.execute("UPDATE events SET status = 'ended' WHERE id = $1", ev)
    resp = await webhook(hub, livekit, webhook_body("room_started", room, created_at=300))
    assert resp.json() == {"outcome": "applied"}
    with pytest.raises(TimeoutError):
        await watcher.next_event("event_status", 0.5)
    assert await owner_conn.fetchval("SELECT status FROM events WHERE id = $1", ev) == "ended"
    await owner_conn.execute("UPDATE events SET status = 'cancelled' WHERE id = $1", ev)
    await webhook(hub, livekit, webhook_body("room_finished", room, created_at=400))
    assert (await watcher.next_event("viewers"))["count"] == 0
    assert await owner_conn.fetchval("SELECT status FROM events WHERE id = $1",
                                     ev) == "cancelled"
    await watcher.close()
