"""Past HUB_MAX_PENDING queued commands the hub holds frames, answers in order, then reads on."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, token
from tests.support.hubproc import HubProcess
from tests.support.members import staff_token
from tests.support.pipeline import pipeline


@pytest.fixture
def hub(hub_factory) -> HubProcess:
    return hub_factory(HUB_MAX_PENDING="8")


async def test_frames_past_the_bound_are_held_and_answered_in_order(hub, org):
    """30 pipelined commands with room for 8: all answered, in order; the socket is read again."""
    room = f"org:{org}"
    client = await Client.open(hub.ws_url, token(org))
    frames = []
    for n in range(15):
        frames += [{"type": "subscribe", "room": room, "id": 2 * n + 1},
                   {"type": "unsubscribe", "room": room, "id": 2 * n + 2}]
    pipeline(client, frames)
    answers = [await client.recv() for _ in frames]
    assert [(a["type"], a["id"]) for a in answers] == [
        ("subscribed" if n % 2 else "unsubscribed", n) for n in range(1, 31)]
    await client.send({"type": "ping", "id": 99})  # reading resumed once the queue drained
    assert await client.recv("pong") == {"type": "pong", "id": 99}
    await client.close()


async def test_one_read_far_past_the_bound_closes_with_4020(hub, org):
    """A single read bringing over 4x HUB_MAX_PENDING frames closes that socket with 4020 only."""
    room = f"org:{org}"
    flooder = await Client.open(hub.ws_url, token(org, sub="flooder"))
    frames = []
    for _ in range(100):
        frames += [{"type": "subscribe", "room": room}, {"type": "unsubscribe", "room": room}]
    pipeline(flooder, frames)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(flooder.ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4020
    other = await Client.open(hub.ws_url, await staff_token(hub, org, "other", "dj"))
    await other.subscribe(room)
    await other.publish(room, {"still": "served"})
    await other.close()
