"""The websocket I/O shell: an asyncio protocol plugged into uvicorn as its ``ws`` class.

It moves bytes, frames them, and applies backpressure both ways; what a frame means is
``hub.session``'s business and what a command does is ``hub.commands``'.

Why not a Litestar websocket route: measured on this machine, the ASGI path
costs ~3x the CPU per delivery of ``websockets.broadcast()`` and ~2x the
memory per socket (one task, a receive queue and an ASGI message dict per
send). Here a connection is a plain protocol object with no task of its own:
``websockets``' sans-I/O ``ServerProtocol`` parses frames, ``hub.session``
decides, and room messages are written to the transport as bytes that were
framed once for every subscriber. Litestar still serves all HTTP routes.

Send queue and slow-consumer policy: writes go straight to the transport
while it accepts them. Once asyncio's write buffer passes its high-water
mark (``pause_writing``), frames queue in ``_backlog``; when the backlog
exceeds ``HUB_SEND_QUEUE_BYTES`` it is dropped and the connection is closed
with 4008 (slow consumer). Nobody else waits for a slow client.

Receive queue and flooding clients: commands that need the node wait in
``_inbox`` and run one at a time. When ``HUB_MAX_PENDING`` are waiting the
hub stops reading the socket (``pause_reading``: TCP pushes back on the
client) and holds the frames it had already read; it reads again once the
queue is half empty. Only a single read that overshoots the bound four times
closes the connection (4020). Reads are rate limited in the session, so a
flood of queries is answered with 4429 instead of queueing.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from hub import metrics
from hub import protocol as p
from hub.auth import TokenError
from hub.overlays import OverlayRefused
from hub.runtime import Hub
from hub.service_events import reserved_types
from hub.session import Command, Reply, Session, error
from rooms.principal import Principal

log = logging.getLogger(__name__)
# websockets logs every open and close at INFO; at thousands of sockets that is noise.
_wire_log = logging.getLogger("hub.wire")
_wire_log.setLevel(logging.WARNING)

WS_PATH = "/ws"

# Handshakes waiting on a membership or overlay lookup (held here so they are not collected).
_confirming: set[asyncio.Task[None]] = set()

# One-entry cache: a fan-out hands every subscriber the same bytes object, so
# the websocket frame around it is built once per message, not per socket.
_last_payload: bytes | None = None
_last_frame: bytes = b""


def frame_text(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame (RFC 6455 section 5.2), framed by websockets."""
    global _last_payload, _last_frame
    if payload is not _last_payload:
        _last_payload = payload
        _last_frame = Frame(Opcode.TEXT, payload).serialize(mask=False)
    return _last_frame


# websockets' own rules for a header line (websockets.http11.parse_headers).
_TOKEN = re.compile(rb"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+")
_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")
# Past these, or with anything a handshake should not carry, websockets' parser judges
# the request bytes itself (its limits are 8 KiB per line and 128 headers).
_MAX_LINE = 4096
_MAX_HEADERS = 64


def parsed_request(method: str, target: bytes,
                   headers: list[tuple[bytes, bytes]]) -> Request | None:
    """The ``Request`` websockets would parse from the request uvicorn already parsed, or
    None when only websockets' parser can say how to answer (it then gets the bytes).

    uvicorn hands the websocket protocol the request rebuilt as bytes
    (``METHOD target HTTP/1.1``, then ``name: value`` lines with lowercased names), which
    websockets parses a second time: ~5% of a connection's set-up. This builds the same
    ``Request`` directly for a well-formed ``GET``, checking each line as websockets would.
    """
    if (method != "GET" or len(target) > _MAX_LINE or b" " in target
            or len(headers) > _MAX_HEADERS):
        return None
    try:
        path = target.decode("ascii")
    except UnicodeDecodeError:
        return None
    parsed = Headers()
    for name, raw in headers:
        value = raw.strip(b" \t")
        if (len(name) + len(value) > _MAX_LINE or name in (b"transfer-encoding", b"content-length")
                or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value)):
            return None
        parsed.set_insecure(name.decode("ascii"), value.decode("iso-8859-1"))
    return Request(path, parsed)


