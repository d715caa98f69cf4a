"""Chat retries are per author, answered with the original ack, and broadcast once:
never again, unless the room never got the first (a commit whose answer was lost).

The invariant under test: nothing is acknowledged or broadcast that is not stored.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from tests.support.client import Client, token
from tests.support.members import add_member


async def answer(client: Client) -> dict[str, Any]:
    """The next chat_sent or error frame (room traffic in between is skipped)."""
    while True:
        frame = await client.recv()
        if frame["type"] in {"chat_sent", "error"}:
            return frame


async def chat(client: Client, room: str, text: str, cid: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "chat", "room": room, "text": text}
    if cid is not None:
        frame["client_msg_id"] = cid
    await client.send(frame)
    return await answer(client)


async def chats_until(watcher: Client, sentinel: str) -> list[dict[str, Any]]:
    """Every chat event the watcher gets up to and including the one with text sentinel."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["text"] != sentinel:
        seen.append(await watcher.next_event("chat"))
    return seen


async def stored(owner: asyncpg.Connection, room: str) -> list[asyncpg.Record]:
    return await owner.fetch(
        "SELECT id::text, author, client_msg_id, body, status FROM chat_messages"
        " WHERE room = $1 ORDER BY chat_messages.id", room)


async def test_two_authors_may_use_the_same_client_msg_id(hub_factory, event, owner_conn):
    """fan-2 reusing fan-1's client_msg_id: both stored, both broadcast once, distinct ids."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    one = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    two = await Client.open(hub.ws_url, token(org, sub="fan-2"))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    first = await chat(one, room, "from one", "m1")
    second = await chat(two, room, "from two <script>alert(1)</script>", "m1")
    assert first["type"] == second["type"] == "chat_sent"
    assert first["message_id"] != second["message_id"]
    await chat(one, room, "end")
    seen = await chats_until(watcher, "end")
    assert [(m["message_id"], m["user"], m["text"]) for m in seen[:-1]] == [
        (first["message_id"], "fan-1", "from one"),
        (second["message_id"], "fan-2", "from two <script>alert(1)</script>")]
    rows = await stored(owner_conn, room)
    assert [(r["id"], r["author"], r["client_msg_id"]) for r in rows[:2]] == [
        (first["message_id"], "fan-1", "m1"), (second["message_id"], "fan-2", "m1")]
    await asyncio.gather(one.close(), two.close(), watcher.close())


async def test_retry_answers_the_original_ack_and_broadcasts_once(
        hub_factory, event, owner_conn, owner_dsn):
    """A fan's pipelined and later retries (and a DJ's) get one message_id, one row, one event."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    phone = await Client.open(hub.ws_url, token(org, sub="fan-1"))  # same user, 2nd socket
    await add_member(owner_dsn, org, "dj-1", "dj")
    dj = await Client.open(hub.ws_url, token(org, sub="dj-1", roles=("dj",)))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    frame = {"type": "chat", "room": room, "text": "hi", "client_msg_id": "r1"}
    for _ in range(3):  # pipelined: all sent before any answer
        await fan.send(frame)
    await phone.send({**frame, "text": "hi again (a retry with other text)"})
    acks = [await answer(fan) for _ in range(3)] + [await answer(phone)]
    acks.append(await chat(fan, room, "hi", "r1"))
    # Staff skip the room rules, so the write itself must spot the retry (also concurrent).
    dj_frame = {"type": "chat", "room": room, "text": "dj here", "client_msg_id": "d1"}
    await asyncio.gather(*(dj.send(dj_frame) for _ in range(3)))
    dj_acks = [await answer(dj) for _ in range(3)]
    assert {(a["type"], a["status"]) for a in acks + dj_acks} == {("chat_sent", "visible")}
    assert len({a["message_id"] for a in acks}) == 1
    assert len({a["message_id"] for a in dj_acks}) == 1
    await chat(fan, room, "end")
    seen = await chats_until(watcher, "end")
    # The two sockets race: either text may be the one stored, but only one is, and the
    # room is shown exactly what was stored.
    first = seen[0]["text"]
    assert first in ("hi", "hi again (a retry with other text)")
    assert [(m["message_id"], m["text"]) for m in seen[:-1]] == [
        (acks[0]["message_id"], first), (dj_acks[0]["message_id"], "dj here")]
    rows = await stored(owner_conn, room)
    assert [(r["id"], r["body"]) for r in rows] == [
        (acks[0]["message_id"], first), (dj_acks[0]["message_id"], "dj here"),
        (seen[-1]["message_id"], "end")]
    await asyncio.gather(fan.close(), phone.close(), dj.close(), watcher.close())


