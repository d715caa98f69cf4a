"""One socket flooding pipelined frames neither grows the hub's memory nor stalls other clients."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from tests.support.client import Client, token
from tests.support.hubproc import HubProcess
from tests.support.members import staff_token
from tests.support.pipeline import masked

FLOOD = 200_000
MAX_GROWTH_MB = 15  # RSS growth allowed while flooded (queueing every frame grew ~40 MB)


def rss_mb(hub: HubProcess) -> float:
    for line in Path(f"/proc/{hub.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def round_trip(hub: HubProcess, org: uuid.UUID) -> float:
    """Seconds for a new client to connect, subscribe, publish and receive its message."""
    started = time.monotonic()
    client = await Client.open(hub.ws_url, await staff_token(hub, org, f"dj-{uuid.uuid4().hex[:6]}",
                                                       "dj"))
    await client.subscribe(f"org:{org}")
    marker = uuid.uuid4().hex
    await client.send({"type": "publish", "room": f"org:{org}", "data": {"m": marker}})
    while (await client.recv(timeout=30)).get("data") != {"m": marker}:
        pass  # `published` and the `message` may come in either order
    await client.close()
    return time.monotonic() - started


async def drain(client: Client, codes: dict[str, int]) -> None:
    """Read everything the hub answers the flooder, counting rate-limit errors (cheaply)."""
    try:
        while True:
            key = "4429" if '"code":4429' in str(await client.ws.recv()) else "other"
            codes[key] = codes.get(key, 0) + 1
    except Exception:  # closed: the hub may end a flooder
        return


def flood_frames(kind: str, room: str) -> bytes:
    if kind == "chat_history":
        one = masked({"type": "chat_history", "room": room, "limit": 100})
        return one * FLOOD
    pair = (masked({"type": "subscribe", "room": room})
            + masked({"type": "unsubscribe", "room": room}))
    return pair * (FLOOD // 2)


@pytest.mark.parametrize("kind", ["chat_history", "subscribe_unsubscribe"])
async def test_flooding_socket_is_bounded_and_others_are_served(hub_factory, event, kind):
    """200k pipelined frames: RSS stays bounded and a new client still round-trips."""
    org, _ = event
    hub = hub_factory(db=True)
    await round_trip(hub, org)  # warm up every code path before measuring
    before = rss_mb(hub)
    flooder = await Client.open(hub.ws_url, token(org, sub="flooder"))
    codes: dict[str, int] = {}
    reader = asyncio.create_task(drain(flooder, codes))
    flooder.ws.transport.write(flood_frames(kind, f"org:{org}"))
    # Give the hub time to read (or refuse to read) what the flooder sent.
    deadline = time.monotonic() + 5
    peak = before
    while time.monotonic() < deadline:
        peak = max(peak, rss_mb(hub))
        await asyncio.sleep(0.05)
    took = await asyncio.wait_for(round_trip(hub, org), 30)
    peak = max(peak, rss_mb(hub))
    assert took < 10, f"a new client waited {took:.1f} s behind the flood"
    assert peak - before < MAX_GROWTH_MB, f"RSS grew {peak - before:.0f} MB ({codes})"
    if kind == "chat_history":
        assert codes.get("4429", 0) > 0, codes  # reads are rate limited, not queued
    else:  # queued commands are bounded: the hub stopped reading, or ended the flooder
        assert (flooder.ws.close_code == 4020
                or flooder.ws.transport.get_write_buffer_size() > 0), flooder.ws.close_code
    flooder.ws.transport.abort()
    reader.cancel()
    assert await asyncio.wait_for(round_trip(hub, org), 30) < 10
