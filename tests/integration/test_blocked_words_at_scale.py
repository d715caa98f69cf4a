"""Blocked words at scale: capped lists, compiled once per change, applied on every node."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.support.client import Client, api_call, token
from tests.support.members import add_member


async def answer(client: Client) -> dict[str, Any]:
    while True:
        frame = await client.recv()
        if frame["type"] in {"chat_sent", "error"}:
            return frame


async def chat(client: Client, room: str, text: str) -> dict[str, Any]:
    await client.send({"type": "chat", "room": room, "text": text})
    return await answer(client)


async def compiles(http_url: str) -> float:
    """The node's livehub_blocked_words_compiles_total, from its /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{http_url}/metrics")).text
    found = re.search(r"^livehub_blocked_words_compiles_total (\S+)$", text, re.MULTILINE)
    assert found is not None, "compile counter missing from /metrics"
    return float(found.group(1))


def full_list(tag: str) -> list[str]:
    """1,000 words of 64 characters: the largest list allowed."""
    return [f"{tag}{n:04d}".ljust(64, "z") for n in range(1000)]


async def test_list_is_compiled_once_per_change_and_applies_on_every_node(
        hub_factory, event):
    """Set on node A, 12 messages on node B compile once; a change is in force at once."""
    org, ev = event
    room = f"event:{ev}"
    node_a = hub_factory(db=True)
    node_b = hub_factory(db=True, HUB_CHAT_USER_BURST="100")
    fan = await Client.open(node_b.ws_url, token(org, sub="fan"))
    before = await compiles(node_b.url)
    old = full_list("old")  # ~68 KB of JSON: over a websocket frame, so over HTTP
    assert (await api_call(node_a.url, room, "moderation.blocked_words",
                           {"words": old})).status_code == 200
    for n in range(12):
        assert (await chat(fan, room, f"clean line {n}"))["type"] == "chat_sent"
    refused = await chat(fan, room, f"say {old[999].upper()} now")
    assert refused["code"] == 4422 and refused["reason"] == "message contains a blocked word"
    assert await compiles(node_b.url) - before == 1
    new = full_list("new")
    assert (await api_call(node_a.url, room, "moderation.blocked_words",
                           {"words": new, "action": "hold"})).status_code == 200
    # The very next message on node B sees the new list: no cache window.
    assert (await chat(fan, room, f"say {old[999]} now"))["status"] == "visible"
    assert (await chat(fan, room, f"say {new[0]} now"))["status"] == "held"
    assert await compiles(node_b.url) - before == 2
    await fan.close()


async def test_over_the_cap_is_refused_and_keeps_the_list(hub_factory, event, owner_dsn):
    """1,001 words, a 65-character word or a NUL: 4422 with a reason; the old list stays."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True, HUB_CHAT_USER_BURST="100")
    await add_member(owner_dsn, org, "boss", "admin")
    admin = await Client.open(hub.ws_url, token(org, sub="boss", roles=("admin",)))
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    await admin.call(room, "moderation.blocked_words", {"words": ["spam"]})
    for words, reason in (([f"w{n}" for n in range(1001)], "at most 1000 blocked words"),
                          (["x" * 65], "at most 64 characters"),
                          (["nul\x00"], "control characters")):
        err = await admin.call(room, "moderation.blocked_words", {"words": words},
                               expect_error=True)
        assert err["code"] == 4422 and reason in err["reason"], err
    assert (await chat(fan, room, "SPAM!"))["code"] == 4422
    assert (await chat(fan, room, "w5 and xxx"))["type"] == "chat_sent"
    await asyncio.gather(admin.close(), fan.close())
