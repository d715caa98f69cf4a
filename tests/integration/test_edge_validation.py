"""Bad input is refused at the edge with 4400/4401/4402, short reasons of our own and its id."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import staff_token

INT64_MAX = 2**63 - 1


@pytest.fixture
def hub(hub_factory) -> HubProcess:
    return hub_factory(db=True)


async def answer(client: Client, raw: str) -> dict[str, Any]:
    """Send one raw frame and return the hub's error for it; the connection must stay open."""
    await client.ws.send(raw)
    err = await client.recv("error")
    await client.send({"type": "ping", "id": 77})
    assert await client.recv("pong") == {"type": "pong", "id": 77}
    return err


async def test_chat_text_with_nul_is_an_invalid_field(hub, event, owner_conn):
    """NUL in chat text or client_msg_id is 4402 (it reached Postgres and came back 4500)."""
    org, ev = event
    fan = await Client.open(hub.ws_url, token(org))
    room = f"event:{ev}"
    for frame in ({"type": "chat", "room": room, "text": "hi\x00there", "id": 3},
                  {"type": "chat", "room": room, "text": "hi", "client_msg_id": "a\x00b",
                   "id": 3}):
        err = await answer(fan, json.dumps(frame))
        assert (err["code"], err["id"]) == (4402, 3), err
    assert await owner_conn.fetchval("SELECT count(*) FROM chat_messages WHERE room = $1",
                                     room) == 0
    await fan.close()


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "chat_history", "before": 2**63}, "before"),
    ({"type": "chat_history", "before": -1}, "before"),
    ({"type": "chat_history", "limit": 2**64}, "limit"),
    ({"type": "chat_history", "limit": 0}, "limit"),
    ({"type": "history", "since": 2**63}, "since"),
    ({"type": "history", "since": -5}, "since"),
    ({"type": "subscribe", "recover": {"epoch": "e", "offset": 2**63}}, "recover.offset"),
    ({"type": "subscribe", "recover": {"epoch": "e", "offset": -1}}, "recover.offset"),
    ({"type": "ping", "id": 2**63}, "id"),
    ({"type": "ping", "id": 10**400}, "id"),
])
async def test_out_of_range_integers_are_invalid_fields(hub, event, fields, field):
    """Integers past int64 or below their minimum are 4402 naming the field, never 4500."""
    org, ev = event
    fan = await Client.open(hub.ws_url, token(org))
    room = f"event:{ev}"
    await fan.subscribe(room)
    frame = {"room": room, "id": 4, **fields}
    err = await answer(fan, json.dumps(frame))
    assert err["code"] == 4402 and err["reason"] == f"invalid field `{field}`", err
    if field != "id":
        assert err["id"] == 4
    await fan.close()


async def test_deeply_nested_data_is_refused_and_connection_stays(hub, event):
    """data or params nested 1,000 deep get 4400 (it killed the connection with RecursionError)."""
    org, ev = event
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj", "dj"))
    room = f"event:{ev}"
    deep = "[" * 1000 + "]" * 1000
    for raw in (f'{{"type":"publish","room":"{room}","data":{deep},"id":6}}',
                f'{{"type":"call","room":"{room}","method":"requests.mine","params":{deep}}}',
                "[" * 50_000):
        err = await answer(dj, raw)
        assert err["code"] == 4400 and len(err["reason"]) < 80, err
    ok = "[" * 20 + "1" + "]" * 20  # ordinary nesting is fine
    await dj.ws.send(f'{{"type":"publish","room":"{room}","data":{ok},"id":7}}')
    assert (await dj.recv("published"))["id"] == 7
    await dj.close()


@pytest.mark.parametrize(("raw", "code"), [
    ('{"type": "teleport", "id": 41}', 4401),
    ('{"id": 41}', 4401),
    ('{"type": "subscribe", "id": 41}', 4402),
    ('{"type": "subscribe", "room": 5, "id": 41}', 4402),
    ('{"type": "history", "room": "x", "since": "soon", "id": 41}', 4402),
])
async def test_decode_errors_echo_the_request_id(hub, event, raw, code):
    """An unknown type or invalid field still answers with the frame's integer id."""
    org, _ = event
    fan = await Client.open(hub.ws_url, token(org))
    err = await answer(fan, raw)
    assert (err["code"], err["id"]) == (code, 41), err
    await fan.close()


async def test_error_reasons_never_echo_client_strings(hub, event):
    """A 10 KB room name or type is not echoed back; reasons stay short and our own."""
    org, _ = event
    fan = await Client.open(hub.ws_url, token(org))
    huge = "<script>alert(1)</script>" + "x" * 10_000
    for frame in ({"type": "subscribe", "room": huge, "id": 1},
                  {"type": "subscribe", "room": f"event:{huge}", "id": 1},
                  {"type": huge, "id": 1},
                  {"type": "chat_history", "room": huge, "id": 1}):
        err = await answer(fan, json.dumps(frame))
        assert err["id"] == 1 and len(err["reason"]) < 80 and "script" not in err["reason"], err
    await fan.close()


async def close_reason(hub: HubProcess, tok: str) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        client = await Client.open(hub.ws_url, tok)
        await asyncio.wait_for(client.ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_token_refusals_give_our_own_reasons(hub, event):
    """4001/4002 close reasons are ours, not pyjwt's messages."""
    org, _ = event
    forged = jwt.encode({"sub": "x", "org": str(org), "roles": ["admin"],
                         "exp": int(time.time()) + 60}, "not-the-secret-" * 3, algorithm="HS256")
    assert await close_reason(hub, forged) == (4001, "invalid token")
    assert await close_reason(hub, "not.a.jwt") == (4001, "invalid token")
    assert await close_reason(hub, token(org, ttl=-60)) == (4002, "token expired")


async def test_http_api_does_not_echo_room_names(hub):
    """The server API answers a malformed 10 KB room name with a short reason of its own."""
    huge = "<script>" + "x" * 10_000
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        for method, path in (("POST", f"/api/rooms/{huge}/publish"),
                             ("GET", f"/api/rooms/{huge}/presence"),
                             ("POST", f"/api/rooms/{huge}/call/requests.mine")):
            answer = await http.request(method, path, content=b"{}")
            assert answer.status_code == 400 and len(answer.text) < 300, answer.text[:300]
            assert "script" not in answer.text
