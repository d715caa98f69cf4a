"""The hub over real websockets, real Redis and real hub processes."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, token


async def test_publish_reaches_subscriber_and_is_acknowledged(hub_factory, org):
    """A DJ's publish is acknowledged with its offset and delivered to a viewer."""
    hub = hub_factory()
    room = f"org:{org}"
    viewer = await Client.open(hub.ws_url, token(org, sub="fan"))
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    sub = await viewer.subscribe(room)
    assert sub["offset"] == 0 and sub["recovered"] is False
    ack = await dj.publish(room, {"song": "Mr. Brightside"})
    assert ack["offset"] == 1 and ack["epoch"] == sub["epoch"]
    msg = await viewer.recv("message")
    assert msg == {"type": "message", "room": room, "offset": 1,
                   "data": {"song": "Mr. Brightside"}}
    await viewer.close()
    await dj.close()


async def test_two_nodes_share_one_redis(hub_factory, org):
    """A message published on node A reaches a subscriber on node B; presence counts both."""
    node_a, node_b = hub_factory(), hub_factory()
    room = f"org:{org}"
    on_a = await Client.open(node_a.ws_url, token(org, sub="dj", roles=("dj",)))
    on_b = await Client.open(node_b.ws_url, token(org, sub="fan"))
    assert on_a.welcome["node"] != on_b.welcome["node"]
    await on_a.subscribe(room)
    await on_b.subscribe(room)
    await on_a.publish(room, {"n": 1})
    assert (await on_b.recv("message"))["data"] == {"n": 1}
    await on_b.send({"type": "presence", "room": room, "id": 7})
    snap = await on_b.recv("presence")
    assert snap["count"] == 2 and snap["id"] == 7
    assert {m["user"] for m in snap["members"]} == {"dj", "fan"}
    await on_a.close()
    # The leaver disappears from presence on the other node.
    for _ in range(50):
        await on_b.send({"type": "presence", "room": room})
        if (await on_b.recv("presence"))["count"] == 1:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("presence never dropped the closed connection")
    await on_b.close()


async def test_join_and_leave_events_are_opt_in(hub_factory, org):
    """A subscriber that asks for presence events sees others join and leave."""
    hub = hub_factory()
    room = f"org:{org}"
    watcher = await Client.open(hub.ws_url, token(org, sub="host", roles=("dj",)))
    await watcher.subscribe(room, presence_events=True)
    await watcher.recv("join")  # its own join
    guest = await Client.open(hub.ws_url, token(org, sub="guest"))
    await guest.subscribe(room)
    joined = await watcher.recv("join")
    assert joined["member"]["user"] == "guest"
    await guest.close()
    left = await watcher.recv("leave")
    assert left["member"]["user"] == "guest"
    await watcher.close()


async def test_recovery_returns_exactly_the_missed_messages(hub_factory, org):
    """A client that misses 50 messages gets exactly those 50, in order, on resubscribe."""
    hub = hub_factory(HUB_PUBLISH_BURST="100")
    room = f"org:{org}"
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    await fan.subscribe(room)
    await dj.publish(room, {"n": 0})
    last = await fan.recv("message")
    epoch = (await dj.publish(room, {"n": 1}))["epoch"]
    last = await fan.recv("message")
    await fan.close()
    for n in range(2, 52):
        await dj.publish(room, {"n": n})
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    sub = await fan.subscribe(room, recover={"epoch": epoch, "offset": last["offset"]})
    assert sub["recovered"] is True
    assert [p["data"]["n"] for p in sub["publications"]] == list(range(2, 52))
    assert [p["offset"] for p in sub["publications"]] == list(range(3, 53))
    # Live delivery continues after the recovered ones, without duplicates.
    await dj.publish(room, {"n": 52})
    assert (await fan.recv("message"))["offset"] == 53
    await fan.close()
    await dj.close()


async def test_recovery_with_a_stale_epoch_says_not_recovered(hub_factory, org):
    """Recovery from an epoch the room no longer has gives recovered=false."""
    hub = hub_factory()
    room = f"org:{org}"
    fan = await Client.open(hub.ws_url, token(org))
    sub = await fan.subscribe(room, recover={"epoch": "not-this-one", "offset": 3})
    assert sub["recovered"] is False and sub["publications"] == []
    await fan.close()


