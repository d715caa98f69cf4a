"""Chat load process for ``loadtests/persist.py``: closed-loop chat senders, ack latency.

Started by the harness (pinned to the client core), it opens ``--connections``
websockets to the hub from its own loopback source address, each with its
own token (``sub`` = ``<--sub-prefix>-<i>``, role ``--role``), and splits
them evenly among ``--senders`` closed-loop senders. A sender sends one
``{"type":"chat","room":..,"text":..,"client_msg_id":..,"id":..}`` and waits
for its answer (``chat_sent`` or ``error``) before sending the next.

Why several connections per sender: ``rooms/services/chat_rules.py`` allows a non-staff
user at most ``user_burst`` (5) messages per 10 s per room, counted in
Postgres, across all of that user's connections. A sender therefore rotates
over its connections (distinct subs) and uses each for at most
``--per-sub`` messages per ``--window`` seconds; when all of its
connections are spent it waits, and that wait is reported
(``budget_wait_s``) because it caps the measured throughput. Staff roles
(``--role moderator``) are exempt from the rule checks, so one connection
per sender is enough there.

Several rooms (``--rooms a,b,...``): each connection sends its messages to the rooms in
turn, so consecutive messages of one sub visit every room once before any room again; a
sub's budget is then ``--per-sub`` per room, i.e. ``--per-sub`` x rooms per window.
``--watchers W`` opens W more connections per room that subscribe to it and only read
(the room's chat is broadcast to them), so every stored message is also fanned out.

Control is line-based JSON, like ``fanout_client.py``: ``{"event": "ready"}``
once connected; stdin ``start`` starts the senders (answered with
``started``), ``count`` answers with a progress count, ``stop`` lets every
sender finish its in-flight message (up to ``--stop-timeout`` s) and answers
with the ``report`` (ack-latency HdrHistogram, counts, the acked
client_msg_ids, its own CPU seconds since ``start``), then the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections import Counter, deque
from typing import Any

import uvloop

from loadtests.fanout_client import HIST_MAX_US, HIST_MIN_US, _connected_socket, new_histogram


class ConnectionClosed(Exception):
    """The hub closed the websocket (or the TCP connection went)."""


class RawWebSocket(asyncio.Protocol):
    """A lean websocket client: hand-rolled handshake and framing, text frames only.

    The ``websockets`` asyncio client cost this process about 100 us of CPU per chat
    (a send, a receive through its queue, the watchers' frames), on the core it shares
    with the fan-out clients, Postgres and Redis; this one does a send and a parse.
    Server frames are unmasked, unfragmented text; pings are answered. Client frames
    carry the all-zero mask key, which RFC 6455 allows (the key only has to be sent), so
    the payload goes out as is.
    """

    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.frames: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.count_only = False  # watchers: count text frames, keep none
        self.counted = 0

    @classmethod
    async def open(cls, args: argparse.Namespace, token: str) -> RawWebSocket:
        sock = await _connected_socket(args)
        loop = asyncio.get_running_loop()
        _, ws = await loop.create_connection(
            lambda: cls(args.host, args.port, f"/ws?token={token}"), sock=sock)
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"expected welcome, got {welcome}")
        return ws

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

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
                self._lost()
                return
            self.upgraded = True
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size - start < n:
                break
            pos = start + n
            opcode = b0 & 0x0F
            if opcode == 1:
                if self.count_only:
                    self.counted += 1
                else:
                    self.frames.append(bytes(buf[start:pos]))
            elif opcode == 9:
                self._write(0xA, bytes(buf[start:pos]))
            elif opcode == 8:
                self._lost()
        del buf[:pos]
        if self.frames and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def _write(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        else:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head + b"\x00\x00\x00\x00" + payload)

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosed
        self._write(0x1, text.encode())

    async def recv(self) -> bytes:
        """The next text frame."""
        while not self.frames:
            if self.closed:
                raise ConnectionClosed
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.frames.popleft()


class Conn:
    """One websocket with its own ``sub`` and the times of its recent sends."""

    __slots__ = ("index", "pending", "sent", "sent_at", "ws")

    def __init__(self, index: int, ws: RawWebSocket) -> None:
        self.index = index
        self.ws = ws
        self.sent = 0  # messages sent: picks the next room in turn
        self.sent_at: deque[float] = deque()
        self.pending: dict[int, tuple[float, str]] = {}  # open loop: id -> (sent, msg id)


class Stats:
    def __init__(self) -> None:
        self.hist = new_histogram()
        self.acked: list[str] = []
        self.held = 0
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.closed = 0
        self.timeouts = 0
        self.budget_wait_s = 0.0
        self.first_send = 0.0
        self.last_ack = 0.0


def _pick(conns: list[Conn], start: int, per_sub: int, window: float,
          now: float) -> tuple[int, float]:
    """Index of the next connection with budget left (round-robin from ``start``), or -1
    and the time when the first one regains budget."""
    soonest = float("inf")
    n = len(conns)
    for step in range(n):
        c = conns[(start + step) % n]
        while c.sent_at and now - c.sent_at[0] >= window:
            c.sent_at.popleft()
        if len(c.sent_at) < per_sub:
            return (start + step) % n, 0.0
        soonest = min(soonest, c.sent_at[0] + window)
    return -1, soonest


def _chat_frame(conn: Conn, rooms: list[str], text: str, n: int, msg_id: str) -> str:
    """The ``n``-th chat frame, on ``conn``'s next room in turn."""
    room = rooms[(conn.index + conn.sent) % len(rooms)]
    conn.sent += 1
    return json.dumps({"type": "chat", "room": room, "text": f"{text} {n}",
                       "client_msg_id": msg_id, "id": n})


async def sender(sid: int, conns: list[Conn], args: argparse.Namespace, stats: Stats,
                 stop: asyncio.Event) -> None:
    hist = stats.hist
    text = ("chat " + "x" * args.text_bytes)[: args.text_bytes]
    rooms: list[str] = args.rooms
    budget = args.per_sub * len(rooms)  # per room, and the rooms are visited in turn
    n, at = 0, 0
    while not stop.is_set() and conns:
        now = time.monotonic()
        if args.per_sub > 0:
            idx, ready_at = _pick(conns, at, budget, args.window, now)
            if idx < 0:
                wait = ready_at - now
                stats.budget_wait_s += wait
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except TimeoutError:
                    pass
                continue
        else:
            idx = at % len(conns)
        at = idx + 1
        conn = conns[idx]
        n += 1
        msg_id = f"{args.tag}-{sid}-{n}"
        frame = _chat_frame(conn, rooms, text, n, msg_id)
        t0 = time.monotonic()
        conn.sent_at.append(t0)
        if not stats.first_send:
            stats.first_send = time.time()
        try:
            await conn.ws.send(frame)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every receive
            # in a task of its own, a cost on this process' core per message.
            async with asyncio.timeout(args.ack_timeout):
                while True:
                    reply = json.loads(await conn.ws.recv())
                    if reply.get("id") == n and reply.get("type") in {"chat_sent", "error"}:
                        break
        except TimeoutError:
            stats.timeouts += 1
            conns.remove(conn)  # its answer may still come; do not read it as the next one
            continue
        except ConnectionClosed:
            stats.closed += 1
            conns.remove(conn)
            continue
        done = time.monotonic()
        if reply["type"] == "chat_sent":
            stats.acked.append(msg_id)
            stats.last_ack = time.time()
            if reply.get("status") == "held":
                stats.held += 1
            us = int((done - t0) * 1e6)
            hist.record_value(min(max(us, HIST_MIN_US), HIST_MAX_US))
        else:
            key = str(reply.get("code"))
            stats.errors[key] += 1
            if len(stats.error_samples) < 5:
                stats.error_samples.append(f"{key}: {reply.get('reason')}"[:200])


def _answered(stats: Stats, reply: dict[str, Any], msg_id: str, t0: float,
              done: float) -> None:
    if reply["type"] == "chat_sent":
        stats.acked.append(msg_id)
        stats.last_ack = time.time()
        if reply.get("status") == "held":
            stats.held += 1
        us = int((done - t0) * 1e6)
        stats.hist.record_value(min(max(us, HIST_MIN_US), HIST_MAX_US))
    else:
        key = str(reply.get("code"))
        stats.errors[key] += 1
        if len(stats.error_samples) < 5:
            stats.error_samples.append(f"{key}: {reply.get('reason')}"[:200])


async def answers(conn: Conn, conns: list[Conn], stats: Stats) -> None:
    """Open loop: match each connection's replies to its sends by ``id``."""
    try:
        while True:
            reply = json.loads(await conn.ws.recv())
            sent = conn.pending.pop(reply.get("id"), None)
            if sent is not None and reply.get("type") in {"chat_sent", "error"}:
                _answered(stats, reply, sent[1], sent[0], time.monotonic())
    except ConnectionClosed:
        stats.closed += 1
        if conn in conns:
            conns.remove(conn)


async def pacer(conns: list[Conn], args: argparse.Namespace, stats: Stats,
                stop: asyncio.Event) -> None:
    """Open loop (``--rate``): send at a fixed total rate, whatever the answers do.

    Every 2 ms it sends what is due since the start, each on the next connection with
    budget left, so a slow hub shows up as ack latency, not as a lower offered rate.
    """
    text = ("chat " + "x" * args.text_bytes)[: args.text_bytes]
    rooms: list[str] = args.rooms
    budget = args.per_sub * len(rooms)
    started, n, at = time.monotonic(), 0, 0
    stats.first_send = time.time()
    while not stop.is_set() and conns:
        now = time.monotonic()
        due = int((now - started) * args.rate)
        while n < due and conns:
            if args.per_sub > 0:
                idx, _ = _pick(conns, at, budget, args.window, now)
                if idx < 0:
                    stats.budget_wait_s += 0.002
                    break
            else:
                idx = at % len(conns)
            at = idx + 1
            conn = conns[idx]
            n += 1
            msg_id = f"{args.tag}-o-{n}"
            frame = _chat_frame(conn, rooms, text, n, msg_id)
            conn.sent_at.append(now)
            conn.pending[n] = (now, msg_id)
            try:
                await conn.ws.send(frame)
            except ConnectionClosed:
                conn.pending.pop(n, None)
        await asyncio.sleep(0.002)


async def main(args: argparse.Namespace) -> None:
    from hub.auth import mint_token

    loop = asyncio.get_running_loop()
    tokens = [mint_token(args.secret, sub=f"{args.sub_prefix}-{i}", org=args.org,
                         roles=[args.role], ttl=3600) for i in range(args.connections)]
    gate = asyncio.Semaphore(args.concurrency)
    errors: list[str] = []
    conns: list[Conn] = []

    async def one(i: int) -> None:
        async with gate:
            try:
                conns.append(Conn(i, await RawWebSocket.open(args, tokens[i])))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    watchers: list[RawWebSocket] = []
    total = len(args.rooms) * args.watchers
    settled, all_settled = [0], asyncio.Event()

    def one_settled() -> None:
        settled[0] += 1
        if settled[0] >= total:
            all_settled.set()

    async def watch(room: str, i: int) -> None:
        async with gate:
            try:
                ws = await RawWebSocket.open(args, mint_token(
                    args.secret, sub=f"{args.sub_prefix}-w{i}", org=args.org,
                    roles=["viewer"], ttl=3600))
                await ws.send(json.dumps({"type": "subscribe", "room": room}))
                while json.loads(await asyncio.wait_for(ws.recv(), 60)).get(
                        "type") != "subscribed":
                    pass
            except Exception as exc:
                errors.append(f"watcher {type(exc).__name__}: {exc}"[:200])
                one_settled()
                return
        ws.count_only = True  # the room's chat from now on: counted, not read
        ws.counted = len(ws.frames)
        ws.frames.clear()
        watchers.append(ws)
        one_settled()

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.connections)))
    watching = [asyncio.create_task(watch(room, r * args.watchers + w))
                for r, room in enumerate(args.rooms) for w in range(args.watchers)]
    if watching:
        await all_settled.wait()
    conns.sort(key=lambda c: c.index)
    _emit({"event": "ready", "connected": len(conns), "watchers": len(watchers),
           "failed": len(errors),
           "errors": errors[:5], "seconds": round(time.monotonic() - started, 3)})

    stats = Stats()
    stop = asyncio.Event()
    groups = [conns[s::args.senders] for s in range(args.senders)]
    tasks: list[asyncio.Task[None]] = []
    readers: list[asyncio.Task[None]] = []
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    t_start = cpu_start = 0.0
    while line := (await reader.readline()).strip():
        if line == b"start":
            t_start = time.time()
            cpu_start = time.process_time()
            if args.rate > 0:
                tasks = [asyncio.create_task(pacer(conns, args, stats, stop))]
                readers = [asyncio.create_task(answers(c, conns, stats)) for c in conns]
            else:
                tasks = [asyncio.create_task(sender(s, g, args, stats, stop))
                         for s, g in enumerate(groups) if g]
            _emit({"event": "started", "senders": len(tasks)})
        elif line == b"count":
            _emit({"event": "count", "acked": len(stats.acked)})
        elif line == b"stop":
            t_stop = time.time()
            stop.set()
            _, pending = await asyncio.wait(tasks, timeout=args.stop_timeout) if tasks else (
                set(), set())
            for task in pending:
                task.cancel()
            # Open loop: let the answers to what was sent arrive (up to --stop-timeout).
            deadline = time.monotonic() + args.stop_timeout
            while any(c.pending for c in conns) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            unanswered = sum(len(c.pending) for c in conns)
            for task in readers:
                task.cancel()
            _emit({"event": "report", "acked": len(stats.acked), "held": stats.held,
                   "errors": dict(stats.errors), "error_samples": stats.error_samples,
                   "closed": stats.closed, "timeouts": stats.timeouts,
                   "unfinished": len(pending) + unanswered,
                   "budget_wait_s": round(stats.budget_wait_s, 3),
                   "t_start": t_start, "t_stop": t_stop, "first_send": stats.first_send,
                   "last_ack": stats.last_ack, "acked_ids": stats.acked,
                   "watched": sum(w.counted for w in watchers),
                   "cpu_s": time.process_time() - cpu_start,
                   "hist": stats.hist.encode().decode("ascii")})
            break
    sys.stdout.flush()
    os._exit(0)  # the server is stopped next; no need to close every socket cleanly


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--room", help="the one room to chat in (or --rooms)")
    parser.add_argument("--rooms", default="", help="comma-separated rooms, visited in turn")
    parser.add_argument("--watchers", type=int, default=0,
                        help="read-only subscribers per room (viewer tokens)")
    parser.add_argument("--org", required=True)
    parser.add_argument("--secret", default=os.environ.get("HUB_SECRET", ""),
                        help="token key (default: $HUB_SECRET)")
    parser.add_argument("--role", default="viewer")
    parser.add_argument("--senders", type=int, default=50, help="closed-loop senders")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: chats per second over all connections, sent "
                             "whatever the answers do (0: closed loop, --senders)")
    parser.add_argument("--connections", type=int, default=50,
                        help="websockets (one sub each), split evenly among the senders")
    parser.add_argument("--per-sub", type=int, default=5,
                        help="messages per sub per --window s (0: no budget, staff roles)")
    parser.add_argument("--window", type=float, default=11.0,
                        help="seconds of the per-sub budget (the hub counts 10 s)")
    parser.add_argument("--sub-prefix", default="chat")
    parser.add_argument("--tag", default="c", help="client_msg_id prefix")
    parser.add_argument("--text-bytes", type=int, default=60)
    parser.add_argument("--source-ip", default="127.0.0.1")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--ack-timeout", type=float, default=30.0)
    parser.add_argument("--stop-timeout", type=float, default=30.0)
    args = parser.parse_args()
    if args.senders < 1 or args.connections < args.senders:
        parser.error("need --connections >= --senders >= 1")
    args.rooms = [r for r in args.rooms.split(",") if r] or ([args.room] if args.room else [])
    if not args.rooms:
        parser.error("need --room or --rooms")
    uvloop.run(main(args))


if __name__ == "__main__":
    cli()
