"""Bad input gets its documented code, and the hub keeps serving everyone else."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess


@pytest.fixture
def hub(hub_factory) -> HubProcess:
    return hub_factory(HUB_MAX_FRAME_BYTES="4096", HUB_MAX_PUBLISH_BYTES="1024")


@pytest.fixture
async def bystander(hub, org):
    """A healthy subscriber whose service must not be disturbed by anyone's bad input."""
    client = await Client.open(hub.ws_url, token(org, sub="bystander"))
    await client.subscribe(f"org:{org}")
    yield client
    await client.close()


async def still_served(hub: HubProcess, org: uuid.UUID, bystander: Client) -> None:
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    marker = uuid.uuid4().hex
    await dj.publish(f"org:{org}", {"marker": marker})
    assert (await bystander.recv("message"))["data"] == {"marker": marker}
    await dj.close()


async def closed_with(client_coro) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        client = await client_coro
        await asyncio.wait_for(client.ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", 4400),
        ("[1, 2]", 4400),
        ('{"type": "teleport", "room": "x"}', 4401),
        ('{"room": "x"}', 4401),
        ('{"type": "subscribe", "room": 42}', 4402),
        ('{"type": "subscribe", "room": "lobby"}', 4404),
        ('{"type": "subscribe", "room": "event:not-a-uuid"}', 4404),
        ('{"type": "history", "room": "org:00000000-0000-0000-0000-000000000000"}', 4405),
    ],
)
async def test_bad_frames_get_error_codes_and_connection_stays(hub, org, bystander, raw, code):
    """Malformed, unknown and invalid frames get an error frame; the connection stays open."""
    client = await Client.open(hub.ws_url, token(org))
    await client.ws.send(raw)
    err = await client.recv("error")
    assert err["code"] == code and err["reason"]
    await client.send({"type": "ping", "id": 1})
    assert await client.recv("pong") == {"type": "pong", "id": 1}
    await client.close()
    await still_served(hub, org, bystander)


async def test_binary_frame_is_refused(hub, org, bystander):
    """Binary frames are not part of protocol v1: error 4400."""
    client = await Client.open(hub.ws_url, token(org))
    await client.ws.send(b"\x00\x01")
    assert (await client.recv("error"))["code"] == 4400
    await client.close()
    await still_served(hub, org, bystander)


async def test_oversized_frame_closes_with_1009(hub, org, bystander):
    """A frame over HUB_MAX_FRAME_BYTES closes that connection with 1009."""
    client = await Client.open(hub.ws_url, token(org), max_size=None)
    await client.ws.send(json.dumps({"type": "ping", "pad": "x" * 10_000}))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(client.ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    await still_served(hub, org, bystander)


async def test_oversized_publish_is_refused(hub, org, bystander):
    """Publish data over HUB_MAX_PUBLISH_BYTES gets 4413 and nothing is published."""
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    await dj.send({"type": "publish", "room": f"org:{org}", "data": "y" * 2000})
    assert (await dj.recv("error"))["code"] == 4413
    await dj.close()
    await still_served(hub, org, bystander)


async def test_other_orgs_room_is_forbidden(hub, org, bystander):
    """Subscribing or publishing to another org's room gets 4403."""
    other = uuid.uuid4()
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    await dj.send({"type": "subscribe", "room": f"org:{other}"})
    assert (await dj.recv("error"))["code"] == 4403
    await dj.send({"type": "publish", "room": f"org:{other}", "data": 1})
    assert (await dj.recv("error"))["code"] == 4403
    await dj.close()
    await still_served(hub, org, bystander)


async def test_viewer_cannot_publish_raw_messages(hub, org, bystander):
    """The permission matrix: viewers may not publish raw data (4403)."""
    fan = await Client.open(hub.ws_url, token(org))
    await fan.send({"type": "publish", "room": f"org:{org}", "data": {"fake": "tip"}})
    assert (await fan.recv("error"))["code"] == 4403
    await fan.close()
    await still_served(hub, org, bystander)


async def test_forged_token_closes_with_4001(hub, org, bystander):
    """A token signed with another key is refused with 4001."""
    forged = jwt.encode({"sub": "x", "org": str(org), "roles": ["admin"],
                         "exp": int(time.time()) + 60}, "not-the-secret-" * 3, algorithm="HS256")
    assert await closed_with(Client.open(hub.ws_url, forged)) == 4001
    await still_served(hub, org, bystander)


async def test_alg_none_token_closes_with_4001(hub, org, bystander):
    """An unsigned alg=none token is refused with 4001."""
    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    unsigned = (b64({"alg": "none", "typ": "JWT"}) + "."
                + b64({"sub": "x", "org": str(org), "roles": ["admin"],
                       "exp": int(time.time()) + 60}) + ".")
    assert await closed_with(Client.open(hub.ws_url, unsigned)) == 4001
    await still_served(hub, org, bystander)


async def test_missing_token_closes_with_4001(hub, org, bystander):
    """No token at all is refused with 4001."""
    assert await closed_with(Client.open(hub.ws_url, "")) == 4001
    await still_served(hub, org, bystander)


async def test_expired_token_closes_with_4002(hub, org, bystander):
    """An expired token is refused with 4002, so the client knows to refresh it."""
    assert await closed_with(Client.open(hub.ws_url, token(org, ttl=-60))) == 4002
    await still_served(hub, org, bystander)


async def test_http_publish_requires_api_key_and_valid_input(hub, org, bystander):
    """The server publish API: 401 without key, 400 for bad rooms or bodies, 200 otherwise."""
    async with httpx.AsyncClient(base_url=hub.url) as http:
        room = f"org:{org}"
        assert (await http.post(f"/api/rooms/{room}/publish", content=b"{}")).status_code == 401
        bad_key = {"X-API-Key": "nope"}
        resp = await http.post(f"/api/rooms/{room}/publish", content=b"{}", headers=bad_key)
        assert resp.status_code == 401
        key = {"X-API-Key": API_KEY}
        assert (await http.post("/api/rooms/lobby/publish", content=b"{}",
                                headers=key)).status_code == 400
        assert (await http.post(f"/api/rooms/event:{uuid.uuid4()}/publish", content=b"{}",
                                headers=key)).status_code == 400
        assert (await http.post(f"/api/rooms/{room}/publish", content=b"{oops",
                                headers=key)).status_code == 400
        ok = await http.post(f"/api/rooms/{room}/publish", content=b'{"tip": 500}', headers=key)
        assert ok.status_code == 200 and ok.json()["offset"] >= 1
    assert (await bystander.recv("message"))["data"] == {"tip": 500}
    await still_served(hub, org, bystander)


async def test_health_ready_metrics_and_openapi(hub, org, bystander):
    """Operational endpoints answer, metrics count traffic, the API is in OpenAPI."""
    await still_served(hub, org, bystander)
    async with httpx.AsyncClient(base_url=hub.url) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/ready")).status_code == 200
        metrics = (await http.get("/metrics")).text
        for name in ("hub_connections", "hub_subscriptions", "hub_messages_in_total",
                     "hub_messages_out_total", "hub_slow_consumers_total",
                     "hub_broker_publish_seconds_bucket"):
            assert name in metrics
        out = next(line for line in metrics.splitlines()
                   if line.startswith("hub_messages_out_total "))
        assert float(out.split()[1]) >= 1
        schema = (await http.get("/schema/openapi.json")).json()
        assert "/api/rooms/{room}/publish" in schema["paths"]
        assert "apiKey" in schema["components"]["securitySchemes"]