async def test_retry_of_a_commit_whose_answer_was_lost_is_broadcast_once(
        hub_factory, event, owner_conn):
    """The row is there but the room never saw it (Postgres died under the COMMIT, the
    sender got 4503): the retry is acked with that row and broadcast then, once."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    row_id = await owner_conn.fetchval(
        "INSERT INTO chat_messages (organization_id, event_id, room, body, status,"
        " client_msg_id, author, author_name) VALUES ($1, $2, $3, 'lost answer', 'visible',"
        " 'k1', 'fan-1', '') RETURNING id::text", org, ev, room)
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    for _ in range(2):  # the second retry finds the broadcast in the room's history
        retry = await chat(fan, room, "lost answer", "k1")
        assert (retry["type"], retry["message_id"]) == ("chat_sent", row_id), retry
    await chat(fan, room, "end")
    seen = await chats_until(watcher, "end")
    assert [(m["message_id"], m["text"]) for m in seen[:-1]] == [(row_id, "lost answer")]
    assert len(await stored(owner_conn, room)) == 2
    await asyncio.gather(fan.close(), watcher.close())


async def test_retry_of_a_deleted_message_is_not_broadcast_again(
        hub_factory, event, owner_conn, owner_dsn):
    """After a moderator deletes it, a retry gets the original id as removed; no event."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    await add_member(owner_dsn, org, "mod-1", "moderator")
    mod = await Client.open(hub.ws_url, token(org, sub="mod-1", roles=("moderator",)))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    sent = await chat(fan, room, "rude", "x1")
    await mod.call(room, "moderation.delete", {"message_id": sent["message_id"]})
    await watcher.subscribe(room)
    retry = await chat(fan, room, "rude", "x1")
    assert retry == {**sent, "status": "removed"}
    await chat(fan, room, "end")
    assert [m["text"] for m in await chats_until(watcher, "end")] == ["end"]
    rows = await stored(owner_conn, room)
    assert [(r["id"], r["status"]) for r in rows[:1]] == [(sent["message_id"], "deleted")]
    assert len(rows) == 2
    await asyncio.gather(fan.close(), mod.close(), watcher.close())


async def test_every_acknowledged_message_is_stored(hub_factory, event, owner_conn):
    """Many pipelined messages from many fans, with reused ids: every ack and event is a row."""
    org, ev = event
    hub = hub_factory(db=True, HUB_CHAT_USER_BURST="1000", HUB_PUBLISH_BURST="1000",
                      HUB_PUBLISH_RATE="1000")
    room = f"event:{ev}"
    fans = [await Client.open(hub.ws_url, token(org, sub=f"fan-{n}")) for n in range(4)]
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    per_fan = 40

    async def burst(n: int, fan: Client) -> list[dict[str, Any]]:
        for i in range(per_fan):  # ids shared across fans; every 4th is a retry of the last
            cid = f"c{i - 1 if i % 4 == 3 else i}"
            await fan.send({"type": "chat", "room": room, "text": f"{n}:{cid}",
                            "client_msg_id": cid})
        return [await answer(fan) for _ in range(per_fan)]

    results = await asyncio.gather(*(burst(n, f) for n, f in enumerate(fans)))
    acks = [a for r in results for a in r]
    assert {a["type"] for a in acks} == {"chat_sent"}
    acked = {a["message_id"] for a in acks}
    assert len(acked) == len(fans) * (per_fan - per_fan // 4)
    await chat(fans[0], room, "end")
    seen = await chats_until(watcher, "end")
    broadcast = [m["message_id"] for m in seen[:-1]]
    assert sorted(broadcast) == sorted(acked)  # each stored message broadcast exactly once
    rows = {r["id"]: r for r in await stored(owner_conn, room)}
    assert acked <= set(rows), f"acknowledged but not stored: {acked - set(rows)}"
    for m in seen[:-1]:
        row = rows[m["message_id"]]
        assert (row["author"], row["body"], row["status"]) == (m["user"], m["text"], "visible")
    await asyncio.gather(*(f.close() for f in fans), watcher.close())


async def test_nul_in_chat_is_refused_without_storing_or_harming_others(
        hub_factory, event, owner_conn):
    """Text or client_msg_id with NUL gets a clear error (not 4500); the next message works."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub=f"fan-{uuid.uuid4().hex[:6]}"))
    for frame in ({"text": "a\x00b"}, {"text": "ok", "client_msg_id": "id\x00"}):
        await fan.send({"type": "chat", "room": room, **frame})
        err = await answer(fan)
        assert err["type"] == "error" and err["code"] != 4500, err
        assert "\x00" not in err["reason"]
    assert (await chat(fan, room, "fine"))["type"] == "chat_sent"
    assert [r["body"] for r in await stored(owner_conn, room)] == ["fine"]
    await fan.close()


async def test_retry_of_a_held_message_follows_it_without_broadcasting(
        hub_factory, event, owner_conn, owner_dsn):
    """Held: a retry says held; approved: a retry says visible; one broadcast in all."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    await add_member(owner_dsn, org, "boss", "admin")
    admin = await Client.open(hub.ws_url, token(org, sub="boss", roles=("admin",)))
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await admin.call(room, "moderation.blocked_words", {"words": ["promo"], "action": "hold"})
    await watcher.subscribe(room)
    held = await chat(fan, room, "promo code", "h1")
    assert held["status"] == "held"
    assert await chat(fan, room, "promo code", "h1") == held
    await admin.call(room, "moderation.approve", {"message_id": held["message_id"]})
    assert await chat(fan, room, "promo code", "h1") == {**held, "status": "visible"}
    await chat(fan, room, "end")
    seen = await chats_until(watcher, "end")
    assert [(m["message_id"], m["text"]) for m in seen[:-1]] == [
        (held["message_id"], "promo code")]
    assert len(await stored(owner_conn, room)) == 2
    await asyncio.gather(admin.close(), fan.close(), watcher.close())