async def test_slow_consumer_is_cut_while_others_keep_receiving(hub_factory, org):
    """A client that stops reading is closed with 4008; a normal client gets everything."""
    hub = hub_factory(HUB_SEND_QUEUE_BYTES="65536", HUB_PUBLISH_RATE="100000",
                      HUB_PUBLISH_BURST="100000")
    room = f"org:{org}"
    # max_queue=1: the client library stops reading the socket once one message waits.
    slow = await Client.open(hub.ws_url, token(org, sub="slow"), max_queue=1)
    fast = await Client.open(hub.ws_url, token(org, sub="fast"))
    await slow.subscribe(room)
    await fast.subscribe(room)
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    blob = "x" * 8000
    count = 600  # ~4.8 MB: more than kernel buffers plus the 64 KiB send queue

    async def drain_fast() -> list[int]:
        seen = []
        while len(seen) < count:
            seen.append((await fast.recv("message", timeout=20))["data"]["n"])
        return seen

    reader = asyncio.create_task(drain_fast())
    for n in range(count):
        await dj.send({"type": "publish", "room": room, "data": {"n": n, "blob": blob}})
    assert await asyncio.wait_for(reader, 60) == list(range(count))
    # Now the slow client reads: it finds the slow-consumer close after its backlog.
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(slow.ws.recv(), 20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    await fast.close()
    await dj.close()


async def test_memory_broker_serves_a_single_process(hub_factory, org):
    """With no REDIS_URL the hub runs on the in-process broker."""
    hub = hub_factory(redis=False)
    room = f"org:{org}"
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    fan = await Client.open(hub.ws_url, token(org))
    await fan.subscribe(room)
    await dj.publish(room, {"hello": "memory"})
    assert (await fan.recv("message"))["data"] == {"hello": "memory"}
    await fan.close()
    await dj.close()


async def test_event_room_needs_a_registered_event_of_your_org(hub_factory, org):
    """Event rooms resolve to their org: unknown events and other orgs are refused."""
    import httpx

    hub = hub_factory()
    event = uuid.uuid4()
    fan = await Client.open(hub.ws_url, token(org))
    await fan.send({"type": "subscribe", "room": f"event:{event}", "id": 1})
    err = await fan.recv("error")
    assert err["code"] == 4404 and err["id"] == 1
    async with httpx.AsyncClient(base_url=hub.url) as http:
        resp = await http.put(f"/api/events/{event}", json={"org": str(org)},
                              headers={"X-API-Key": "test-api-key"})
        assert resp.status_code == 204
    sub = await fan.subscribe(f"event:{event}")
    assert sub["room"] == f"event:{event}"
    stranger = await Client.open(hub.ws_url, token(uuid.uuid4()))
    await stranger.send({"type": "subscribe", "room": f"event:{event}", "id": 2})
    assert (await stranger.recv("error"))["code"] == 4404  # no probing other orgs' events
    await fan.close()
    await stranger.close()


async def test_sigterm_closes_with_reconnect_code_and_exits_cleanly(hub_factory, org):
    """On SIGTERM clients get 1012 (reconnect elsewhere) and the process exits 0."""
    hub = hub_factory()
    fan = await Client.open(hub.ws_url, token(org))
    await fan.subscribe(f"org:{org}")
    hub.terminate()
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(fan.ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert await asyncio.to_thread(hub.proc.wait, 15) == 0


async def test_rate_limit_refuses_excess_publishes(hub_factory, org):
    """Publishes beyond the per-connection burst get 4429 and are not published."""
    hub = hub_factory(HUB_PUBLISH_RATE="0.01", HUB_PUBLISH_BURST="3")
    room = f"org:{org}"
    dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
    for n in range(3):
        assert (await dj.publish(room, {"n": n}))["offset"] == n + 1
    await dj.send({"type": "publish", "room": room, "data": {"n": 3}, "id": 9})
    err = await dj.recv("error")
    assert err["code"] == 4429 and err["id"] == 9
    await dj.send({"type": "subscribe", "room": room})
    assert (await dj.recv("subscribed"))["offset"] == 3  # the 4th never got an offset
    await dj.close()


async def test_idle_connection_is_closed_with_idle_code(hub_factory, org):
    """A peer that never answers pings is closed with 4009 after the idle timeout."""
    from websockets.frames import Opcode

    hub = hub_factory(HUB_PING_INTERVAL="0.4", HUB_PING_TIMEOUT="0.4")
    fan = await Client.open(hub.ws_url, token(org))
    # Stop the client library from answering pings, so the hub sees silence.
    fan.ws.protocol.send_frame = _drop_pongs(fan.ws.protocol.send_frame, Opcode)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(fan.ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009


def _drop_pongs(send_frame, opcode):
    def send(frame):
        if frame.opcode is not opcode.PONG:
            send_frame(frame)
    return send


async def test_responsive_connection_survives_pings(hub_factory, org):
    """A normal client answers the hub's pings and stays connected past the timeout."""
    # Pinged every 0.5 s; a 2 s answer window leaves room for a busy machine.
    hub = hub_factory(HUB_PING_INTERVAL="0.5", HUB_PING_TIMEOUT="2")
    fan = await Client.open(hub.ws_url, token(org))
    await asyncio.sleep(3.5)  # past interval + timeout, several pings answered
    await fan.send({"type": "ping", "id": 5})
    assert (await fan.recv("pong")) == {"type": "pong", "id": 5}
    await fan.close()



async def test_compression_can_be_turned_on(hub_factory, org):
    """With HUB_WS_COMPRESSION=1 a deflate client negotiates it and still gets messages."""
    from websockets.asyncio.client import connect

    hub = hub_factory(HUB_WS_COMPRESSION="1")
    room = f"org:{org}"
    async with connect(f"{hub.ws_url}?token={token(org)}", compression="deflate") as ws:
        assert ws.protocol.extensions, "per-message deflate was not negotiated"
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"
        await ws.send(json.dumps({"type": "subscribe", "room": room}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscribed"
        dj = await Client.open(hub.ws_url, token(org, sub="dj", roles=("dj",)))
        await dj.publish(room, {"text": "la " * 200})
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert msg["data"] == {"text": "la " * 200}
        await dj.close()


async def test_compression_is_off_by_default(hub_factory, org):
    """By default the hub declines per-message deflate (memory per socket)."""
    from websockets.asyncio.client import connect

    hub = hub_factory()
    async with connect(f"{hub.ws_url}?token={token(org)}", compression="deflate") as ws:
        assert not ws.protocol.extensions
