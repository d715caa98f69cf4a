"""Moderation names messages by their stored id, and only in the moderator's own room."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.client import Client, token
from tests.support.members import staff_token


async def test_delete_and_approve_refuse_ids_outside_the_room(hub_factory, event, owner_conn):
    """Another org's or room's message id, or a malformed id: 4402, and nothing changes."""
    org, ev = event
    other_org, other_ev = uuid.uuid4(), uuid.uuid4()
    await owner_conn.execute(
        "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, 'Other',"
        " $2, 'djdash')", other_org, f"other-{other_org.hex}")
    await owner_conn.execute(
        "INSERT INTO events (id, organization_id, title, status) VALUES ($1, $2, 'Sat',"
        " 'live')", other_ev, other_org)
    hub = hub_factory(db=True)
    room, side_room = f"event:{ev}", f"org:{org}"
    stranger = await Client.open(hub.ws_url, token(other_org, sub="fan-x"))
    await stranger.send({"type": "chat", "room": f"event:{other_ev}", "text": "theirs"})
    theirs = await stranger.recv("chat_sent")
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    await fan.send({"type": "chat", "room": side_room, "text": "side"})
    side = await fan.recv("chat_sent")
    mod = await Client.open(hub.ws_url, await staff_token(hub, org, "mod", "moderator"))
    for bad in (theirs["message_id"], side["message_id"], "0", "-1", "1e3", " 1",
                "99999999999999999999999", "١٢", "x" * 200):
        for method in ("moderation.delete", "moderation.approve"):
            err = await mod.call(room, method, {"message_id": bad}, expect_error=True)
            assert err["code"] == 4402, (method, bad, err)
    statuses = await owner_conn.fetch(
        "SELECT status FROM chat_messages WHERE id = ANY($1::bigint[])",
        [int(theirs["message_id"]), int(side["message_id"])])
    assert [r["status"] for r in statuses] == ["visible", "visible"]
    await asyncio.gather(stranger.close(), fan.close(), mod.close())
