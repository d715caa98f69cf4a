"""One client process for ``loadtests/connect.py``: opens many websockets, times each one.

Started by the harness (pinned to the client core), it mints its tokens first, then
waits for ``go`` on stdin, so every process starts opening at the same moment. It
opens ``--count`` connections from its own loopback source address, at most
``--concurrency`` at a time, with a lean hand-rolled client (:class:`Client`: no task
or queue per socket, so the client core is not what limits the rate). In ``hub`` mode
a connection counts once ``subscribed`` arrives (handshake, token check, ``welcome``,
``subscribe`` of the event room); in ``baseline`` mode once the ``101`` arrives.

Control is line-based JSON on stdin/stdout:

* ``go``: open every connection once (no retry); answers ``connected`` with the
  count, failures by code, first start and last success (``time.time_ns``) and the
  HdrHistogram of time to subscribed (µs).
* ``count``: ``alive``, the connections still open.
* ``storm``: drop every connection at once (``SO_LINGER`` 0 + close: the hub sees a
  reset, as from a network drop), then reconnect each one with the browser client's
  backoff (full jitter: ``random(0, min(cap, base * 2**attempt))``, attempt 0 first)
  until it is back or ``--storm-max`` passes; answers ``storm`` with the count back,
  the time from the drop to the last one back, the failed attempts by code, and the
  histogram of time from the drop to subscribed.
* ``exit``: leave without closing the sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import struct
import sys
import time
from collections import Counter
from typing import Any

import uvloop
from hdrh.histogram import HdrHistogram

HIST_MIN_US = 1
HIST_MAX_US = 600_000_000
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_LINGER_RESET = struct.pack("ii", 1, 0)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_MIN_US, HIST_MAX_US, 3)


class Refused(Exception):
    """An attempt that failed; ``code`` is how (``http 503``, ``close 4503``, ``reset``...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Client(asyncio.Protocol):
    """One websocket: the handshake, then (hub) welcome -> subscribe -> subscribed."""

    def __init__(self, args: argparse.Namespace, token: str | None,
                 opened: asyncio.Future[None]) -> None:
        self.args, self.token, self.opened = args, token, opened
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        path = "/ws" + (f"?token={self.token}" if self.token is not None else "")
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(  # type: ignore[attr-defined]
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
            status = bytes(buf[: buf.find(b"\r\n")]).split()
            del buf[: end + 4]
            if len(status) < 2 or status[1] != b"101":
                self._fail(f"http {status[1].decode() if len(status) > 1 else '?'}")
                return
            self.upgraded = True
            if self.args.mode == "baseline":
                self._open()
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = int.from_bytes(buf[pos + 2:pos + 4], "big"), pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(buf[pos + 2:pos + 10], "big"), pos + 10
            if size - start < n:
                break
            pos = start + n
            opcode = b0 & 0x0F
            if opcode == 1 and not self.opened.done():
                self._control(bytes(buf[start:pos]))
            elif opcode == 9:
                self._send(0xA, bytes(buf[start:pos]))
            elif opcode == 8:
                code = int.from_bytes(buf[start:start + 2], "big") if n >= 2 else 1005
                self._fail(f"close {code}")
        del buf[:pos]

    def _control(self, data: bytes) -> None:
        frame = json.loads(data)
        kind = frame.get("type")
        if kind == "welcome":
            self._send(0x1, json.dumps({"type": "subscribe", "room": self.args.room}).encode())
        elif kind == "subscribed":
            self._open()
        elif kind == "error":
            self._fail(f"error {frame.get('code')}")

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes((0x80 | opcode, 0x80 | n)) if n < 126 else (
            bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big"))
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head + mask + body)

    def _open(self) -> None:
        self.alive = True
        if not self.opened.done():
            self.opened.set_result(None)

    def _fail(self, code: str) -> None:
        self.alive = False
        if not self.opened.done():
            self.opened.set_exception(Refused(code))
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if not self.opened.done():
            self.opened.set_exception(Refused("reset"))

    def drop(self) -> None:
        """Reset the TCP connection at once (no close handshake), like a network drop."""
        self.alive = False
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self.transport.abort()


async def open_one(args: argparse.Namespace, token: str | None) -> Client:
    """Open one connection until subscribed (hub) or upgraded (baseline).

    Raises:
        Refused: with the failure's code.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    opened: asyncio.Future[None] = loop.create_future()
    transport: asyncio.Transport | None = None
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((args.source_ip, 0))
        sock.setblocking(False)
        async with asyncio.timeout(args.attempt_timeout):
            try:
                await loop.sock_connect(sock, (args.host, args.port))
            except ConnectionRefusedError:
                raise Refused("refused") from None
            transport, client = await loop.create_connection(
                lambda: Client(args, token, opened), sock=sock)
            await opened
        return client
    except TimeoutError:
        if transport is not None:
            transport.abort()
        else:
            sock.close()
        raise Refused("timeout") from None
    except OSError as exc:
        sock.close()
        raise Refused(f"os {exc.errno}") from None
    except BaseException:
        if transport is None:
            sock.close()
        raise


class Fleet:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tokens: list[str | None] = [None] * args.count
        if args.mode == "hub":
            from hub.auth import mint_token

            self.tokens = [mint_token(args.secret, sub=f"connect-{args.index}-{i}", org=args.org,
                                      roles=["viewer"], ttl=3600) for i in range(args.count)]
        self.clients: list[Client | None] = [None] * args.count

    async def connect_all(self) -> dict[str, Any]:
        gate = asyncio.Semaphore(self.args.concurrency)
        hist = new_histogram()
        errors: Counter[str] = Counter()
        last_ns = 0

        async def one(i: int) -> None:
            nonlocal last_ns
            async with gate:
                t0 = time.perf_counter_ns()
                try:
                    self.clients[i] = await open_one(self.args, self.tokens[i])
                except Refused as exc:
                    errors[exc.code] += 1
                    return
                hist.record_value(_clamp((time.perf_counter_ns() - t0) // 1000))
                last_ns = time.time_ns()

        first_ns = time.time_ns()
        await asyncio.gather(*(one(i) for i in range(self.args.count)))
        return {"event": "connected", "connected": sum(c is not None for c in self.clients),
                "errors": dict(errors), "first_ns": first_ns, "last_ns": last_ns,
                "hist": hist.encode().decode("ascii")}

    def alive(self) -> int:
        return sum(1 for c in self.clients if c is not None and c.alive)

    async def storm(self) -> dict[str, Any]:
        args = self.args
        live = [i for i, c in enumerate(self.clients) if c is not None]
        drop_ns = time.time_ns()
        for i in live:
            client = self.clients[i]
            assert client is not None
            client.drop()
        t0 = time.perf_counter_ns()
        deadline = time.monotonic() + args.storm_max
        hist = new_histogram()
        errors: Counter[str] = Counter()
        attempts = 0
        last_ns = 0

        async def back(i: int) -> None:
            nonlocal attempts, last_ns
            attempt = 0
            while time.monotonic() < deadline:
                cap = min(args.cap_ms, args.base_ms * 2 ** min(attempt, 30)) / 1000
                await asyncio.sleep(random.random() * cap)
                attempts += 1
                try:
                    self.clients[i] = await open_one(args, self.tokens[i])
                except Refused as exc:
                    errors[exc.code] += 1
                    attempt += 1
                    continue
                hist.record_value(_clamp((time.perf_counter_ns() - t0) // 1000))
                last_ns = time.time_ns()
                return
            self.clients[i] = None

        await asyncio.gather(*(back(i) for i in live))
        return {"event": "storm", "dropped": len(live),
                "back": sum(1 for i in live if self.clients[i] is not None),
                "attempts": attempts, "errors": dict(errors), "drop_ns": drop_ns,
                "last_ns": last_ns, "hist": hist.encode().decode("ascii")}


def _clamp(us: int) -> int:
    return min(max(us, HIST_MIN_US), HIST_MAX_US)


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    fleet = Fleet(args)
    _emit({"event": "minted", "count": args.count})
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).strip():
        if line == b"go":
            _emit(await fleet.connect_all())
        elif line == b"count":
            _emit({"event": "count", "alive": fleet.alive()})
        elif line == b"storm":
            _emit(await fleet.storm())
        elif line == b"exit":
            break
    sys.stdout.flush()
    os._exit(0)  # the server is stopped next; closing every socket cleanly is not needed


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
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--room", default="")
    parser.add_argument("--org", default="")
    parser.add_argument("--secret", default=os.environ.get("HUB_SECRET", ""))
    parser.add_argument("--attempt-timeout", type=float, default=15.0)
    parser.add_argument("--base-ms", type=float, default=500.0, help="backoff base (client's)")
    parser.add_argument("--cap-ms", type=float, default=15000.0, help="backoff cap (client's)")
    parser.add_argument("--storm-max", type=float, default=30.0)
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
