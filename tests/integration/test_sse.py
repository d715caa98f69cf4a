"""GET /sse/rooms/{room}: a room's messages as Server-Sent Events, by the websocket's rules
(auth, recovery, slow consumers, expiry, rotation, drain). Real hubs, Redis, Postgres."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from hub.auth import mint_token
from tests.integration.test_overlay_secret import another_event, new_link, rotate, secret_of
from tests.integration.test_tips import HubFactory
from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.services import unavailable, wait_port
from tests.support.sse import refusal, sse


async def publish(hub: HubProcess, room: str, data: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.post(f"/api/rooms/{room}/publish", json=data,
                               headers={"X-API-Key": API_KEY})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def publish_many(hub: HubProcess, room: str, items: list[Any]) -> list[int]:
    """Publish each item in order; their offsets."""
    offsets = []
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        for item in items:
            resp = await http.post(f"/api/rooms/{room}/publish", json=item)
            assert resp.status_code == 200, resp.text
            offsets.append(resp.json()["offset"])
    return offsets


async def gauges(hub: HubProcess) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    return {name: float(value) for name, _, value in
            (line.partition(" ") for line in text.splitlines() if line.startswith("hub_"))}


async def until_gone(hub: HubProcess, room: str) -> None:
    """Every stream that ended left no trace: no presence, connection or subscription."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        for _ in range(100):
            members = (await http.get(f"/api/rooms/{room}/presence")).json()["count"]
            now = await gauges(hub)
            if (members, now["hub_connections"], now["hub_subscriptions"]) == (0, 0, 0):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"left behind: {members} members, {now}")


def check_message(got: Any, room: str, epoch: str, offset: int, data: Any) -> None:
    """A `message` event: the websocket's frame as data, the position as its id."""
    assert got.event == "message"
    assert got.data == {"type": "message", "room": room, "offset": offset, "data": data}
    assert got.last_id == f"{epoch}:{offset}"


