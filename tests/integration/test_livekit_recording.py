"""Recording the stream through LiveKit Egress, with real hub processes, Redis and Postgres,
against the local fake Egress service that checks each call's grant and request."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.client import Client, token
from tests.support.fake_livekit import FakeLiveKit, egress_webhook_body
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import staff_token

FILEPATH = "livehub/{room_name}-{time}.mp4"


@pytest.fixture
def hub(hub_factory: Any, livekit: FakeLiveKit) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **livekit.env())
    return process


async def call(hub: HubProcess, method: str, ev: uuid.UUID, *, bearer: str | None = None,
               api_key: bool = False, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if api_key:
        headers["X-API-Key"] = API_KEY
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        return await http.request(method, f"/api/events/{ev}/recording", headers=headers,
                                  **kwargs)


async def webhook(hub: HubProcess, fake: FakeLiveKit, body: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await http.post("/webhooks/livekit", content=body, headers={
            "Authorization": fake.sign_webhook(body),
            "Content-Type": "application/webhook+json"})


async def rows(owner: asyncpg.Connection, ev: uuid.UUID) -> list[Any]:
    return await owner.fetch("SELECT egress_id, status, error, file_location, started_by"
                             " FROM event_recordings WHERE event_id = $1 ORDER BY started_at",
                             ev)


async def watch(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID) -> Client:
    """A fan's socket on the event room."""
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    await fan.subscribe(f"event:{ev}")
    return fan


