"""SIGTERM drains: /ready turns 503 before the listener closes, and presence is cleaned up."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY


async def test_ready_answers_503_between_sigterm_and_exit(hub_factory, org):
    """During HUB_DRAIN_SECONDS /ready is 503, /health and open websockets still work."""
    hub = hub_factory(HUB_DRAIN_SECONDS="3")
    client = await Client.open(hub.ws_url, token(org))
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        assert (await http.get("/ready")).status_code == 200
        hub.terminate()
        signalled = time.monotonic()

        async def draining() -> None:
            while (await http.get("/ready")).status_code != 503:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(draining(), 5)
        assert hub.proc.poll() is None  # still running, still serving
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/ready")).json() == {"status": "draining"}
    await client.send({"type": "ping", "id": 7})
    assert await client.recv("pong") == {"type": "pong", "id": 7}
    closed = await asyncio.wait_for(client.ws.wait_closed(), 15)
    assert closed is None and client.ws.close_code == 1012
    assert await asyncio.to_thread(hub.proc.wait, 15) == 0
    assert time.monotonic() - signalled >= 2.5  # the drain period was honoured


async def test_stopping_node_removes_its_presence_at_once(hub_factory, org):
    """SIGTERM on node A: node B's presence drops A's clients and B's watchers get leave."""
    node_a = hub_factory(HUB_PRESENCE_TTL="60")
    node_b = hub_factory(HUB_PRESENCE_TTL="60")
    room = f"org:{org}"
    watcher = await Client.open(node_b.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room, presence_events=True)
    fans = [await Client.open(node_a.ws_url, token(org, sub=f"fan-{i}")) for i in range(4)]
    for fan in fans:
        await fan.subscribe(room)
    headers = {"X-API-Key": API_KEY}
    async with httpx.AsyncClient(base_url=node_b.url, timeout=5, headers=headers) as http:

        async def count() -> int:
            resp = await http.get(f"/api/rooms/{room}/presence")
            n: int = resp.json()["count"]
            return n

        async def until(n: int) -> None:
            while await count() != n:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until(5), 10)
        joined = time.monotonic()
        assert await asyncio.to_thread(node_a.stop) == 0
        await asyncio.wait_for(until(1), 5)  # the TTL would take 60 s
        assert time.monotonic() - joined < 20
    left = set()
    while len(left) < 4:
        frame = await watcher.recv("leave", timeout=10)
        left.add(frame["member"]["user"])
    assert left == {f"fan-{i}" for i in range(4)}
    await watcher.close()