def request_bytes(method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request as uvicorn rebuilds it for a websocket protocol."""
    output = [method.encode(), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        output += [name, b": ", value, b"\r\n"]
    output.append(b"\r\n")
    return b"".join(output)


_date_second = -1
_date_header = ""


def _http_date() -> str:
    """``email.utils.formatdate(usegmt=True)``, formatted once per second."""
    global _date_second, _date_header
    now = time.time()
    if int(now) != _date_second:
        _date_second = int(now)
        _date_header = email.utils.formatdate(now, usegmt=True)
    return _date_header


def switching_protocols(accept: str) -> bytes:
    """The ``101`` websockets' ``accept`` answers a handshake with no extension and no
    subprotocol, byte for byte, with its ``Date`` formatted once per second."""
    return (f"HTTP/1.1 101 Switching Protocols\r\nDate: {_http_date()}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()


def drop_handshake(ws: ServerProtocol) -> None:
    """Let the handshake request go once it has been answered.

    ``ServerProtocol.parse`` keeps the ``Request`` (path, every header: ~2 KB) alive in its
    generator frame for the connection's whole life; the frame parser proper is
    ``Protocol.parse``, so start that one instead. Only when nothing after the request has
    been read: uvicorn hands the protocol exactly the request bytes, so that is always.
    """
    if not ws.reader.buffer and not ws.events:
        ws.parser = Protocol.parse(ws)
        next(ws.parser)


class HubConnection:
    """One websocket connection. Implements ``asyncio.Protocol`` and ``rooms.node.Subscriber``."""

    hub: ClassVar[Hub]

    __slots__ = ("_aborter", "_backlog", "_backlog_bytes", "_compressed", "_fragments", "_held",
                 "_inbox", "_pinged", "_reading_paused", "_worker", "client_id", "closing",
                 "connections", "last_seen", "paused", "session", "transport", "ws")

    @classmethod
    def bind(cls, hub: Hub) -> type[HubConnection]:
        """A subclass wired to ``hub``, to pass to uvicorn as ``ws=``."""
        reserved_types()  # import every service's events now, not on the first publish
        return type("BoundHubConnection", (cls,), {"hub": hub, "__slots__": ()})

    @classmethod
    def upgrade(cls, transport: asyncio.Transport, config: Any, server_state: Any,
                app_state: Any, method: str, target: bytes,
                headers: list[tuple[bytes, bytes]]) -> None:
        """Take over ``transport`` from the HTTP protocol that parsed the upgrade request:
        uvicorn's ``handle_websocket_upgrade`` without rebuilding the request as bytes
        for websockets to parse again (``parsed_request``)."""
        conn = cls(config=config, server_state=server_state, app_state=app_state)
        conn.connection_made(transport)
        request = parsed_request(method, target, headers)
        if request is None:
            conn.data_received(request_bytes(method, target, headers))
        else:
            conn._handshake(request)
            conn._settle()
        transport.set_protocol(conn)  # type: ignore[arg-type]  # a duck-typed Protocol

    def __init__(self, config: Any = None, server_state: Any = None,
                 app_state: Any = None, _loop: Any = None) -> None:
        # uvicorn tracks open connections to drain them on shutdown.
        self.connections: set[Any] = server_state.connections if server_state else set()
        s = self.hub.settings
        extensions = [ServerPerMessageDeflateFactory()] if s.ws_compression else []
        self.ws = ServerProtocol(extensions=extensions, max_size=s.max_frame_bytes,
                                 logger=_wire_log)
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.client_id = ""
        self.closing = False
        self.paused = False
        self.last_seen = time.monotonic()
        self._pinged = False
        self._compressed = False
        self._backlog: deque[bytes] | None = None
        self._backlog_bytes = 0
        self._inbox: deque[Command] | None = None
        self._held: deque[Frame] | None = None  # read while the inbox was full
        # A fragmented message so far: its first frame's opcode, then its pieces.
        self._fragments: tuple[Opcode, list[bytes]] | None = None
        self._reading_paused = False
        self._worker: asyncio.Task[None] | None = None
        self._aborter: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        self._pinged = False
        self.ws.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._process()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.hub.addresses.release(self.transport)  # the slot hub.http_limits took
        self.hub.connections.discard(self)
        self.hub.expiry.discard(self)
        self.closing = True
        if self._aborter is not None:
            self._aborter.cancel()
        if self._worker is not None:
            self._worker.cancel()
        self._leave_rooms()
        self._backlog = None
        self._held = None
        # websockets' parser is a generator whose frame holds the protocol (and after an
        # EOF or error, so does the stored exception's traceback): a cycle per connection
        # that only a full collection frees, never once frozen (hub.gc_policy). Break it.
        self.ws.parser.close()
        self.ws.parser_exc = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        backlog, self._backlog, self._backlog_bytes = self._backlog, None, 0
        while backlog and not self.paused:
            self._write(backlog.popleft())
        if backlog:
            self._backlog = backlog
            self._backlog_bytes = sum(len(f) for f in backlog)

    # -- uvicorn hooks ----------------------------------------------------------

    def shutdown(self) -> None:
        """Called by uvicorn on SIGTERM: ask the client to reconnect elsewhere."""
        self.close(p.CloseCode.SERVICE_RESTART, "server restarting; reconnect")

    # -- Subscriber -----------------------------------------------------------------

    def deliver(self, frame: bytes) -> None:
        if self.closing:
            return
        if self._compressed:
            self.ws.send_text(frame)
            self._flush()
            return
        if not self.paused:
            self._write(frame_text(frame))
            return
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.append(frame_text(frame))
        self._backlog_bytes += len(frame)
        if self._backlog_bytes > self.hub.settings.send_queue_bytes:
            metrics.SLOW_CONSUMERS.inc()
            self._backlog = None  # drop what the client can't take
            self.close(p.CloseCode.SLOW_CONSUMER, "slow consumer")

    # -- keepalive ------------------------------------------------------------------

    def ping(self) -> None:
        if not self._pinged and not self.closing and self.ws.state is State.OPEN:
            self._pinged = True
            self.ws.send_ping(b"")
            self._flush()

    def idle_timeout(self) -> None:
        self.close(p.CloseCode.IDLE_TIMEOUT, "idle timeout")

    def token_expired(self) -> None:
        """Called by the hub's expiry sweep when ``exp`` passed with no ``refresh``."""
        self.close(p.CloseCode.TOKEN_EXPIRED, "token expired")

    # -- internals --------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush(self) -> None:
        for data in self.ws.data_to_send():
            if data:
                self._write(data)
            elif self.transport is not None:
                self.transport.close()  # the server closes TCP first (RFC 6455 7.1.1)

    def send(self, frame: bytes) -> None:
        """Send a reply frame (not a room message)."""
        if self.closing or self.ws.state is not State.OPEN:
            return
        if self._compressed or self.paused:
            self.deliver(frame)
        else:
            self._write(frame_text(frame))

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self._leave_rooms()
        self._held = None
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False  # read the client's close reply
            self.transport.resume_reading()
        if self.ws.state is State.OPEN:
            self.ws.send_close(code, reason)
            self._flush()
        loop = asyncio.get_running_loop()
        # A client that never answers the close (or never reads) is cut anyway.
        self._aborter = loop.call_later(self.hub.settings.shutdown_timeout, self._abort)

    def _leave_rooms(self) -> None:
        """Stop deliveries to this connection now; the node tidies upstream later."""
        if self.session is not None:
            rooms = self.session.all_rooms()
            if rooms:
                self.hub.node.drop(self, rooms)
            self.session.forget_all()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _process(self) -> None:
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                if self._held is not None:  # keep order behind frames already held
                    self._hold(event)
                else:
                    self._frame(event)
        self._settle()

    def _settle(self) -> None:
        """Write what websockets queued; close TCP after a failed handshake."""
        self._flush()
        if self.ws.handshake_exc is not None and self.transport is not None:
            self.transport.close()
        elif self.ws.state is State.CLOSED and not self.closing:
            self.closing = True  # the client closed (or the frame was too big)

    def _handshake(self, request: Request) -> None:
        url = urlsplit(request.path)
        if url.path != WS_PATH:
            self.ws.send_response(self.ws.reject(404, "no websocket endpoint here\n"))
            return
        if self.hub.draining:
            self.ws.send_response(self.ws.reject(503, "draining; connect to another node\n"))
            return
        head = self._accept(request)
        if head is None:
            return  # refused: _settle writes websockets' answer
        self._compressed = bool(self.ws.extensions)
        drop_handshake(self.ws)
        self.hub.connections.add(self)
        self.client_id = secrets.token_urlsafe(9)
        query = parse_qs(url.query)
        # An OBS overlay's credential (hub.overlays) instead of a token; it wins if both.
        if overlay := (query.get("overlay") or [""])[0]:
            self._write(head)
            self._open_after(self.hub.overlay(overlay), "the overlay credential")
            return
        token = (query.get("token") or [""])[0]
        try:
            principal = msgspec.structs.replace(self.hub.verify(token), client_id=self.client_id)
        except TokenError as exc:
            self._write(head)
            # The library's text stays in the log; the client gets our own reason.
            log.info("token refused for %s: %s", self.client_id, exc.reason[:200])
            if exc.expired:
                self.close(p.CloseCode.TOKEN_EXPIRED, "token expired")
            else:
                self.close(p.CloseCode.UNAUTHORIZED, "invalid token")
            return
        roles = self.hub.memberships
        if roles is not None:
            confirmed = roles.cached(principal)
            if confirmed is None:
                self._write(head)
                self._open_after(self.hub.confirmed(principal), "roles")  # memberships first
                return
            principal = confirmed
        self._open(principal, head)

    def _accept(self, request: Request) -> bytes | None:
        """The ``101`` for ``request``, to write before any frame (the caller writes it,
        with the ``welcome`` when it can: one write, not two); None if refused, with
        websockets' refusal queued in ``self.ws``.

        Every check is websockets' own (``process_request``); only a handshake with an
        extension or a subprotocol to answer gets websockets' whole ``accept``.
        """
        ws = self.ws
        if not ws.available_extensions:
            try:
                key, extensions, subprotocol = ws.process_request(request)
            except Exception:
                pass  # accept() below checks again and says why
            else:
                if extensions is None and subprotocol is None:
                    ws.accept_called = True
                    ws.state = State.OPEN
                    return switching_protocols(key)
        response = ws.accept(request)
        ws.send_response(response)
        if response.status_code != 101:
            return None
        return b"".join(ws.data_to_send())

    def _open_after(self, lookup: Coroutine[Any, Any, Principal], what: str) -> None:
        """Open the session with the principal ``lookup`` finds (it checks ``what``).
        Frames wait meanwhile: in the socket (reading paused), or held in order if they
        came in the same read as the handshake."""
        self._held = deque()
        self._pause_reading()
        task = asyncio.get_running_loop().create_task(self._open_when(lookup, what))
        _confirming.add(task)
        task.add_done_callback(_confirming.discard)

    async def _open_when(self, lookup: Coroutine[Any, Any, Principal], what: str) -> None:
        try:
            principal = await lookup
        except OverlayRefused as exc:
            log.info("overlay credential refused for %s: %s", self.client_id, exc)
            self.close(p.CloseCode.UNAUTHORIZED, "invalid overlay credential")
            return
        except Exception as exc:
            log.warning("could not check %s: %r", what, exc)
            self.close(p.CloseCode.INTERNAL_ERROR, f"could not check {what}; reconnect")
            return
        if self.closing:
            return
        self._open(msgspec.structs.replace(principal, client_id=self.client_id))
        self._release()  # run what was held, then read the socket again

    def _open(self, principal: Principal, head: bytes = b"") -> None:
        """Start the session and say ``welcome``, after ``head`` (the ``101``, when it
        is not written yet)."""
        if principal.exp:  # an overlay credential has none: it lives until rotated
            self.hub.expiry.add(self, principal.exp)
        self.session = Session(principal, self.hub.limits)
        welcome = p.encode(p.Welcome(client=self.client_id, node=self.hub.node.node_id,
                                     time=int(time.time() * 1000)))
        if head and not self._compressed and not self.paused:
            self._write(head + frame_text(welcome))
            return
        if head:
            self._write(head)
        self.send(welcome)

    def _message(self, frame: Frame) -> tuple[Opcode, bytes] | None:
        """A whole message once its last fragment arrives (RFC 6455 section 5.4), else None.

        websockets checks the sequence (a continuation with no message, a message inside
        another: 1002) and the size of the whole message (1009); pings between fragments
        are answered as they come.
        """
        if frame.opcode is Opcode.CONT:
            assert self._fragments is not None
            self._fragments[1].append(bytes(frame.data))
            if not frame.fin:
                return None
            opcode, pieces = self._fragments
            self._fragments = None
            return opcode, b"".join(pieces)
        if not frame.fin:
            self._fragments = (frame.opcode, [bytes(frame.data)])
            return None
        return frame.opcode, bytes(frame.data)

    def _frame(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            if (message := self._message(frame)) is not None:
                self._data(*message)
        elif frame.opcode is Opcode.PING:
            self._flush()  # websockets queued the pong: out before any later reply
        elif frame.opcode is Opcode.CLOSE and not self.closing:
            self.closing = True
            self._leave_rooms()

    def _data(self, opcode: Opcode, data: bytes) -> None:
        if opcode is Opcode.TEXT and self.session is not None and not self.closing:
            metrics.MESSAGES_IN.inc()
            command = self.session.receive(data)
            if isinstance(command, Reply):
                self.send(command.frame)
            else:
                self._enqueue(command)
        elif opcode is Opcode.BINARY and not self.closing:
            self._reply_error(p.ErrorCode.BAD_FRAME, "binary frames are not supported", None)

    def _reply_error(self, code: p.ErrorCode, reason: str, request_id: int | None) -> None:
        metrics.ERRORS.labels(code=str(int(code))).inc()
        self.send(error(code, reason, request_id).frame)

    # -- commands that need the node run one at a time, in order, per connection --

    def _enqueue(self, command: Command) -> None:
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(command)
        if len(self._inbox) >= self.hub.settings.max_pending and self._held is None:
            self._held = deque()  # later frames wait, unparsed into commands
            self._pause_reading()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    def _hold(self, frame: Frame) -> None:
        assert self._held is not None
        self._held.append(frame)
        if len(self._held) > 4 * self.hub.settings.max_pending:
            self._held = None
            self.close(p.CloseCode.TOO_MANY_PENDING, "too many requests pending")

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _release(self) -> None:
        """Turn held frames into commands while there is room, then read the socket again."""
        limit = self.hub.settings.max_pending
        while self._held and not self.closing and len(self._inbox or ()) < limit:
            self._frame(self._held.popleft())
        if self._held is not None and not self._held:
            self._held = None
        if (self._held is None and self._reading_paused and not self.closing
                and len(self._inbox or ()) <= limit // 2):
            self._reading_paused = False
            self.last_seen = time.monotonic()  # it was not idle, we were not listening
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()
        self._flush()

    async def _work(self) -> None:
        try:
            while not self.closing:
                if self._held or self._reading_paused:
                    self._release()
                if not self._inbox:
                    break
                await self.hub.commands.run(self, self._inbox.popleft())
                # Let other connections run even when a command finished without waiting.
                await asyncio.sleep(0)
        finally:
            self._worker = None
            self._inbox = None