async def test_start_record_stop_through_egress_and_webhooks(hub, livekit, event, owner_conn):
    """Start: one StartRoomCompositeEgress with the roomRecord grant, the event's room and
    the file output; the room sees starting -> recording (webhook) -> stopping -> stopped
    with the file; starts and stops are audited."""
    org, ev = event
    room = f"event-{ev}"
    dj = await staff_token(hub, org, "dj-1", "dj")
    fan = await watch(hub, org, ev)
    resp = await call(hub, "POST", ev, bearer=dj, json={"layout": "grid"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "starting" and body["started_by"] == "dj-1"
    assert body["layout"] == "grid" and body["egress_id"].startswith("EG_")
    (start,) = livekit.egress_calls("StartRoomCompositeEgress")
    assert start.claims["video"]["roomRecord"] is True and start.claims["iss"] == livekit.key
    assert start.body["room_name"] == room and start.body["layout"] == "grid"
    assert [o["filepath"] for o in start.body["file_outputs"]] == [FILEPATH]
    assert start.body["file_outputs"][0]["file_type"] == "MP4"
    first = await fan.next_event("recording")
    assert first == {"type": "recording", "status": "starting",
                     "started_at": first["started_at"], "ended_at": None}
    second = await fan.next_event("recording")
    assert second["status"] == "starting" and "egress_id" not in second
    egress_id = body["egress_id"]

    started = egress_webhook_body("egress_started", room, egress_id, "EGRESS_ACTIVE")
    assert (await webhook(hub, livekit, started)).json() == {"outcome": "applied"}
    assert (await fan.next_event("recording"))["status"] == "recording"
    assert (await webhook(hub, livekit, started)).json() == {"outcome": "duplicate"}

    stopped = await call(hub, "DELETE", ev, bearer=dj)
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopping"
    (stop,) = livekit.egress_calls("StopEgress")
    assert stop.body == {"egress_id": egress_id} and stop.claims["video"]["roomRecord"]
    assert (await fan.next_event("recording"))["status"] == "stopping"
    ended = egress_webhook_body("egress_ended", room, egress_id, "EGRESS_COMPLETE",
                                location="s3://bucket/livehub/night.mp4")
    await webhook(hub, livekit, ended)
    final = await fan.next_event("recording")
    assert final["status"] == "stopped" and final["ended_at"] >= final["started_at"]
    assert "file" not in final  # storage paths are for the DJs' GET, not the whole room
    state = (await call(hub, "GET", ev, api_key=True)).json()
    assert state["status"] == "stopped" and state["file"] == "s3://bucket/livehub/night.mp4"
    # A late egress_updated (ACTIVE) cannot bring a finished recording back.
    await webhook(hub, livekit, egress_webhook_body("egress_updated", room, egress_id,
                                                    "EGRESS_ACTIVE"))
    assert (await call(hub, "GET", ev, bearer=dj)).json()["status"] == "stopped"
    actions = await owner_conn.fetch(
        "SELECT action, detail->>'sub' AS sub FROM audit_log WHERE organization_id = $1"
        " AND action LIKE 'recording.%' ORDER BY id", org)
    assert [(a["action"], a["sub"]) for a in actions] == [("recording.start", "dj-1"),
                                                          ("recording.stop", "dj-1")]
    await fan.close()


async def test_second_start_while_running_is_409_with_the_state(hub, livekit, event):
    """Pressing record again: 409 naming the running recording; LiveKit is asked once.
    Stopping twice asks once too; after the stop a new recording may start."""
    org, ev = event
    dj = await staff_token(hub, org, "dj-1", "dj")
    first = (await call(hub, "POST", ev, bearer=dj)).json()
    again = await call(hub, "POST", ev, bearer=dj, json={"layout": "speaker"})
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == "a recording is already running"
    assert again.json()["extra"]["egress_id"] == first["egress_id"]
    assert len(livekit.egress_calls("StartRoomCompositeEgress")) == 1
    assert (await call(hub, "DELETE", ev, bearer=dj)).json()["status"] == "stopping"
    assert (await call(hub, "DELETE", ev, bearer=dj)).json()["status"] == "stopping"
    assert len(livekit.egress_calls("StopEgress")) == 1
    await webhook(hub, livekit, egress_webhook_body(
        "egress_ended", f"event-{ev}", first["egress_id"], "EGRESS_COMPLETE"))
    nothing = await call(hub, "DELETE", ev, bearer=dj)
    assert nothing.status_code == 409 and nothing.json()["extra"]["status"] == "stopped"
    assert (await call(hub, "POST", ev, bearer=dj)).status_code == 201


async def test_two_djs_pressing_record_together_start_one_egress(hub, livekit, event,
                                                                 owner_conn):
    """Concurrent starts (LiveKit slow to answer): one 201, the rest 409, one egress."""
    org, ev = event
    livekit.egress_delay = 0.5
    djs = [await staff_token(hub, org, f"dj-{k}", "dj") for k in range(2)]
    admin = await staff_token(hub, org, "boss", "admin")
    answers = await asyncio.gather(*(call(hub, "POST", ev, bearer=b) for b in [*djs, admin]))
    assert sorted(a.status_code for a in answers) == [201, 409, 409]
    assert len(livekit.egress_calls("StartRoomCompositeEgress")) == 1
    stored = await rows(owner_conn, ev)
    assert len(stored) == 1 and stored[0]["egress_id"] in livekit.egresses


async def test_who_may_record(hub_factory, livekit, event, owner_conn):
    """A viewer (or a DJ whose membership is gone) 403; another org's DJ 404; a bad id 404;
    a scheduled event 409; a bad body 400/422; streaming not configured 503. Nothing is
    recorded or asked of LiveKit."""
    org, ev = event
    hub = hub_factory(db=True, **livekit.env())
    fan = token(org, sub="fan-1")
    ghost = token(org, sub="no-member", roles=("dj",))
    for method in ("POST", "GET", "DELETE"):
        for bearer in (fan, ghost):
            assert (await call(hub, method, ev, bearer=bearer)).status_code == 403, method
    other = await staff_token(hub, uuid.uuid4(), "dj-x", "dj")
    for method in ("POST", "GET", "DELETE"):
        resp = await call(hub, method, ev, bearer=other)
        assert resp.status_code == 404 and resp.json()["detail"] == (
            "no such event in your organization")
    assert (await call(hub, "POST", uuid.uuid4(), api_key=True)).status_code == 404
    assert (await call(hub, "POST", ev)).status_code == 401
    dj = await staff_token(hub, org, "dj-1", "dj")
    for content, status in (("not json", 400), ('{"layout": "<script>"}', 422),
                            ('{"layout": "grid", "bucket": "x"}', 422), ("[]", 422)):
        resp = await call(hub, "POST", ev, bearer=dj, content=content)
        assert resp.status_code == status, (content, resp.text)
        assert "<script>" not in resp.text
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    resp = await call(hub, "POST", ev, bearer=dj)
    assert resp.status_code == 409 and "not live" in resp.json()["detail"]
    assert livekit.egress_calls("StartRoomCompositeEgress") == [] and livekit.refused == []
    assert await rows(owner_conn, ev) == []
    bare = hub_factory(db=True)
    resp = await call(bare, "POST", ev, bearer=dj)
    assert resp.status_code == 503 and resp.json()["detail"] == "streaming not configured"
    assert (await call(hub, "GET", ev, bearer=dj)).json() == {
        "status": "idle", "egress_id": None, "layout": None, "started_by": None,
        "started_at": None, "ended_at": None, "error": None, "file": None}


async def test_livekit_refusing_is_502_and_the_recording_failed(hub, livekit, event,
                                                                owner_conn):
    """LiveKit answers an error: 502 with our reason (no LiveKit text), the recording is
    failed (broadcast), nothing is left running, and a later start works."""
    org, ev = event
    fan = await watch(hub, org, ev)
    livekit.egress_error = (500, "internal", "egress at 10.1.2.3:7880 is on fire")
    resp = await call(hub, "POST", ev, api_key=True)
    assert resp.status_code == 502 and resp.json()["detail"] == (
        "video service refused the request")
    assert "10.1.2.3" not in resp.text
    assert (await fan.next_event("recording"))["status"] == "starting"
    failed = await fan.next_event("recording")
    assert failed["status"] == "failed" and "error" not in failed
    assert (await call(hub, "GET", ev, api_key=True)).json()["error"] == (
        "the video service refused the recording")
    assert [r["status"] for r in await rows(owner_conn, ev)] == ["failed"]
    livekit.egress_error = None
    again = await call(hub, "POST", ev, api_key=True)
    assert again.status_code == 201 and again.json()["started_by"] == "server"
    # Stopping while LiveKit errors: 502, and the recording is running again (retry works).
    livekit.egress_error = (503, "unavailable", "busy")
    assert (await call(hub, "DELETE", ev, api_key=True)).status_code == 502
    assert (await call(hub, "GET", ev, api_key=True)).json()["status"] == "starting"
    await fan.close()


async def test_egress_ended_with_an_error_is_failed(hub, livekit, event):
    """egress_ended naming an error: failed, broadcast once (the redelivery is a
    duplicate) with status and times only: LiveKit's reason is for the DJs' GET."""
    org, ev = event
    dj = await staff_token(hub, org, "dj-1", "dj")
    egress_id = (await call(hub, "POST", ev, bearer=dj)).json()["egress_id"]
    fan = await watch(hub, org, ev)
    reason = "Start signal not received <img src=x onerror=alert(1)>"
    ended = egress_webhook_body("egress_ended", f"event-{ev}", egress_id, "EGRESS_COMPLETE",
                                error=reason)
    assert (await webhook(hub, livekit, ended)).json() == {"outcome": "applied"}
    failed = await fan.next_event("recording")
    assert failed == {"type": "recording", "status": "failed",
                      "started_at": failed["started_at"], "ended_at": failed["ended_at"]}
    assert "Start signal" not in json.dumps(failed)
    assert (await webhook(hub, livekit, ended)).json() == {"outcome": "duplicate"}
    # An egress the hub never started changes nothing.
    stray = egress_webhook_body("egress_started", f"event-{ev}", "EG_stranger",
                                "EGRESS_ACTIVE")
    assert (await webhook(hub, livekit, stray)).status_code == 200
    state = (await call(hub, "GET", ev, bearer=dj)).json()
    assert (state["status"], state["egress_id"], state["error"]) == ("failed", egress_id,
                                                                     reason)
    with pytest.raises(TimeoutError):
        await fan.next_event("recording", timeout=1)
    await fan.close()
