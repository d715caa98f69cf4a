"""Chat rules cached per node: changes reach every node, retries are never refused."""

from __future__ import annotations

import asyncpg

from tests.support.client import Client, token
from tests.support.members import add_member


async def chat(client: Client, room: str, text: str, cid: str | None = None) -> dict:
    frame: dict = {"type": "chat", "room": room, "text": text}
    if cid is not None:
        frame["client_msg_id"] = cid
    await client.send(frame)
    while True:
        got = await client.recv()
        if got["type"] in {"chat_sent", "error"}:
            return got


async def test_slow_mode_set_on_one_node_applies_on_the_other(hub_factory, event, owner_dsn):
    """Node B cached 'no slow mode'; the moderator's change on A reaches B's cache."""
    org, ev = event
    await add_member(owner_dsn, org, "mod", "moderator")
    room = f"event:{ev}"
    node_a, node_b = hub_factory(db=True), hub_factory(db=True)
    fan = await Client.open(node_b.ws_url, token(org, sub="fan"))
    mod = await Client.open(node_a.ws_url, token(org, sub="mod", roles=("moderator",)))
    await fan.subscribe(room)
    assert (await chat(fan, room, "one"))["type"] == "chat_sent"  # B caches slow mode 0
    assert (await chat(fan, room, "two"))["type"] == "chat_sent"
    await mod.call(room, "moderation.slow_mode", {"seconds": 60})
    # The notice to B's cache is published before this room event, on the same broker.
    assert (await fan.next_event("chat_settings"))["slow_mode_seconds"] == 60
    limited = await chat(fan, room, "three")
    assert limited["type"] == "error" and limited["code"] == 4429
    await fan.close()
    await mod.close()


async def test_blocked_words_set_on_one_node_apply_on_the_other(hub_factory, event, owner_dsn):
    org, ev = event
    await add_member(owner_dsn, org, "boss", "admin")
    room = f"event:{ev}"
    node_a, node_b = hub_factory(db=True), hub_factory(db=True)
    fan = await Client.open(node_b.ws_url, token(org, sub="fan"))
    admin = await Client.open(node_a.ws_url, token(org, sub="boss", roles=("admin",)))
    assert (await chat(fan, room, "spam spam"))["type"] == "chat_sent"  # B caches no list
    await admin.call(room, "moderation.blocked_words", {"words": ["spam"], "action": "reject"})
    for _ in range(50):  # the notice is a broker hop behind the call's answer
        got = await chat(fan, room, "more spam")
        if got["type"] == "error":
            break
    assert got["code"] == 4422 and "blocked" in got["reason"]
    await fan.close()
    await admin.close()


async def test_retries_get_the_original_ack_even_when_the_rules_would_refuse(
        hub_factory, event, owner_dsn, owner_conn: asyncpg.Connection):
    """Over the burst, and after a ban, a retry still gets its original message_id."""
    org, ev = event
    await add_member(owner_dsn, org, "mod", "moderator")
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    mod = await Client.open(hub.ws_url, token(org, sub="mod", roles=("moderator",)))
    first = [await chat(fan, room, f"m{i}", f"c{i}") for i in range(2)]
    assert all(f["type"] == "chat_sent" for f in first)
    await mod.call(room, "moderation.ban", {"user": "fan", "minutes": 5})
    retried = await chat(fan, room, "m1", "c1")
    assert retried["type"] == "chat_sent" and retried["message_id"] == first[1]["message_id"]
    new = await chat(fan, room, "m9", "c9")
    assert new["type"] == "error" and new["code"] == 4422 and "banned" in new["reason"]
    await mod.call(room, "moderation.lift", {"user": "fan"})
    first += [await chat(fan, room, f"m{i}", f"c{i}") for i in range(2, 5)]
    assert all(f["type"] == "chat_sent" for f in first)  # the refused one cost no budget
    assert (await chat(fan, room, "m5", "c5"))["code"] == 4429  # burst spent
    again = await chat(fan, room, "m0", "c0")
    assert again["type"] == "chat_sent" and again["message_id"] == first[0]["message_id"]
    n = await owner_conn.fetchval("SELECT count(*) FROM chat_messages WHERE room = $1", room)
    assert n == 5
    await fan.close()
    await mod.close()
