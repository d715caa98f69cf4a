"""LiveKit routes answer bad tokens and a dead LiveKit with our own short reasons, never a
500 and never a host, port or SDK text."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from tests.support.client import token
from tests.support.fake_livekit import webhook_body
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import staff_token
from tests.support.services import free_port


async def post(hub: HubProcess, path: str, *, body: Any = None, content: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        if content is not None:
            return await http.post(path, content=content, headers=headers or {})
        return await http.post(path, json=body, headers=headers or {})


async def mint(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID, sub: str,
               kind: str = "viewer") -> httpx.Response:
    return await post(hub, f"/api/events/{ev}/livekit-token", body={"kind": kind},
                      headers={"Authorization": f"Bearer {token(org, sub=sub)}"})


async def test_unusable_subs_get_422_not_500(hub_factory, livekit, event):
    """sub "" (and blank, NUL, huge) is 422 with a clear reason; odd but fine subs mint."""
    org, ev = event
    hub = hub_factory(db=True, **livekit.env())
    for sub in ("", "   ", "fan\x00", "x" * 10_000, "\n"):
        for kind in ("viewer", "bot"):
            resp = await mint(hub, org, ev, sub, kind)
            assert resp.status_code == 422, (sub[:20], kind, resp.text)
            assert resp.json()["detail"] == (
                "the token's sub is empty or not usable as a video identity")
            assert len(resp.text) < 300  # never an echo of the sub
    script = "<script>alert(1)</script>"
    resp = await mint(hub, org, ev, script)
    assert resp.status_code == 200 and resp.json()["identity"] == script


async def test_dead_livekit_is_503_with_our_reason(hub_factory, event, owner_conn):
    """LiveKit on a closed port: go-live and revoke answer 503 "video service unavailable",
    naming no host or port; the event stays as it was."""
    org, ev = event
    port = free_port()  # bound, then released: nothing listens there
    hub = hub_factory(db=True, LIVEKIT_URL=f"http://127.0.0.1:{port}",
                      LIVEKIT_API_KEY="APIkey", LIVEKIT_API_SECRET="s" * 40)
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    dj = await staff_token(hub, org, "dj-1", "dj")
    resp = await post(hub, f"/api/events/{ev}/live", headers={"Authorization": f"Bearer {dj}"})
    assert resp.status_code == 503, resp.text
    assert resp.json()["detail"] == "video service unavailable"
    user = uuid.uuid4()
    await owner_conn.execute("INSERT INTO users (id, display_name) VALUES ($1, 'fan')", user)
    revoke = await post(hub, f"/api/events/{ev}/ppv/revoke", body={"user_id": str(user)},
                        headers={"X-API-Key": API_KEY})
    assert revoke.status_code == 503, revoke.text
    assert revoke.json()["detail"] == "video service unavailable"
    for answer in (resp, revoke):
        assert "127.0.0.1" not in answer.text and str(port) not in answer.text
        assert "connect" not in answer.text.lower()
    assert await owner_conn.fetchval("SELECT status FROM events WHERE id = $1", ev) == (
        "scheduled")
    assert "Cannot connect to host" in hub.log() or "127.0.0.1" in hub.log()  # logged


async def test_refused_webhook_reason_is_ours(hub_factory, livekit, event,
                                              owner_conn: asyncpg.Connection):
    """A tampered or unreadable LiveKit webhook gets our reason, not the SDK's text."""
    org, ev = event
    assert await owner_conn.fetchval("SELECT organization_id FROM events WHERE id = $1",
                                     ev) == org
    hub = hub_factory(db=True, **livekit.env())
    signed = webhook_body("participant_joined", f"event-{ev}", identity="fan-1")
    tampered = signed.replace("fan-1", "fan-2")
    resp = await post(hub, "/webhooks/livekit", content=tampered,
                      headers={"Authorization": livekit.sign_webhook(signed)})
    assert resp.status_code == 401
    assert resp.json()["detail"] == (
        "webhook refused: bad signature, or the body is not the one signed")
    junk = '{"event": "participant_joined", "room": 5, "<script>": 1}'
    resp = await post(hub, "/webhooks/livekit", content=junk,
                      headers={"Authorization": livekit.sign_webhook(junk)})
    assert resp.status_code == 400
    assert resp.json()["detail"] == "webhook unreadable: not a LiveKit webhook event"
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM webhook_events WHERE organization_id = $1", org) == 0
