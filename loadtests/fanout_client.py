"""One subscriber process for ``loadtests/fanout.py``: holds many websockets, times deliveries.

Started by the harness (pinned to the client core), it opens ``--count``
connections from its own loopback source address, at most ``--concurrency``
handshakes at a time, with the ``websockets`` asyncio client (``--impl
websockets``, compression off) or the lean ``RawSubscriber`` (``--impl
raw``). In ``hub`` mode each connection presents its own token and
subscribes to the room; in ``baseline`` mode connecting is subscribing.

Every delivered message carries the publisher's *intended* send time
(``"t"``, ns since the epoch) and sequence number (``"seq"``); the process
records ``receive time - t`` in microseconds into one HdrHistogram.

Control is line-based JSON: on stdout it prints ``{"event": "ready", ...}``
once all connections are up; then it answers each stdin line ``count`` with a
``count`` event and ``report`` with a ``report`` event (histogram encoded with
``HdrHistogram.encode``), after which it exits without closing its sockets.
``window`` answers like ``report`` but then zeroes the figures and keeps the
connections open, for the next publish window on the same subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import sys
import time
from typing import Any

import uvloop
from hdrh.histogram import HdrHistogram
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# Latency histogram: 1 us .. 10 min, 3 significant digits.
HIST_MIN_US = 1
HIST_MAX_US = 600_000_000
HIST_DIGITS = 3

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_MIN_US, HIST_MAX_US, HIST_DIGITS)


def parse_stamp(data: bytes) -> tuple[int, int] | None:
    """``(t, seq)`` from a delivery: the hub's ``{"type":"message",...,"data":{"t":..}}``
    wrapper or the baseline's raw ``{"t":..,"seq":..}``. ``None`` for other frames.

    The publisher writes compact JSON with ``t`` then ``seq`` first, and both
    servers pass the payload through byte for byte, so a scan beats a parse.
    """
    i = data.find(b'"t":')
    if i < 0:
        return None
    j = data.find(b",", i)
    k = data.find(b'"seq":', j)
    if j < 0 or k < 0:
        return None
    m = k + 6
    n = m
    while 48 <= data[n] <= 57:
        n += 1
    return int(data[i + 4 : j]), int(data[m:n])


class Stats:
    def __init__(self, seq_lo: int, seq_hi: int) -> None:
        self.hist = new_histogram()
        self.received = 0  # deliveries with a seq of this run
        self.foreign = 0  # frames with a stamp outside this run's seq range
        self.out_of_order = 0
        self.closed = 0  # connections that closed during the run
        self.last_ns = 0
        self.seq_lo = seq_lo
        self.seq_hi = seq_hi

    def reset(self) -> None:
        """Zero the figures of a window (connections, and their last seq, stay)."""
        self.hist = new_histogram()
        self.received = self.foreign = self.out_of_order = self.closed = 0
        self.last_ns = 0


async def _open(args: argparse.Namespace, index: int, token: str | None) -> ClientConnection:
    url = f"ws://{args.host}:{args.port}/ws"
    if token is not None:
        url += f"?token={token}"
    sock = await _connected_socket(args)
    ws = await connect(url, sock=sock, compression=None, ping_interval=None,
                       max_queue=4096, max_size=1 << 20, open_timeout=60, close_timeout=1,
                       user_agent_header=None)
    if args.mode == "hub":
        welcome = json.loads(await ws.recv())
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"expected welcome, got {welcome}")
        await ws.send(json.dumps({"type": "subscribe", "room": args.room}))
        while True:
            reply = json.loads(await ws.recv())
            if reply.get("type") == "subscribed":
                break
            if reply.get("type") == "error":
                raise RuntimeError(f"subscribe refused: {reply}")
    return ws


async def _receive(ws: ClientConnection, stats: Stats) -> None:
    last_seq = -1
    try:
        while True:
            data = await ws.recv(decode=False)
            now = time.time_ns()
            stamp = parse_stamp(data)  # type: ignore[arg-type]
            if stamp is None:
                continue
            t, seq = stamp
            if not stats.seq_lo <= seq < stats.seq_hi:
                stats.foreign += 1
                continue
            if seq <= last_seq:
                stats.out_of_order += 1
            last_seq = seq
            stats.received += 1
            stats.last_ns = now
            us = (now - t) // 1000
            stats.hist.record_value(min(max(us, HIST_MIN_US), HIST_MAX_US))  # reset per window
    except ConnectionClosed:
        stats.closed += 1

class RawSubscriber(asyncio.Protocol):
    """A lean websocket subscriber (``--impl raw``): hand-rolled handshake and frame parser.

    It exists so one client core can take far more deliveries per second than
    the ``websockets`` asyncio client (no task, queue or future per message):
    server frames are small, unmasked and unfragmented, so parsing them is a
    few byte reads. Pings are answered; a close frame or EOF counts as closed.
    """

    def __init__(self, args: argparse.Namespace, token: str | None, stats: Stats,
                 opened: asyncio.Future[None]) -> None:
        self.args, self.token, self.stats, self.opened = args, token, stats, opened
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.live = False  # subscribed: frames are deliveries from now on
        self.gone = False
        self.last_seq = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        path = "/ws" + (f"?token={self.token}" if self.token is not None else "")
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(  # type: ignore[union-attr]
            f"GET {path} HTTP/1.1\r\nHost: {self.args.host}:{self.args.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self._fail(RuntimeError(f"handshake refused: {status.decode(errors='replace')}"))
                return
            self.upgraded = True
            if self.args.mode == "baseline":
                self._open()
        now = time.time_ns()
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1]
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            elif n > 127:
                self._fail(RuntimeError("masked frame from the server"))
                return
            if size - start < n:
                break
            pos = start + n
            opcode = b0 & 0x0F
            if opcode == 1 and self.live:
                self._delivery(bytes(buf[start:pos]), now)
            elif opcode == 1:
                self._control(bytes(buf[start:pos]))
            elif opcode == 9:
                self._send(0xA, bytes(buf[start:pos]))
            elif opcode == 8:
                self._closed()
                if self.transport is not None:
                    self.transport.close()
        del buf[:pos]

    def _delivery(self, data: bytes, now: int) -> None:
        stamp = parse_stamp(data)
        if stamp is None:
            return
        t, seq = stamp
        stats = self.stats
        if not stats.seq_lo <= seq < stats.seq_hi:
            stats.foreign += 1
            return
        if seq <= self.last_seq:
            stats.out_of_order += 1
        self.last_seq = seq
        stats.received += 1
        stats.last_ns = now
        us = (now - t) // 1000
        stats.hist.record_value(min(max(us, HIST_MIN_US), HIST_MAX_US))

    def _control(self, data: bytes) -> None:
        """Hub handshake: welcome -> subscribe -> subscribed."""
        kind = json.loads(data).get("type")
        if kind == "welcome":
            self._send(0x1, json.dumps({"type": "subscribe", "room": self.args.room}).encode())
        elif kind == "subscribed":
            self._open()
        elif kind == "error":
            self._fail(RuntimeError(f"refused: {data[:150]!r}"))

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes((0x80 | opcode, 0x80 | n)) if n < 126 else (
            bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big"))
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head + mask + body)

    def _open(self) -> None:
        self.live = True
        if not self.opened.done():
            self.opened.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def _closed(self) -> None:
        if self.live and not self.gone:
            self.stats.closed += 1
        self.gone = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))


async def _connected_socket(args: argparse.Namespace) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Let connect() pick the port per destination, so one source address is not
        # limited to one port range across all rounds.
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((args.source_ip, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (args.host, args.port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _open_raw(args: argparse.Namespace, token: str | None, stats: Stats) -> None:
    loop = asyncio.get_running_loop()
    sock = await _connected_socket(args)
    opened: asyncio.Future[None] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: RawSubscriber(args, token, stats, opened), sock=sock)
    try:
        await asyncio.wait_for(opened, 60)
    except BaseException:
        transport.abort()
        raise


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats(args.seq_lo, args.seq_hi)
    tokens: list[str | None] = [None] * args.count
    if args.mode == "hub":
        from hub.auth import mint_token

        tokens = [mint_token(args.secret, sub=f"fanout-{args.index}-{i}", org=args.org,
                             roles=["viewer"], ttl=3600) for i in range(args.count)]
    gate = asyncio.Semaphore(args.concurrency)
    errors: list[str] = []
    conns: list[ClientConnection] = []
    readers: list[asyncio.Task[None]] = []

    opened = 0

    async def one(i: int) -> None:
        nonlocal opened
        async with gate:
            try:
                if args.impl == "raw":
                    await _open_raw(args, tokens[i], stats)
                else:
                    ws = await _open(args, i, tokens[i])
                    conns.append(ws)
                    readers.append(asyncio.create_task(_receive(ws, stats)))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return
        opened += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.count)))
    _emit({"event": "ready", "connected": opened, "failed": len(errors),
           "errors": errors[:5], "seconds": round(time.monotonic() - started, 3)})

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).strip():
        if line == b"count":
            _emit({"event": "count", "received": stats.received, "closed": stats.closed})
        elif line in (b"report", b"window"):
            _emit({"event": "report", "received": stats.received, "foreign": stats.foreign,
                   "out_of_order": stats.out_of_order, "closed": stats.closed,
                   "connected": opened, "last_ns": stats.last_ns,
                   "hist": stats.hist.encode().decode("ascii")})
            if line == b"report":
                break
            stats.reset()  # "window": the next window on the same connections starts at 0
    sys.stdout.flush()
    os._exit(0)  # the server is killed next; a clean close of every socket is not needed


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["hub", "baseline"], required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--source-ip", default="127.0.0.1")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--impl", choices=["websockets", "raw"], default="websockets",
                        help="websockets asyncio client, or the lean RawSubscriber")
    parser.add_argument("--room", default="")
    parser.add_argument("--org", default="")
    parser.add_argument("--secret", default=os.environ.get("HUB_SECRET", ""),
                        help="token key (default: $HUB_SECRET)")
    parser.add_argument("--seq-lo", type=int, default=0)
    parser.add_argument("--seq-hi", type=int, default=1 << 62)
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
