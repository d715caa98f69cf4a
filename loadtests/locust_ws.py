"""A hub websocket for locust users: websocket-client on gevent, reported through locust.

Every call (a client frame with an ``id`` and the hub's reply to it) and every delivery
that carries a publisher's timestamp fires locust's ``request`` event, so locust's own
stats, CSV and percentiles show them:

* ``WS connect``: TCP connect, handshake and the ``welcome`` frame;
* ``WS <name>``: a call, from send to its reply (``subscribed``, ``result``, ``chat_sent``,
  ``published`` or ``error``); an ``error`` frame fails it with the hub's code;
* ``WSR deliver <kind>``: a room message whose payload holds ``lt:<ns>``, the wall-clock
  time its publisher stamped into it; the "response time" is now - that time.

Process-wide tallies (connections open, deliveries by kind, errors by hub error code and
close code) live in ``TALLY`` and go to the master with each worker report.

Imports only locust, gevent, websocket-client and the standard library: this module runs
inside locust's gevent-patched processes, which must not load the hub's packages.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from gevent.event import AsyncResult
from locust.env import Environment

# The publisher's wall-clock time in ns, inside chat text, request notes, tip messages
# and the DJ's announcements.
MARK = re.compile(rb"lt:(\d{16,20})")
_KIND = re.compile(rb'"data":\{"type":\s*"([a-z_.]+)"')
_MESSAGE = b'{"type":"message"'
# Delivered kinds whose stamp is fresh (stamped by the action that caused this message).
_TIMED = {b"chat": "chat", b"announce": "announce", b"tips.alert_queued": "tip alert"}


def stamp() -> str:
    return f"lt:{time.time_ns()}"


@dataclass
class Tally:
    """What this process saw; absolute counts, summed over workers by the master."""

    open: int = 0
    opened: int = 0
    connect_failed: int = 0
    deliveries: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {"open": self.open, "opened": self.opened, "connect_failed": self.connect_failed,
                "deliveries": self.deliveries, "by_kind": dict(self.by_kind),
                "errors": dict(self.errors)}


TALLY = Tally()


class HubError(Exception):
    """The hub answered a call with an ``error`` frame."""

    def __init__(self, code: int, reason: str, state: Any = None) -> None:
        super().__init__(f"{code} {reason}")
        self.code, self.reason, self.state = code, reason, state


class _BufferedSocket:
    """websocket-client reads its handshake a byte at a time and each frame in two or three
    reads; this hands it bytes from 64 KiB reads instead (one syscall per burst)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""

    def recv(self, n: int) -> bytes:
        if not self._buf:
            self._buf = self._sock.recv(65536)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


Listener = Callable[[bytes], None]


