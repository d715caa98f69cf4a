"""Raw publishes cannot forge the room events that room services own."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from hub.service_events import reserved_types
from integrations.livekit_wire import EventStatus, Recording, Viewers
from rooms.services import SERVICES
from rooms.services import chat_wire as chat_events
from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import staff_token

XSS = "<img src=x onerror=alert(document.cookie)>"

# Every shape of a forged `requests` event a browser would read as type "requests".
FORGERIES = [
    json.dumps({"type": "requests", "op": "added", "version": 1,
                "request": {"id": XSS, "votes": XSS}}),
    '{"typ\\u0065": "requests", "id": "' + XSS + '"}',  # escaped key
    '{"type": "song", "type": "requests", "votes": "' + XSS + '"}',  # last duplicate wins
    json.dumps({"type": "tips.alert_show", "amount": XSS}),
    json.dumps({"type": "tips.something_new", "amount": XSS}),  # the tips namespace
    json.dumps({"type": "chat", "message_id": "m", "user": "admin", "text": XSS, "time": 1}),
    json.dumps({"type": "recording", "status": "failed", "egress_id": None,
                "started_at": 1, "ended_at": 2, "error": XSS}),
]


def test_reserved_types_are_every_service_event_in_the_code():
    """The reserved set is collected from the code: chat, service and LiveKit events."""
    expected = {str(e.__struct_config__.tag) for s in SERVICES for e in s.events}
    expected |= {str(c.__struct_config__.tag) for c in vars(chat_events).values()
                 if isinstance(c, type) and getattr(c, "__struct_config__", None)
                 and c.__struct_config__.tag}
    expected |= {str(EventStatus.__struct_config__.tag), str(Viewers.__struct_config__.tag),
                 str(Recording.__struct_config__.tag)}
    assert {"chat", "chat_removed", "requests", "karaoke", "tips.alert_show",
            "recording"} <= expected
    assert expected <= reserved_types()


@pytest.fixture
def hub(hub_factory) -> HubProcess:
    return hub_factory()


@pytest.mark.parametrize("raw", FORGERIES)
async def test_websocket_publish_of_a_service_event_is_refused(hub, org, raw):
    """A performer publishing data typed as a service event gets 4403; nothing reaches the room."""
    room = f"org:{org}"
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj", "dj"))
    await dj.ws.send(f'{{"type": "publish", "room": "{room}", "data": {raw}, "id": 5}}')
    err = await dj.recv("error")
    assert err["code"] == 4403 and err["id"] == 5 and "reserved" in err["reason"]
    assert XSS not in err["reason"]
    marker = uuid.uuid4().hex  # an ordinary publish still works, and arrives first
    await dj.publish(room, {"type": "song", "title": marker})
    assert (await watcher.recv("message"))["data"] == {"type": "song", "title": marker}
    await dj.close()
    await watcher.close()


@pytest.mark.parametrize("raw", FORGERIES)
async def test_http_publish_of_a_service_event_is_refused(hub, org, raw):
    """The server publish API refuses service event types with 400 and publishes nothing."""
    room = f"org:{org}"
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        refused = await http.post(f"/api/rooms/{room}/publish", content=raw.encode())
        assert refused.status_code == 400 and "reserved" in refused.text
        ok = await http.post(f"/api/rooms/{room}/publish", content=b'{"type":"song"}')
        assert ok.status_code == 200
    assert (await watcher.recv("message"))["data"] == {"type": "song"}
    await watcher.close()


async def test_http_publish_too_deep_is_refused(hub, org):
    """A body nested past HUB_MAX_JSON_DEPTH gets 400, not a server error."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        deep = await http.post(f"/api/rooms/org:{org}/publish",
                               content=b"[" * 1000 + b"]" * 1000)
        assert deep.status_code == 400
