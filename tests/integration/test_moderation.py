"""Chat moderation over real websockets, real Redis and real Postgres."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.support.client import Client, token
from tests.support.members import add_member


async def chat(client: Client, room: str, text: str) -> dict:
    await client.send({"type": "chat", "room": room, "text": text})
    while True:
        frame = await client.recv()
        if frame["type"] in {"chat_sent", "error"}:
            return frame


async def test_ban_stops_an_open_connection_at_once_and_is_audited(
        hub_factory, event, owner_conn: asyncpg.Connection, owner_dsn):
    """A banned user's already-open connection cannot post, and audit_log records the ban."""
    org, ev = event
    await add_member(owner_dsn, org, "mod-1", "moderator")
    room = f"event:{ev}"
    node_a, node_b = hub_factory(db=True), hub_factory(db=True)
    troll = await Client.open(node_b.ws_url, token(org, sub="troll"))
    mod = await Client.open(node_a.ws_url, token(org, sub="mod-1", roles=("moderator",)))
    assert (await chat(troll, room, "first!"))["type"] == "chat_sent"
    await mod.call(room, "moderation.ban", {"user": "troll", "minutes": 30, "reason": "spam"})
    refused = await chat(troll, room, "second")
    assert refused["type"] == "error" and refused["code"] == 4422
    assert "banned" in refused["reason"]
    row = await owner_conn.fetchrow(
        "SELECT action, target, detail FROM audit_log WHERE organization_id = $1"
        " AND action = 'chat.ban'", org)
    assert row is not None and row["target"] == "troll"
    assert '"by": "mod-1"' in row["detail"] and '"minutes": 30' in row["detail"]
    bodies = await owner_conn.fetch("SELECT body FROM chat_messages WHERE room = $1", room)
    assert [r["body"] for r in bodies] == ["first!"]
    await troll.close()
    await mod.close()


async def test_mute_then_lift(hub_factory, event, owner_dsn):
    """A muted user is refused until a moderator lifts the mute."""
    org, ev = event
    await add_member(owner_dsn, org, "dj", "dj")
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="loud"))
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    await dj.call(room, "moderation.mute", {"user": "loud", "minutes": 5})
    assert (await chat(fan, room, "hello?"))["code"] == 4422
    await dj.call(room, "moderation.lift", {"user": "loud"})
    assert (await chat(fan, room, "thanks"))["type"] == "chat_sent"
    await fan.close()
    await dj.close()


async def test_viewers_cannot_moderate(hub_factory, event):
    """Moderation methods need a staff role: a viewer gets 4403."""
    org, ev = event
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    err = await fan.call(f"event:{ev}", "moderation.ban", {"user": "dj"}, expect_error=True)
    assert err["code"] == 4403
    await fan.close()


async def test_delete_is_broadcast_as_removal_and_leaves_history(hub_factory, event, owner_dsn):
    """A deleted message is removed for watchers and no longer appears in history."""
    org, ev = event
    await add_member(owner_dsn, org, "mod", "moderator")
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    mod = await Client.open(hub.ws_url, token(org, sub="mod", roles=("moderator",)))
    await mod.subscribe(room)
    sent = await chat(fan, room, "something rude")
    await mod.next_event("chat")
    await mod.call(room, "moderation.delete", {"message_id": sent["message_id"]})
    removed = await mod.next_event("chat_removed")
    assert removed == {"type": "chat_removed", "message_id": sent["message_id"], "by": "mod"}
    await mod.send({"type": "chat_history", "room": room})
    assert (await mod.recv("chat_page"))["messages"] == []
    await fan.close()
    await mod.close()


async def test_slow_mode_limits_fans_but_not_staff(hub_factory, event, owner_dsn):
    """With slow mode on, a fan's second message within the window is refused (4429)."""
    org, ev = event
    await add_member(owner_dsn, org, "dj", "dj")
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    await dj.subscribe(room)
    await dj.call(room, "moderation.slow_mode", {"seconds": 30})
    assert (await dj.next_event("chat_settings"))["slow_mode_seconds"] == 30
    assert (await chat(fan, room, "one"))["type"] == "chat_sent"
    limited = await chat(fan, room, "two")
    assert limited["code"] == 4429 and "slow mode" in limited["reason"]
    for n in range(3):
        assert (await chat(dj, room, f"dj {n}"))["type"] == "chat_sent"
    await fan.close()
    await dj.close()


async def test_per_user_rate_limit_spans_connections(hub_factory, event):
    """The per-user limit counts messages from all of a user's connections."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    phone = await Client.open(hub.ws_url, token(org, sub="fan"))
    laptop = await Client.open(hub.ws_url, token(org, sub="fan"))
    results = []
    for n in range(8):
        results.append(await chat(phone if n % 2 else laptop, room, f"msg {n}"))
    sent = [r for r in results if r["type"] == "chat_sent"]
    limited = [r for r in results if r["type"] == "error"]
    assert len(sent) == 5 and all(r["code"] == 4429 for r in limited)
    await phone.close()
    await laptop.close()


async def test_blocked_words_reject_or_hold_as_the_org_chooses(hub_factory, event, owner_dsn):
    """Reject mode refuses the message; hold mode stores it held until approved."""
    org, ev = event
    await add_member(owner_dsn, org, "boss", "admin")
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    admin = await Client.open(hub.ws_url, token(org, sub="boss", roles=("admin",)))
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    await admin.call(room, "moderation.blocked_words", {"words": ["Crypto"], "action": "reject"})
    refused = await chat(fan, room, "buy CRYPTO now")
    assert refused["code"] == 4422
    assert (await chat(fan, room, "cryptography talk later?"))["type"] == "chat_sent"
    assert (await watcher.next_event("chat"))["text"] == "cryptography talk later?"
    await admin.call(room, "moderation.blocked_words", {"words": ["crypto"], "action": "hold"})
    held = await chat(fan, room, "crypto giveaway")
    assert held["type"] == "chat_sent" and held["status"] == "held"
    queue = await admin.call(room, "moderation.held")
    assert [m["text"] for m in queue["messages"]] == ["crypto giveaway"]
    await admin.call(room, "moderation.approve", {"message_id": held["message_id"]})
    approved = await watcher.next_event("chat")
    assert approved["text"] == "crypto giveaway"  # the held one never showed before this
    await asyncio.gather(admin.close(), fan.close(), watcher.close())