async def test_stream_delivers_what_the_websocket_does(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """Headers, then subscribed, the services' snapshots and the position, then each
    message published through the API, with the same JSON the socket's frame carries."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    ws = await Client.open(hub.ws_url, token(org, sub="ws-fan"))
    await ws.subscribe(room)
    async with sse(hub.url, room, token=token(org, sub="sse-fan")) as stream:
        headers = stream.response.headers
        assert headers["content-type"].split(";")[0] == "text/event-stream"
        assert headers["cache-control"] == "no-store"
        assert headers["x-accel-buffering"] == "no"
        subscribed, snapshots = await stream.opening()
        assert subscribed.data == {"type": "subscribed", "room": room,
                                   "epoch": subscribed.data["epoch"], "offset": 0,
                                   "recovered": False}
        assert stream.retry is not None and 1000 <= stream.retry <= 3000
        services = {s.data["service"] for s in snapshots}
        assert {"requests", "tips", "karaoke"} <= services, services
        assert all(s.data["type"] == "snapshot" and s.data["room"] == room for s in snapshots)
        epoch = subscribed.data["epoch"]
        text = 'line one\n<script>alert("x")</script>'
        pretty = '{\n  "type": "banner",\n  "text": ' + json.dumps(text) + '\n}'
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            resp = await http.post(f"/api/rooms/{room}/publish", content=pretty,
                                   headers={"X-API-Key": API_KEY})
        assert resp.status_code == 200
        got = await stream.next()
        check_message(got, room, epoch, 1, {"type": "banner", "text": text})
        frame = await ws.recv("message")
        assert got.data == frame
        await publish(hub, room, [1, 2, 3])
        check_message(await stream.next(), room, epoch, 2, [1, 2, 3])
    await ws.ws.close()


async def test_last_event_id_resumes_with_nothing_lost_or_repeated(
        hub_factory: HubFactory, org: uuid.UUID) -> None:
    """After a disconnect, Last-Event-ID (header, or ?last_event_id=) replays exactly the
    missed messages, then live ones follow: none lost, none twice."""
    hub = hub_factory()
    room = f"org:{org}"
    tok = token(org)
    async with sse(hub.url, room, token=tok) as stream:
        subscribed, _ = await stream.opening()
        epoch = subscribed.data["epoch"]
        await publish_many(hub, room, [{"n": n} for n in range(1, 4)])
        seen = [e.data["data"]["n"] for e in await stream.messages(3)]
        last = stream.last_id
    assert seen == [1, 2, 3] and last == f"{epoch}:3"
    await publish_many(hub, room, [{"n": n} for n in range(4, 9)])  # missed
    async with sse(hub.url, room, token=tok, last_event_id=last,
                   params={"last_event_id": f"{epoch}:0"}) as stream:  # the header wins
        subscribed, replayed = await stream.recovered()  # no snapshot: nothing was lost
        assert subscribed.data["offset"] == 8
        for n, got in zip(range(4, 9), replayed, strict=True):
            check_message(got, room, epoch, n, {"n": n})
        await publish_many(hub, room, [{"n": 9}])
        check_message(await stream.next(), room, epoch, 9, {"n": 9})
        last = stream.last_id
    await publish_many(hub, room, [{"n": 10}])
    async with sse(hub.url, room, token=tok, params={"last_event_id": last}) as stream:
        _, replayed = await stream.recovered()
        assert len(replayed) == 1
        check_message(replayed[0], room, epoch, 10, {"n": 10})
        await publish_many(hub, room, [{"n": 11}])
        check_message(await stream.next(), room, epoch, 11, {"n": 11})
    await until_gone(hub, room)


async def test_resume_across_a_hub_restart_on_the_same_port(
        hub_factory: HubFactory, org: uuid.UUID) -> None:
    """SIGTERM ends the stream with `close` 1012; messages published on another node
    while this one is down are replayed when the client comes back to it."""
    node = hub_factory(HUB_DRAIN_SECONDS="2")
    other = hub_factory()
    room = f"org:{org}"
    tok = token(org)
    async with sse(node.url, room, token=tok) as stream:
        subscribed, _ = await stream.opening()
        epoch = subscribed.data["epoch"]
        await publish_many(other, room, [{"n": 1}, {"n": 2}])
        await stream.messages(2)
        restarting = asyncio.create_task(asyncio.to_thread(node.restart, 1.0))
        # During the drain a new stream is told to come back later, not refused:
        # EventSource would give up for good on an error status.
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
            for _ in range(100):
                if (await http.get("/ready")).status_code == 503:
                    break
                await asyncio.sleep(0.05)
            resp = await http.get(f"/sse/rooms/{room}", params={"token": tok})
        assert resp.status_code == 200
        assert resp.text.startswith("retry: ") and "event:" not in resp.text
        rest = await stream.rest(timeout=15)
        assert [e.event for e in rest] == ["close"]
        assert rest[0].data == {"type": "close", "code": 1012,
                                "reason": "server restarting; reconnect"}
        last = stream.last_id
    assert last == f"{epoch}:2"
    await publish_many(other, room, [{"n": n} for n in range(3, 7)])  # while it restarts
    await restarting
    async with sse(node.url, room, token=tok, last_event_id=last) as stream:
        _, got = await stream.recovered()
        assert [(e.data["data"]["n"], e.last_id) for e in got] == [
            (n, f"{epoch}:{n}") for n in range(3, 7)]
        await publish_many(other, room, [{"n": 7}])
        check_message(await stream.next(), room, epoch, 7, {"n": 7})


async def test_unrecoverable_positions_start_afresh_with_snapshots(
        hub_factory: HubFactory, event: tuple) -> None:
    """Another epoch, or an offset older than history keeps: recovered false, the
    snapshots, and the position moves to the room's current one."""
    org, ev = event
    hub = hub_factory(db=True, HUB_HISTORY_SIZE="5")
    room = f"event:{ev}"
    tok = token(org)
    await publish_many(hub, room, [{"n": n} for n in range(1, 13)])
    async with sse(hub.url, room, token=tok) as stream:
        subscribed, _ = await stream.opening()
    epoch = subscribed.data["epoch"]
    current = 12
    for stale in (f"{epoch}:2", f"0{epoch}:11", f"{epoch}:99"):
        async with sse(hub.url, room, token=tok, last_event_id=stale) as stream:
            subscribed, snapshots = await stream.opening()
            assert subscribed.data["recovered"] is False, stale
            assert subscribed.data["offset"] == current
            assert {s.data["service"] for s in snapshots} >= {"requests", "tips"}
            assert stream.last_id == f"{epoch}:{current}"
            await publish_many(hub, room, [{"n": "live"}])
            current += 1
            check_message(await stream.next(), room, epoch, current, {"n": "live"})
    # Still in history (5 are kept): recovered.
    await publish_many(hub, room, [{"n": "a"}, {"n": "b"}])
    async with sse(hub.url, room, token=tok, last_event_id=f"{epoch}:{current}") as stream:
        _, got = await stream.recovered()
        assert [e.last_id for e in got] == [f"{epoch}:{current + 1}", f"{epoch}:{current + 2}"]


HOSTILE_IDS = ["garbage", "::::", ":5", "abc:", "abc:-5", "abc:+5", "abc: 5", "abc:5.0",
               "abc:0x10", "abc:99999999999999999999999", "abc:9223372036854775808",
               "x" * 70 + ":1", "a:b:c", "%00", "abc:1 2", "<script>:1", "null", "{}",
               "x" * 5000]


async def test_hostile_last_event_ids_start_afresh(hub_factory: HubFactory,
                                                   org: uuid.UUID) -> None:
    """Whatever Last-Event-ID holds (garbage, huge or negative numbers, another epoch's
    position far ahead), the stream opens fresh: recovered false, never an error."""
    hub = hub_factory()
    room = f"org:{org}"
    tok = token(org)
    await publish_many(hub, room, [{"n": 1}])
    async with sse(hub.url, room, token=tok) as stream:
        subscribed, _ = await stream.opening()
    epoch = subscribed.data["epoch"]
    hostile = [*HOSTILE_IDS, f"{epoch}:-1", f"{epoch}:9223372036854775807",
               f"{epoch}:9223372036854775808", f"{epoch}:{'9' * 400}", f"{epoch}:1:1",
               f" {epoch}:", f"{epoch}:²"]
    for value in hostile:
        # httpx sends only plain ASCII header values; the query parameter takes anything.
        plain = value.isascii() and value == value.strip() and len(value) <= 1000
        sent = {} if plain else {"last_event_id": value}
        async with sse(hub.url, room, token=tok, params=sent,
                       last_event_id=None if sent else value) as stream:
            subscribed, _ = await stream.opening()
            assert subscribed.data["recovered"] is False, value
            assert subscribed.data["offset"] == 1
    assert "Traceback" not in hub.log()


async def test_heartbeat_in_silence(hub_factory: HubFactory, org: uuid.UUID) -> None:
    """A `: ping` comment after HUB_SSE_HEARTBEAT seconds of silence, and not before."""
    hub = hub_factory(HUB_SSE_HEARTBEAT="0.5")
    async with sse(hub.url, f"org:{org}", token=token(org)) as stream:
        await stream.opening()
        opened = time.monotonic()
        with pytest.raises(TimeoutError):
            await stream.next(timeout=1.8)
        pings = len(stream.comments)
        assert pings >= 2, stream.comments
        assert set(stream.comments) == {": ping"}
        assert pings <= (time.monotonic() - opened) / 0.5 + 1


async def test_credentials_and_rooms_are_checked_like_the_websocket(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """401 without or with a bad token (4001) or an expired one (4002); another org's
    event answers like an unknown one (404, 4404), another org's org room 403 (4403);
    a malformed room 404. Each body names its code and the request id."""
    org, ev = event
    other_org, other_ev = await another_event(owner_conn)
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    forged = mint_token("not-the-hub-secret-0123456789-0123456789", sub="u", org=str(org),
                        roles=["admin"])
    expired = mint_token("test-secret-0123456789-0123456789-abcdef", sub="u", org=str(org),
                         roles=["viewer"], ttl=-60)
    cases: list[tuple[str, dict[str, str], int, int]] = [
        (room, {}, 401, 4001),
        (room, {"token": ""}, 401, 4001),
        (room, {"token": "not.a.jwt"}, 401, 4001),
        (room, {"token": forged}, 401, 4001),
        (room, {"authorization": f"Bearer {forged}"}, 401, 4001),
        (room, {"token": expired}, 401, 4002),
        (room, {"overlay": "not-a-secret"}, 401, 4001),
        (f"event:{other_ev}", {"token": token(org)}, 404, 4404),
        (f"event:{uuid.uuid4()}", {"token": token(org)}, 404, 4404),
        (f"org:{other_org}", {"token": token(org)}, 403, 4403),
        ("event:not-a-uuid", {"token": token(org)}, 404, 4404),
        (f"event:{str(ev).upper()}", {"token": token(org)}, 404, 4404),
    ]
    details = {}
    for target, params, status, code in cases:
        resp = await refusal(hub.url, target, **params)
        assert resp.status_code == status, (target, params, resp.text)
        body = resp.json()
        assert body["code"] == code and body["status_code"] == status, body
        assert body["request_id"] == resp.headers["x-request-id"]
        assert "Traceback" not in body["detail"]
        details[target] = body["detail"]
    # Another org's event cannot be told from one that does not exist.
    assert details[f"event:{other_ev}"] == details[cases[8][0]] == "unknown event"
    # A bearer header is as good as ?token=; staff roles count only as far as a
    # membership confirms them (none here: a viewer, as the presence shows).
    claims_admin = token(org, sub="no-membership", roles=("admin",))
    async with sse(hub.url, room, headers={"Authorization": f"Bearer {claims_admin}"}) as s:
        subscribed, _ = await s.opening()
        assert subscribed.data["room"] == room
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            resp = await http.get(f"/api/rooms/{room}/presence",
                                  headers={"X-API-Key": API_KEY})
        members = resp.json()["members"]
        assert [(m["user"], m["roles"]) for m in members] == [("no-membership", ["viewer"])]


async def test_overlay_secret_reaches_its_event_only_and_rotation_ends_it(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """?overlay= opens its own event's stream; a sibling event is 403; rotating the secret
    ends the open stream with `close` 4003, and the old secret is then refused."""
    org, ev = event
    _, sibling = await another_event(owner_conn, org)
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    secret = secret_of(await new_link(hub, ev))
    resp = await refusal(hub.url, f"event:{sibling}", overlay=secret)
    assert (resp.status_code, resp.json()["code"]) == (403, 4403)
    resp = await refusal(hub.url, f"org:{org}", overlay=secret)
    assert (resp.status_code, resp.json()["code"]) == (403, 4403)
    async with sse(hub.url, room, overlay=secret) as stream:
        _, snapshots = await stream.opening()
        assert snapshots, "the overlay needs the tips state"
        await publish(hub, room, {"type": "banner"})
        assert (await stream.next()).data["data"] == {"type": "banner"}
        assert (await rotate(hub, ev)).status_code == 200
        rest = await stream.rest()
        assert [e.event for e in rest] == ["close"]
        assert rest[0].data["code"] == 4003
    resp = await refusal(hub.url, room, overlay=secret)
    assert (resp.status_code, resp.json()["code"]) == (401, 4001)


async def test_expired_token_ends_the_stream(hub_factory: HubFactory, org: uuid.UUID) -> None:
    """When the token's exp passes, the stream ends with `close` 4002."""
    hub = hub_factory()
    started = time.monotonic()
    async with sse(hub.url, f"org:{org}", token=token(org, ttl=2)) as stream:
        await stream.opening()
        rest = await stream.rest(timeout=10)
    assert [e.event for e in rest] == ["close"]
    assert rest[0].data == {"type": "close", "code": 4002, "reason": "token expired"}
    assert 1.0 <= time.monotonic() - started < 8


def _stalled_reader(port: int, path: str) -> socket.socket:
    """A client that opens a stream and then never reads, with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
                 .encode())
    sock.settimeout(10)
    seen = b""
    while b"event: subscribed" not in seen:  # subscribed: from here on it never reads
        chunk = sock.recv(4096)
        assert chunk, seen
        seen += chunk
    assert seen.startswith(b"HTTP/1.1 200 "), seen
    return sock


def _cut_off(sock: socket.socket, timeout: float) -> int:
    """Read on until the hub drops the connection; how many bytes came. Fails if it
    stays open for ``timeout`` seconds, or ends the response cleanly instead."""
    sock.settimeout(timeout)
    got = b""
    try:
        while chunk := sock.recv(1 << 20):
            got += chunk
    except ConnectionResetError:
        pass
    assert not got.endswith(b"0\r\n\r\n"), "the response ended; it was not cut"
    return len(got)


async def _slow_consumers(hub: HubProcess) -> float:
    return (await gauges(hub))["hub_slow_consumers_total"]


async def test_slow_reader_is_cut_off_and_delays_nobody(hub_factory: HubFactory,
                                                        org: uuid.UUID) -> None:
    """A stream whose client stops reading is cut once HUB_SEND_QUEUE_BYTES are queued
    (and counted); another stream of the same room gets every message, in order."""
    hub = hub_factory(HUB_SEND_QUEUE_BYTES=str(64 * 1024))
    room = f"org:{org}"
    before = await _slow_consumers(hub)
    stalled = await asyncio.to_thread(_stalled_reader, hub.port,
                                      f"/sse/rooms/{room}?token={token(org, sub='slow')}")
    blob = "x" * 15_000
    count = 600  # ~9 MB: more than the kernel's socket buffers hold on both sides
    async with sse(hub.url, room, token=token(org, sub="fast")) as stream:
        subscribed, _ = await stream.opening()
        epoch = subscribed.data["epoch"]

        async def read_all() -> list[str]:
            return [e.last_id for e in await stream.messages(count, timeout=30)]

        reading = asyncio.create_task(read_all())
        await publish_many(hub, room, [{"n": n, "blob": blob} for n in range(count)])
        ids = await asyncio.wait_for(reading, 60)
    assert ids == [f"{epoch}:{n}" for n in range(1, count + 1)]
    # Cut: it never got most of what was published (9 MB).
    assert await asyncio.to_thread(_cut_off, stalled, 20) < count * len(blob) // 2
    stalled.close()
    assert await _slow_consumers(hub) >= before + 1
    await until_gone(hub, room)


async def test_a_reader_stuck_below_the_queue_bound_is_cut_as_idle(
        hub_factory: HubFactory, org: uuid.UUID) -> None:
    """A client that stops reading while events wait (the queue far from full) is cut
    after HUB_PING_INTERVAL + HUB_PING_TIMEOUT, as a silent websocket is; not counted
    as a slow consumer."""
    hub = hub_factory(HUB_SEND_QUEUE_BYTES=str(256 * 1024 * 1024), HUB_PING_INTERVAL="1",
                      HUB_PING_TIMEOUT="1", HUB_SHUTDOWN_TIMEOUT="1")
    room = f"org:{org}"
    before = await _slow_consumers(hub)
    stalled = await asyncio.to_thread(_stalled_reader, hub.port,
                                      f"/sse/rooms/{room}?token={token(org, sub='stuck')}")
    await publish_many(hub, room, [{"n": n, "blob": "x" * 15_000} for n in range(600)])
    await until_gone(hub, room)  # dropped, with nothing read (the 9 MB are stuck)...
    await asyncio.sleep(2)  # ...and cut HUB_SHUTDOWN_TIMEOUT after its `close` event
    assert await asyncio.to_thread(_cut_off, stalled, 20) < 600 * 15_000 // 2
    stalled.close()
    assert await _slow_consumers(hub) == before


async def test_streams_hold_their_address_slot(hub_factory: HubFactory,
                                               org: uuid.UUID) -> None:
    """HUB_MAX_CONNECTIONS_PER_ADDRESS counts open streams; a slot is free once one ends."""
    hub = hub_factory(HUB_MAX_CONNECTIONS_PER_ADDRESS="2")
    room = f"org:{org}"
    async with sse(hub.url, room, token=token(org)) as one:
        await one.opening()
        async with sse(hub.url, room, token=token(org)) as two:
            await two.opening()
            with pytest.raises(httpx.TransportError):
                async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
                    await http.get("/health")
    for _ in range(50):  # the slots are given back as the connections close
        try:
            async with sse(hub.url, room, token=token(org)) as again:
                await again.opening()
            break
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    else:
        raise AssertionError("no slot came back")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


async def test_a_redis_outage_ends_the_stream_for_a_retry_not_for_good(
        hub_factory: HubFactory, org: uuid.UUID) -> None:
    """Redis down when a stream opens: 200 with `retry:` and one `close` 4503 event (an
    error status would end EventSource for good); once Redis is back, the same request
    streams again."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server")
    port = _free_port()
    redis = _redis(port)
    try:
        hub = hub_factory(redis=False, REDIS_URL=f"redis://127.0.0.1:{port}/0",
                          HUB_REDIS_PREFIX="sse-outage")
        room = f"org:{org}"
        async with sse(hub.url, room, token=token(org)) as stream:
            await stream.opening()
        redis.terminate()
        redis.wait(10)
        async with sse(hub.url, room, token=token(org)) as stream:
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            events = await stream.rest()
            assert stream.retry is not None and 1000 <= stream.retry <= 3000
        assert [(e.event, e.data["code"]) for e in events] == [("close", 4503)], events
        assert "retry" in events[0].data["reason"]
        redis = _redis(port)
        subscribed = None
        for _ in range(50):  # the hub's client reconnects on its own
            try:
                async with sse(hub.url, room, token=token(org)) as stream:
                    subscribed, _ = await stream.opening()
                    break
            except AssertionError:
                await asyncio.sleep(0.2)
        assert subscribed is not None and subscribed.event == "subscribed"
    finally:
        redis.terminate()
        redis.wait(10)


async def test_history_reset_under_a_stream_ends_it_for_a_fresh_start(
        hub_factory: HubFactory, redis_url: str, prefix: str) -> None:
    """The room's history is lost under an open stream (as when Redis restarts without
    persistence): the node announces the new epoch, and the stream, whose ids would no
    longer follow on, ends with 1012 so EventSource reconnects and starts afresh."""
    org = uuid.uuid4()
    hub = hub_factory()
    room = f"org:{org}"
    async with sse(hub.url, room, token=token(org, sub="sse-fan")) as stream:
        subscribed, _ = await stream.opening()
        epoch = subscribed.data["epoch"]
        await publish(hub, room, {"n": 1})
        check_message(await stream.next(), room, epoch, 1, {"n": 1})
        r = aioredis.Redis.from_url(redis_url)
        try:
            base = f"{prefix}:{{{room}}}"
            assert await r.delete(f"{base}:m", f"{base}:h") == 2
        finally:
            await r.aclose()
        assert (await publish(hub, room, {"n": 2}))["epoch"] != epoch
        closed = await stream.next()
        assert closed.event == "close", closed
        assert closed.data["code"] == 1012, closed.data
