"""One client address cannot exhaust the hub: timeouts, body and header caps, per-address slots."""

from __future__ import annotations

import asyncio
import time

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake

from tests.support.client import token
from tests.support.hubproc import HubProcess

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_from(hub: HubProcess, source: str) -> Stream:
    """A raw TCP connection to the hub from a chosen loopback address."""
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", hub.port, local_addr=(source, 0)), 10)


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    data = b""

    async def drain() -> None:
        nonlocal data
        while chunk := await reader.read(65536):
            data += chunk

    try:
        await asyncio.wait_for(drain(), timeout)
    except ConnectionResetError:
        pass
    return data


async def seconds_until_closed(reader: asyncio.StreamReader, since: float,
                               timeout: float) -> float:
    """Seconds from ``since`` until the server closed the connection, sending nothing."""
    assert await read_until_closed(reader, timeout) == b""
    return time.monotonic() - since


async def get_from(hub: HubProcess, source: str, path: str = "/health") -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=hub.url, transport=transport, timeout=5) as http:
        return await http.get(path)


def open_fds(hub: HubProcess) -> int:
    return int(psutil.Process(hub.proc.pid).num_fds())


def rss(hub: HubProcess) -> int:
    return int(psutil.Process(hub.proc.pid).memory_info().rss)


async def test_slowloris_cannot_starve_other_clients(hub_factory, org):
    """Half-open requests from one address are capped and closed; other addresses are served."""
    hub = hub_factory(HUB_MAX_CONNECTIONS_PER_ADDRESS="50", HUB_HEADER_TIMEOUT="3")
    baseline = open_fds(hub)
    attackers: list[tuple[float, Stream]] = []
    for _ in range(300):
        reader, writer = await open_from(hub, "127.0.0.1")
        writer.write(b"GET /health HTTP/1.1\r\nHost: hub\r\nX-Slow: ")  # never finished
        attackers.append((time.monotonic(), (reader, writer)))
    try:
        # Everyone else is still served, over HTTP and websocket, during the attack.
        assert (await get_from(hub, "127.0.0.2")).status_code == 200
        ws = await asyncio.wait_for(connect(
            f"{hub.ws_url}?token={token(org)}", local_addr=("127.0.0.2", 0)), 10)
        assert '"welcome"' in str(await asyncio.wait_for(ws.recv(), 10))
        await ws.close()
        closed_after = await asyncio.gather(*(seconds_until_closed(r, opened, 20)
                                              for opened, (r, _) in attackers))
        # The hub gave every descriptor back, while the attacker still holds its end.
        assert open_fds(hub) < baseline + 20, (open_fds(hub), baseline)
    finally:
        for _, (_, writer) in attackers:
            writer.close()
    # 50 got a slot and were cut by the 3 s header timeout; the other 250 were
    # closed as soon as they were accepted.
    refused = [t for t in closed_after if t < 1.5]
    timed_out = [t for t in closed_after if 2.5 <= t < 15]
    assert len(refused) == 250 and len(timed_out) == 50, sorted(closed_after)
    assert (await get_from(hub, "127.0.0.1")).status_code == 200  # slots were given back


async def test_websockets_count_against_their_address_until_closed(hub_factory, org):
    """An open websocket holds its address slot; closing it frees the slot."""
    hub = hub_factory(HUB_MAX_CONNECTIONS_PER_ADDRESS="3")
    url = f"{hub.ws_url}?token={token(org)}"
    sockets = [await asyncio.wait_for(connect(url, local_addr=("127.0.0.3", 0)), 10)
               for _ in range(3)]
    with pytest.raises((InvalidHandshake, OSError, EOFError)):
        extra = await asyncio.wait_for(connect(url, local_addr=("127.0.0.3", 0)), 10)
        await asyncio.wait_for(extra.recv(), 5)
    assert (await get_from(hub, "127.0.0.4")).status_code == 200  # other addresses unaffected
    await sockets.pop().close()

    async def reconnect() -> None:
        while True:
            try:
                ws = await connect(url, local_addr=("127.0.0.3", 0))
            except (InvalidHandshake, OSError, EOFError):
                await asyncio.sleep(0.05)  # the server may not have seen the close yet
                continue
            sockets.append(ws)
            return

    await asyncio.wait_for(reconnect(), 10)
    for ws in sockets:
        await ws.close()


@pytest.fixture
def stripe_hub(hub_factory) -> HubProcess:
    hub: HubProcess = hub_factory(db=True, STRIPE_SECRET_KEY="sk_test_edge",
                                  STRIPE_WEBHOOK_SECRET="whsec_edge", HUB_BODY_TIMEOUT="1")
    return hub


def post_head(length: int, path: str = "/webhooks/stripe") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            f"Stripe-Signature: t=1,v1=00\r\nContent-Length: {length}\r\n\r\n").encode()


async def test_oversize_webhook_body_is_refused_before_it_is_read(stripe_hub):
    """A declared 9.9 MB Stripe webhook body gets 413 at once; memory stays flat."""
    hub = stripe_hub
    await get_from(hub, "127.0.0.1")  # warm up before measuring
    before = rss(hub)
    chunk = b"x" * 65536

    async def attack() -> bytes:
        reader, writer = await open_from(hub, "127.0.0.1")
        writer.write(post_head(9_900_000))
        try:
            for _ in range(16):  # up to 1 MB each, if the server keeps reading
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 2)
        except (OSError, TimeoutError):
            pass
        answer = await read_until_closed(reader, 10)
        writer.close()
        return answer

    answers = await asyncio.gather(*(attack() for _ in range(60)))
    assert all(a.startswith(b"HTTP/1.1 413") for a in answers), answers[0][:200]
    grown = rss(hub) - before
    assert grown < 40 * 1024 * 1024, f"RSS grew {grown / 2**20:.0f} MiB"
    assert (await get_from(hub, "127.0.0.1")).status_code == 200


async def test_stalled_body_is_cut_after_body_timeout(stripe_hub):
    """A body that stops arriving gets 408 and a close after HUB_BODY_TIMEOUT."""
    reader, writer = await open_from(stripe_hub, "127.0.0.1")
    writer.write(post_head(1000) + b'{"id": "evt_')
    started = time.monotonic()
    answer = await read_until_closed(reader, 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 8


async def test_huge_headers_get_431(hub_factory):
    """Request headers past HUB_MAX_HEADER_BYTES get 431 and a close, not unbounded buffering."""
    hub = hub_factory(HUB_MAX_HEADER_BYTES="4096")
    reader, writer = await open_from(hub, "127.0.0.1")
    writer.write(b"GET /health HTTP/1.1\r\nHost: hub\r\n")
    try:
        for _ in range(64):
            writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
            await asyncio.wait_for(writer.drain(), 2)
    except (OSError, TimeoutError):
        pass
    answer = await read_until_closed(reader, 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert (await get_from(hub, "127.0.0.1")).status_code == 200