class HubSocket:
    """One websocket to the hub, its receive loop in a greenlet."""

    def __init__(self, env: Environment, url: str, token: str, source_ip: str | None,
                 on_frame: Listener | None = None, timeout: float = 15.0) -> None:
        self.env, self.url, self.token, self.source_ip = env, url, token, source_ip
        self.on_frame = on_frame  # every frame other than a reply, raw
        self.timeout = timeout
        self.ws: websocket.WebSocket | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, AsyncResult] = {}
        self._loop: gevent.Greenlet | None = None
        self._closing = False
        self.welcome: dict[str, Any] = {}

    # -- locust reporting ---------------------------------------------------------------

    def _fire(self, kind: str, name: str, started: float, length: int,
              exc: Exception | None) -> None:
        self.env.events.request.fire(request_type=kind, name=name,
                                     response_time=(time.perf_counter() - started) * 1000,
                                     response_length=length, exception=exc, context={})

    # -- connect and close -------------------------------------------------------------

    def connect(self) -> None:
        """Connect, read ``welcome``, start the receive loop. Raises on failure (reported)."""
        started = time.perf_counter()
        parts = urlsplit(self.url)
        try:
            sock = socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or 80), timeout=self.timeout,
                source_address=(self.source_ip, 0) if self.source_ip else None)
            ws = websocket.WebSocket(skip_utf8_validation=True)
            ws.connect(f"{self.url}?token={self.token}", socket=_BufferedSocket(sock),  # type: ignore[no-untyped-call]
                       timeout=self.timeout, suppress_origin=True)
            opcode, data = ws.recv_data()
            if opcode != websocket.ABNF.OPCODE_TEXT or b'"welcome"' not in data[:20]:
                raise ConnectionError(f"no welcome: {_close_code(opcode, data) or data[:80]!r}")
            ws.settimeout(None)  # the loop blocks (cooperatively) until the next frame
        except Exception as exc:
            TALLY.connect_failed += 1
            TALLY.errors[f"connect {type(exc).__name__}"] += 1
            self._fire("WS", "connect", started, 0, exc)
            raise
        self.welcome = json.loads(data)
        self.ws = ws
        TALLY.open += 1
        TALLY.opened += 1
        self._fire("WS", "connect", started, len(data), None)
        self._loop = gevent.spawn(self._receive, ws)

    def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            ws, self.ws = self.ws, None
            try:
                ws.close(timeout=1)
            except Exception:
                pass
            TALLY.open -= 1
        if self._loop is not None:
            self._loop.kill(block=False)

    @property
    def connected(self) -> bool:
        return self.ws is not None

    # -- calls ------------------------------------------------------------------------

    def call(self, name: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Send ``frame`` with a fresh id, wait for the reply; reported as ``WS name``.

        Raises:
            HubError: the hub answered with an ``error`` frame.
            ConnectionError: not connected, or no reply within the timeout.
        """
        started = time.perf_counter()
        msg_id = next(self._ids)
        waiter: AsyncResult = AsyncResult()
        self._waiting[msg_id] = waiter
        exc: Exception | None = None
        reply: dict[str, Any] = {}
        try:
            ws = self.ws
            if ws is None:
                raise ConnectionError("not connected")
            ws.send(_encode({**frame, "id": msg_id}))
            reply = waiter.get(timeout=self.timeout)
            if reply.get("type") == "error" and not reply.get("code"):
                raise ConnectionError(str(reply.get("reason")))  # closed: tallied as such
            if reply.get("type") == "error":
                exc = HubError(int(reply["code"]), str(reply.get("reason", "")),
                               reply.get("state"))
                TALLY.errors[str(reply["code"])] += 1
        except gevent.Timeout:
            exc = ConnectionError(f"no reply to {name} within {self.timeout:.0f} s")
            TALLY.errors["timeout"] += 1
        except ConnectionError as e:
            exc = e
        except Exception as e:  # the socket died under us
            exc = e
            TALLY.errors[f"send {type(e).__name__}"] += 1
        finally:
            self._waiting.pop(msg_id, None)
        self._fire("WS", name, started, len(json.dumps(reply)) if reply else 0, exc)
        if exc is not None:
            raise exc
        return reply

    def send(self, frame: dict[str, Any]) -> None:
        """Fire and forget (nothing waits for the reply; an error frame is still tallied)."""
        if self.ws is not None:
            self.ws.send(_encode(frame))

    # -- receiving --------------------------------------------------------------------

    def _receive(self, ws: websocket.WebSocket) -> None:
        try:
            while True:
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self._closed(_close_code(opcode, data) or "close")
                    return
                if data.startswith(_MESSAGE):
                    self._delivered(data)
                elif b'"id":' in data:
                    self._reply(data)
                elif data.startswith(b'{"type":"error"'):
                    TALLY.errors[str(json.loads(data).get("code"))] += 1
                elif self.on_frame is not None:
                    self.on_frame(data)
        except Exception as exc:
            if not self._closing:
                self._closed(f"lost {type(exc).__name__}")

    def _reply(self, data: bytes) -> None:
        frame = json.loads(data)
        waiter = self._waiting.get(frame.get("id"))
        if waiter is not None:
            waiter.set(frame)
        else:  # a reply nobody waits for (fire and forget, or after a timeout)
            if frame.get("type") == "error":
                TALLY.errors[str(frame.get("code"))] += 1
            if self.on_frame is not None:
                self.on_frame(data)

    def _delivered(self, data: bytes) -> None:
        now = time.time_ns()
        TALLY.deliveries += 1
        m = _KIND.search(data, 0, 400)
        kind = m.group(1) if m else b"raw"
        TALLY.by_kind[kind.decode()] += 1
        timed = _TIMED.get(kind)
        if timed is None and kind == b"requests" and b'"op":"added"' in data[:400]:
            timed = "request"  # only an added request's note was stamped just now
        if timed is not None and (mark := MARK.search(data)) is not None:
            self.env.events.request.fire(
                request_type="WSR", name=f"deliver {timed}",
                response_time=(now - int(mark.group(1))) / 1e6, response_length=len(data),
                exception=None, context={})
        if self.on_frame is not None:
            self.on_frame(data)

    def _closed(self, why: str) -> None:
        if self._closing:
            return
        self._closing = True
        if self.ws is not None:
            self.ws = None
            TALLY.open -= 1
        if why != "close 1000":
            TALLY.errors[why] += 1
            self.env.events.request.fire(request_type="WS", name="closed by hub",
                                         response_time=0, response_length=0,
                                         exception=ConnectionError(why), context={})
        for waiter in list(self._waiting.values()):
            waiter.set({"type": "error", "code": 0, "reason": why})


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _close_code(opcode: int, data: bytes) -> str | None:
    if opcode != websocket.ABNF.OPCODE_CLOSE:
        return None
    return f"close {struct.unpack('!H', data[:2])[0]}" if len(data) >= 2 else "close"
