"""Frames pipelined behind a refused subscribe never read another org's room."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.support.client import Client, token
from tests.support.hubproc import HubProcess
from tests.support.members import staff_token
from tests.support.pipeline import pipeline

SECRET_TEXT = "org-b-private-chat"


async def other_org_event(owner: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    org, ev = uuid.uuid4(), uuid.uuid4()
    await owner.execute(
        "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, $2, $3,"
        " 'djdash')", org, f"B {org.hex[:6]}", f"b-{org.hex}")
    await owner.execute(
        "INSERT INTO events (id, organization_id, title, status) VALUES ($1, $2, 'Secret',"
        " 'live')", ev, org)
    return org, ev


@pytest.fixture
async def victim(hub_factory, owner_conn) -> Any:
    """Org B's live event with stored chat, a retained message and a present member."""
    hub = hub_factory(db=True)
    org_b, ev_b = await other_org_event(owner_conn)
    room = f"event:{ev_b}"
    member = await Client.open(hub.ws_url, await staff_token(hub, org_b, "org-b-dj", "dj"))
    await member.subscribe(room)
    await member.send({"type": "chat", "room": room, "text": SECRET_TEXT, "id": 1})
    await member.recv("chat_sent")
    await member.publish(room, {"secret": SECRET_TEXT})
    yield hub, room
    await member.close()


def request(kind: str, room: str) -> dict[str, Any]:
    frames: dict[str, dict[str, Any]] = {
        "history": {"type": "history", "room": room, "limit": 1000},
        "presence": {"type": "presence", "room": room},
        "chat_history": {"type": "chat_history", "room": room, "limit": 100},
        "call": {"type": "call", "room": room, "method": "requests.mine", "params": {}},
        "publish": {"type": "publish", "room": room, "data": {"forged": True}},
        "unsubscribe": {"type": "unsubscribe", "room": room},
    }
    return {**frames[kind], "id": 2}


@pytest.mark.parametrize("kind", ["history", "presence", "chat_history", "call", "publish",
                                  "unsubscribe"])
async def test_pipelined_read_behind_refused_subscribe_is_refused(victim, event, kind):
    """subscribe + <kind> sent in one write to another org's event: both refused, nothing read."""
    hub, room = victim
    org_a, _ = event
    # A performer (confirmed in org A), so a refused publish is the org check at work.
    attacker = await Client.open(hub.ws_url,
                                 await staff_token(hub, org_a, "org-a-fan", "performer"))
    for attempt in range(5):  # the race was intermittent: try it several times
        pipeline(attacker, [{"type": "subscribe", "room": room, "id": 1}, request(kind, room)])
        replies: list[dict[str, Any]] = []
        while {1, 2} - {r.get("id") for r in replies}:
            replies.append(await attacker.recv(timeout=10))
        assert SECRET_TEXT not in repr(replies), (attempt, replies)
        by_id = {r.get("id"): r for r in replies}
        assert by_id[1]["type"] == "error" and by_id[1]["code"] == 4404, replies
        assert by_id[2]["type"] == "error", replies
        assert by_id[2]["code"] in {4403, 4404, 4405}, replies
        assert all(r["type"] == "error" for r in replies), replies
    await attacker.close()


async def test_own_room_pipelined_subscribe_then_reads_still_work(hub_factory, event):
    """A legitimate client pipelining subscribe + history + presence for its own room is served."""
    org, ev = event
    hub: HubProcess = hub_factory(db=True)
    room = f"event:{ev}"
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj", "dj"))
    await dj.subscribe(room)
    await dj.publish(room, {"n": 1})
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    pipeline(fan, [{"type": "subscribe", "room": room, "id": 1},
                   {"type": "history", "room": room, "id": 2},
                   {"type": "presence", "room": room, "id": 3},
                   {"type": "unsubscribe", "room": room, "id": 4}])
    assert (await fan.recv("subscribed"))["id"] == 1
    history = await fan.recv("history")
    assert history["id"] == 2 and [x["data"] for x in history["publications"]] == [{"n": 1}]
    presence = await fan.recv("presence")
    assert presence["id"] == 3 and {m["user"] for m in presence["members"]} == {"dj", "fan"}
    assert (await fan.recv("unsubscribed"))["id"] == 4
    await fan.close()
    await dj.close()
