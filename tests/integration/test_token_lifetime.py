"""Tokens stop authorizing at `exp` unless refreshed in-band, and may not live too long."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from hub.auth import mint_token
from tests.support.client import Client, token
from tests.support.hubproc import SECRET, HubProcess
from tests.support.members import staff_token


@pytest.fixture
def hub(hub_factory) -> HubProcess:
    return hub_factory(HUB_MAX_TOKEN_TTL="3600")


async def close_code(client: Client, within: float) -> tuple[int, float]:
    """Read until the server closes; the close code and when it came (time.time())."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(client.ws.recv(), within)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, time.time()


async def refresh(client: Client, tok: str, request_id: int = 1) -> dict[str, Any]:
    await client.send({"type": "refresh", "token": tok, "id": request_id})
    return await client.recv()


async def assert_open(client: Client) -> None:
    await client.send({"type": "ping", "id": 99})
    assert await client.recv("pong") == {"type": "pong", "id": 99}


async def test_connection_closes_with_4002_at_exp(hub, org):
    """Without a refresh, the hub closes the connection with 4002 when `exp` passes."""
    tok = token(org, ttl=2)
    exp = jwt.decode(tok, options={"verify_signature": False})["exp"]
    client = await Client.open(hub.ws_url, tok)
    await client.subscribe(f"org:{org}")
    code, at = await close_code(client, within=10)
    assert code == 4002
    assert exp - 0.05 <= at <= exp + 1.5, at - exp


async def test_refresh_keeps_the_connection_past_the_old_exp(hub, org):
    """A refresh with a new token for the same sub and org moves `exp`; the socket stays up."""
    old = token(org, sub="fan-1", ttl=2)
    old_exp = jwt.decode(old, options={"verify_signature": False})["exp"]
    client = await Client.open(hub.ws_url, old)
    room = f"org:{org}"
    await client.subscribe(room)
    new = token(org, sub="fan-1", ttl=60)
    answer = await refresh(client, new)
    assert answer == {"type": "refreshed", "id": 1, "roles": ["viewer"],
                      "exp": jwt.decode(new, options={"verify_signature": False})["exp"]}
    while time.time() < old_exp + 2:  # well past the old exp and a sweep or two
        await assert_open(client)
        await asyncio.sleep(0.2)
    await assert_open(client)
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj", "dj"))
    await dj.publish(room, {"still": "here"})
    assert (await client.recv("message"))["data"] == {"still": "here"}
    await dj.close()
    await client.close()


@pytest.mark.parametrize("case", ["other sub", "other org", "forged", "expired", "year 3000",
                                  "garbage"])
async def test_bad_refresh_is_refused_and_changes_nothing(hub, org, case):
    """A refresh for another sub/org, forged, expired or too long-lived gets 4410; the old
    token still applies, so the connection still closes at the old exp."""
    old = token(org, sub="fan-1", roles=("dj",), ttl=3)
    old_exp = jwt.decode(old, options={"verify_signature": False})["exp"]
    bad = {
        "other sub": token(org, sub="fan-2", roles=("dj",), ttl=60),
        "other org": token(uuid.uuid4(), sub="fan-1", roles=("dj",), ttl=60),
        "forged": mint_token("not-the-secret-" * 4, sub="fan-1", org=org, roles=["admin"],
                             ttl=60),
        "expired": token(org, sub="fan-1", ttl=-60),
        "year 3000": jwt.encode({"sub": "fan-1", "org": str(org), "roles": ["dj"],
                                 "exp": 32503680000}, SECRET, algorithm="HS256"),
        "garbage": "<script>alert(1)</script>" * 40,
    }[case]
    client = await Client.open(hub.ws_url, old)
    answer = await refresh(client, bad, request_id=5)
    assert answer["type"] == "error" and answer["code"] == 4410 and answer["id"] == 5
    assert "<script>" not in answer["reason"] and len(answer["reason"]) < 100
    room = f"org:{org}"
    await client.subscribe(room)
    await client.publish(room, {"roles": "unchanged"})  # still the old token's dj
    code, at = await close_code(client, within=10)
    assert code == 4002 and at <= old_exp + 1.5


async def test_token_living_past_max_ttl_is_refused(hub, org):
    """A token whose exp is in the year 3000 is refused with 4001, with or without iat."""
    now = int(time.time())
    for claims in ({"iat": now, "exp": 32503680000}, {"exp": 32503680000},
                   {"iat": now + 3000, "exp": now + 3700}):  # iat in the future: no stretch
        tok = jwt.encode({"sub": "u", "org": str(org), "roles": ["viewer"], **claims},
                         SECRET, algorithm="HS256")
        with pytest.raises(ConnectionClosed) as closed:
            opened = await Client.open(hub.ws_url, tok)
            await asyncio.wait_for(opened.ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001, claims
    ok = await Client.open(hub.ws_url, token(org, ttl=3600))
    await assert_open(ok)
    await ok.close()
