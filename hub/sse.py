"""Server-Sent Events: ``GET /sse/rooms/{room}`` streams one room over plain HTTP.

For an OBS overlay behind a proxy that passes no websockets, or a simple embed: a
browser's ``EventSource`` reads the room's messages, and reconnects by itself.

Same rules as the websocket, reused rather than copied:

- Credentials: ``?overlay=<secret>`` (``hub.overlays``), else ``Authorization: Bearer``,
  else ``?token=`` (EventSource cannot set headers); the token is verified and its staff
  roles confirmed as on the socket, then ``rooms.access.authorize`` decides (another
  org's event room is 404, like an unknown one). Refusals happen before the stream
  starts: an HTTP error whose JSON body names the protocol code (:data:`REFUSALS`).
- Once open, a stream is one of the hub's connections (``Hub.connections``): the
  expiry sweep ends it when the token's ``exp`` passes, an overlay rotation ends it
  like a socket, and a stopping node ends it with the websockets. Its last event is
  then ``close`` with the code a socket would get.
- Delivery: the node hands the stream the bytes it hands every subscriber. They wait
  in a queue while the client reads slowly; past ``HUB_SEND_QUEUE_BYTES`` the queue is
  dropped and the connection cut (counted as a slow consumer). Nobody else waits.
- Position: each message's ``id:`` is ``<epoch>:<offset>``. ``Last-Event-ID`` (which
  EventSource sends when it reconnects; or ``?last_event_id=``) asks for recovery with
  that epoch and offset, under the socket's rules. Anything that is not such an id
  starts afresh, never an error.

Why the transport: ending a stream whose client stopped reading cannot wait for a write
that will never finish, so a slow consumer's connection is aborted directly (the HTTP
protocol hands it over in the request scope, see ``hub.http_limits``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final, cast

import msgspec
from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.response import Response, Stream

from hub import metrics
from hub import protocol as p
from hub.auth import TokenError
from hub.http_errors import REQUEST_ID_HEADER, request_id
from hub.http_limits import TRANSPORT_EXTENSION
from hub.overlays import OverlayRefused
from hub.runtime import Hub
from hub.session import Session
from hub.unreachable import UNREACHABLE
from integrations import http_docs as docs
from rooms import envelope as e
from rooms.access import JOIN, authorize
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomName, parse_room
from rooms.principal import Principal

log = logging.getLogger(__name__)

PATH: Final = "/sse/rooms/{room:str}"
HEARTBEAT: Final = b": ping\n\n"
# EventSource waits ``retry`` ms before reconnecting; spread over a range, so the
# clients of a stopping node do not all come back in the same instant.
RETRY_MS: Final = (1000, 3000)
_random = secrets.SystemRandom()
# A Last-Event-ID the hub wrote: <epoch>:<offset>, offset an int64.
_EVENT_ID = re.compile(r"([^:\s]{1,64}):([0-9]{1,19})")


class Refusal(msgspec.Struct, frozen=True):
    """Why a stream was not opened: the HTTP error body of this route."""

    status_code: int
    code: int  # the protocol's code for the same refusal on a websocket (docs/protocol.md)
    detail: str
    request_id: str


# HTTP status -> the protocol codes it carries, and when (docs/protocol.md, generated).
REFUSALS: Final[dict[int, tuple[tuple[int, str], ...]]] = {
    401: ((int(p.CloseCode.UNAUTHORIZED), "no credential, a forged or malformed token, one"
           " living longer than `HUB_MAX_TOKEN_TTL`, or an overlay secret that is not the"
           " event's current one"),
          (int(p.CloseCode.TOKEN_EXPIRED), "the token's `exp` has passed")),
    403: ((int(ErrorCode.FORBIDDEN), "another organization's org room, or a room outside"
           " an overlay secret's event"),),
    404: ((int(ErrorCode.UNKNOWN_ROOM), "a malformed room name, an unknown event, or"
           " another organization's event"),),
    503: ((int(ErrorCode.UNAVAILABLE), "`?overlay=` on a node without Postgres (its"
           " configuration: retrying this node cannot help)"),),
}
# Refusals a retry can cure: answered 200 with ``retry:`` and a last ``close`` event,
# because EventSource never reconnects after an error status (docs/protocol.md).
RETRY_LATER: Final[tuple[tuple[int, str], ...]] = (
    (int(ErrorCode.UNAVAILABLE), "Redis or Postgres does not answer"),)


class Refused(Exception):
    """The stream is not opened: answer ``status`` with ``code`` (a :data:`REFUSALS` row)."""

    def __init__(self, status: int, code: int, detail: str, *, retry: bool = False) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry = status, code, detail, retry


_STATUS_OF = {ErrorCode.FORBIDDEN: 403, ErrorCode.UNKNOWN_ROOM: 404}


def parse_event_id(value: str | None) -> e.StreamPosition | None:
    """The position a ``Last-Event-ID`` names, or None for anything the hub did not write."""
    if not value or len(value) > 100:
        return None
    match = _EVENT_ID.fullmatch(value.strip())
    if match is None:
        return None
    offset = int(match.group(2))
    if offset > e.INT64_MAX:
        return None
    return e.StreamPosition(epoch=match.group(1), offset=offset)


def _event(name: bytes, data: bytes, event_id: str = "") -> bytes:
    """One SSE event. A publisher's JSON may hold line breaks (only as whitespace:
    inside strings they are escaped), so each line gets its own ``data:`` field;
    the client joins them with newlines, which is the same JSON."""
    head = f"id: {event_id}\n".encode() if event_id else b""
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        body = b"".join(b"data: " + line + b"\n" for line in lines)
    else:
        body = b"data: " + data + b"\n"
    return head + b"event: " + name + b"\n" + body + b"\n"


_message = msgspec.json.Decoder(e.Message)
_subscribed = msgspec.json.Decoder(e.Subscribed)
# An unrequested `subscribed` after the first: the node's notice that the room was reset.
_SUBSCRIBED_PREFIX = b'{"type":"subscribed"'


class _Tagged(msgspec.Struct):
    type: str = "message"


_tagged = msgspec.json.Decoder(_Tagged)

# One-entry cache: a fan-out hands every subscriber the same bytes object, so the
# event around it is built once per message for all of a room's streams.
_last: tuple[bytes | None, str] = (None, "")
_last_event: tuple[bytes, int] = (b"", 0)


def message_event(frame: bytes, epoch: str) -> tuple[bytes, int]:
    """The ``message`` event for a node's message frame, and the message's offset."""
    global _last, _last_event
    if _last[0] is not frame or _last[1] != epoch:
        offset = _message.decode(frame).offset
        _last, _last_event = (frame, epoch), (_event(b"message", frame, f"{epoch}:{offset}"),
                                              offset)
    return _last_event


class SseStream:
    """One open stream: a node subscriber, and an open connection to the hub's sweeps
    (expiry, overlay rotation, role changes, drain: ``hub.runtime.OpenConnection``)."""

    __slots__ = ("_aborter", "_base", "_behind_since", "_head", "_queue", "_queued",
                 "_transport", "_wake", "client_id", "closing", "epoch", "hub",
                 "offset", "room", "session")

    def __init__(self, hub: Hub, transport: asyncio.Transport | None, principal: Principal,
                 room: RoomName) -> None:
        self.hub = hub
        self.client_id = secrets.token_urlsafe(9)
        self.session: Session | None = Session(
            msgspec.structs.replace(principal, client_id=self.client_id), hub.limits)
        self.room = str(room)
        self.closing = False
        self.epoch = ""
        self.offset = 0  # of the last message queued
        self._transport = transport
        self._head: list[bytes] = []  # subscribed + recovered messages, until started
        self._base = 0  # the offset `subscribed` named
        self._queue: deque[bytes] = deque()
        self._queued = 0  # bytes in _queue, and in the chunk being written
        self._wake = asyncio.Event()
        self._behind_since: float | None = None  # see last_seen
        self._aborter: asyncio.TimerHandle | None = None

    # -- rooms.node.Subscriber ------------------------------------------------------

    def deliver(self, frame: bytes) -> None:
        if self.closing:
            return
        if not self.epoch:  # the first frame of a subscription is always `subscribed`
            self._subscribed(frame)
            return
        if frame.startswith(_SUBSCRIBED_PREFIX):
            # The node lost the room's history (a Redis restart): ids from here on would
            # not follow on. The reconnect recovers nothing and gets fresh snapshots.
            self.close(p.CloseCode.SERVICE_RESTART, "room history was reset; reconnect")
            return
        chunk, offset = message_event(frame, self.epoch)
        if offset <= self.offset:
            # Offsets only grow within an epoch (the node drops duplicates), so the room's
            # history was reset: ids from here on would lie. The reconnect recovers nothing
            # and gets fresh snapshots.
            self.close(p.CloseCode.SERVICE_RESTART, "room history was reset; reconnect")
            return
        self.offset = offset
        self._push(chunk)

    def _subscribed(self, frame: bytes) -> None:
        sub = _subscribed.decode(frame)
        self.epoch, self.offset, self._base = sub.epoch, sub.offset, sub.offset
        self._head.append(_event(b"subscribed", msgspec.json.encode({
            "type": "subscribed", "room": sub.room, "epoch": sub.epoch, "offset": sub.offset,
            "recovered": sub.recovered})))
        for pub in sub.publications:  # exactly the missed messages, in order
            message = e.encode(e.Message(room=sub.room, offset=pub.offset, data=pub.data))
            self._head.append(_event(b"message", message, f"{sub.epoch}:{pub.offset}"))

    # -- hub.runtime.OpenConnection ----------------------------------------------------

    @property
    def last_seen(self) -> float:
        """When the client last kept up. A stream hears nothing from its client, so what
        counts is whether it reads: the hub's keepalive sweep asks this every
        ``HUB_PING_INTERVAL / 2`` seconds, and a stream whose unsent bytes stayed above
        the transport's low-water mark at each ask since then is behind (as a socket
        whose pong waits behind the data it has not read)."""
        now = time.monotonic()
        transport = self._transport
        if (transport is None or transport.is_closing()
                or transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[0]):
            self._behind_since = None
            return now
        if self._behind_since is None:
            self._behind_since = now
        return self._behind_since

    def send(self, frame: bytes) -> None:
        """A frame for this client alone (``roles`` when a membership changed)."""
        if not self.closing:
            self._push(_event(_tagged.decode(frame).type.encode(), frame))

    def ping(self) -> None:
        """The heartbeat is the stream's own (``HUB_SSE_HEARTBEAT``)."""

    def idle_timeout(self) -> None:
        self.close(p.CloseCode.IDLE_TIMEOUT, "the client has not read for too long")

    def token_expired(self) -> None:
        self.close(p.CloseCode.TOKEN_EXPIRED, "token expired")

    def shutdown(self) -> None:
        self.close(p.CloseCode.SERVICE_RESTART, "server restarting; reconnect")

    def close(self, code: int, reason: str) -> None:
        """End the stream after what is queued and a last ``close`` event."""
        if self.closing:
            return
        self._leave()
        self._push(_event(b"close", msgspec.json.encode(
            {"type": "close", "code": int(code), "reason": reason})), force=True)
        self.closing = True
        self._wake.set()
        # A client that does not read the end is cut anyway.
        self._aborter = asyncio.get_running_loop().call_later(
            self.hub.settings.shutdown_timeout, self._abort)

    # -- internals ----------------------------------------------------------------------

    def _push(self, chunk: bytes, force: bool = False) -> None:
        self._queue.append(chunk)
        self._queued += len(chunk)
        if self._queued > self.hub.settings.send_queue_bytes and not force:
            metrics.SLOW_CONSUMERS.inc()
            self._queue.clear()  # drop what the client can't take
            self._queued = 0
            self._leave()
            self.closing = True
            self._abort()
        self._wake.set()

    def _leave(self) -> None:
        """Stop deliveries now; the node tidies upstream later."""
        if self.session is not None:
            self.hub.node.drop(self, [self.room])
            self.session = None
        self.hub.connections.discard(self)
        self.hub.expiry.discard(self)

    def _abort(self) -> None:
        self.closing = True
        if self._transport is not None:
            self._transport.abort()  # the pending write returns: the client is gone

    def start(self, snapshots: list[bytes]) -> bytes:
        """The stream's first bytes: ``retry``, ``subscribed`` (then the recovered
        messages or the snapshots), and the position they bring the client to."""
        retry = _random.randint(*RETRY_MS)
        head = [f"retry: {retry}\n\n".encode(), *self._head, *snapshots]
        if self.epoch:
            # The position moves only once the snapshots are in: a client cut off
            # before them gets them again when it reconnects. (Said after recovered
            # messages too: a client that resumed with ?last_event_id= and has no id
            # of its own yet must not resume from that old one next time.)
            head.append(f"id: {self.epoch}:{self._base}\n\n".encode())
        self._head = []
        return b"".join(head)

    async def events(self, first: bytes) -> AsyncIterator[bytes]:
        """The response body: what is queued, as it comes; a heartbeat in silences."""
        heartbeat = self.hub.settings.sse_heartbeat
        try:
            yield first
            while True:
                if self._queue:
                    chunk = b"".join(self._queue)
                    self._queue.clear()
                    # Still counted while the server waits to write it.
                    yield chunk  # resumes once the server could write it
                    self._queued = max(0, self._queued - len(chunk))
                    continue
                if self.closing:
                    return
                self._wake.clear()
                try:
                    async with asyncio.timeout(heartbeat):
                        await self._wake.wait()
                except TimeoutError:
                    yield HEARTBEAT
        finally:
            self.finish()

    def finish(self) -> None:
        """Leave the room and let go of everything; safe to call more than once."""
        self._leave()
        self.closing = True
        if self._aborter is not None:
            self._aborter.cancel()
        self._queue.clear()


def _refusal(request: Request, status: int, code: int, detail: str  # type: ignore[type-arg]
             ) -> Response[bytes]:
    rid = request_id(request)
    headers = {REQUEST_ID_HEADER: rid, "Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "1"
    return Response(msgspec.json.encode(Refusal(status, code, detail, rid)), status_code=status,
                    media_type="application/json", headers=headers)


def _retry_later(request: Request, code: int, detail: str  # type: ignore[type-arg]
                 ) -> Response[bytes]:
    """A refusal a retry can cure, as an ended stream EventSource comes back to:
    ``retry:`` then a ``close`` event naming the code (see :data:`RETRY_LATER`)."""
    close = _event(b"close", msgspec.json.encode(
        {"type": "close", "code": code, "reason": detail}))
    body = f"retry: {_random.randint(*RETRY_MS)}\n\n".encode() + close
    return Response(body, media_type=MEDIA_TYPE,
                    headers={**_STREAM_HEADERS, REQUEST_ID_HEADER: request_id(request)})


def _refused(exc: ServiceError) -> Refused:
    if exc.code is ErrorCode.UNAVAILABLE:  # a service's backing store is down: retry
        return Refused(503, int(exc.code), exc.reason, retry=True)
    return Refused(_STATUS_OF.get(exc.code, 403), int(exc.code), exc.reason)


async def _principal(hub: Hub, request: Request, token: str | None,  # type: ignore[type-arg]
                     overlay: str | None) -> Principal:
    """Who is asking, by the websocket's rules (an overlay secret wins over a token).

    Raises:
        Refused: 401, or 503 for an overlay secret on a node without Postgres.
    """
    if overlay:
        if hub.overlays is None:
            raise Refused(503, int(ErrorCode.UNAVAILABLE), "overlay credentials need Postgres")
        try:
            return await hub.overlay(overlay)
        except OverlayRefused:
            raise Refused(401, int(p.CloseCode.UNAUTHORIZED),
                          "invalid overlay credential") from None
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        token = bearer.strip()
    if not token:
        raise Refused(401, int(p.CloseCode.UNAUTHORIZED),
                      "a credential is required: ?token=, Authorization: Bearer, or ?overlay=")
    try:
        principal = hub.verify(token)
    except TokenError as exc:  # its reason is our own short text
        code = p.CloseCode.TOKEN_EXPIRED if exc.expired else p.CloseCode.UNAUTHORIZED
        raise Refused(401, int(code), exc.reason) from None
    return await hub.confirmed(principal)


_STREAM_HEADERS: Final = {"Cache-Control": "no-store", "X-Accel-Buffering": "no",
                          "X-Content-Type-Options": "nosniff"}
MEDIA_TYPE: Final = "text/event-stream"


@get(PATH, summary="Stream a room's messages as Server-Sent Events (EventSource)",
     description="The websocket's room stream for clients that cannot use one (an OBS"
                 " overlay behind a strict proxy, a simple embed): `subscribed`, then"
                 " `snapshot` events, then each `message`, with `id: <epoch>:<offset>`."
                 " Credentials as on the websocket: `?token=`, `Authorization: Bearer`, or"
                 " `?overlay=`. A `Last-Event-ID` header (EventSource sends it when it"
                 " reconnects) or `?last_event_id=` resumes after that id; anything else"
                 " starts afresh. See docs/protocol.md, \"Server-Sent Events\".",
     security=docs.BEARER_SECURITY,
     # Every parameter is an optional string: Litestar's assumed 400 cannot happen.
     operation_class=docs.documented(drop=[400]),
     responses=docs.errors({status: ". ".join(f"{code}: {why}" for code, why in codes)
                            for status, codes in REFUSALS.items()},
                           bodies=dict.fromkeys(REFUSALS, Refusal))
     | docs.ok(str, "The event stream (text/event-stream), until the client leaves or the"
                    " hub ends it with a `close` event", media_type=MEDIA_TYPE))
async def room_events(request: Request, room: str, token: str | None = None,  # type: ignore[type-arg]
                      overlay: str | None = None,
                      last_event_id: str | None = None) -> Response[Any]:
    hub: Hub = request.app.state.hub
    if hub.draining:
        # 200, not 503: EventSource gives up for good on an error status, but
        # reconnects (elsewhere, through the balancer) when a stream just ends.
        return Response(f"retry: {RETRY_MS[1]}\n\n: draining; reconnect\n\n".encode(),
                        media_type=MEDIA_TYPE, headers=_STREAM_HEADERS)
    try:
        try:
            name = parse_room(room)
        except ValueError:
            raise Refused(404, int(ErrorCode.UNKNOWN_ROOM), "malformed room name") from None
        principal = await _principal(hub, request, token, overlay)
        try:
            authorize(principal, name, JOIN, await hub.directory.org_of(name))
        except ServiceError as exc:
            raise _refused(exc) from None
        stream = SseStream(hub, _transport(request), principal, name)
        first = await _open(hub, stream, parse_event_id(
            request.headers.get("Last-Event-ID") or last_event_id))
    except Refused as exc:
        if exc.retry:
            return _retry_later(request, exc.code, exc.detail)
        return _refusal(request, exc.status, exc.code, exc.detail)
    except UNREACHABLE as exc:
        log.warning("could not open an event stream on %s: %r", room[:80], exc)
        return _retry_later(request, int(ErrorCode.UNAVAILABLE),
                            "a backing service is unavailable; retry")
    return Stream(stream.events(first), media_type=MEDIA_TYPE, headers=_STREAM_HEADERS,
                  background=BackgroundTask(stream.finish))


async def _open(hub: Hub, stream: SseStream, recover: e.StreamPosition | None) -> bytes:
    """Subscribe ``stream`` (recovering from ``recover`` when it can) and fetch the
    snapshots it needs; the stream's first bytes.

    Raises:
        Refused: a service refused its snapshot.
        Exception: from the broker or Postgres; nothing is left subscribed.
    """
    assert stream.session is not None
    who = stream.session.principal
    hub.connections.add(stream)  # from here on, rotation, expiry and drain reach it
    if who.exp:
        hub.expiry.add(stream, who.exp)
    member = p.Member(client=stream.client_id, user=who.sub, roles=sorted(who.roles),
                      name=who.name)
    room = parse_room(stream.room)
    try:
        recovered = await hub.node.subscribe(stream, stream.room, member, recover=recover)
        snapshots: list[bytes] = []
        if not recovered and hub.services is not None and not stream.closing:
            for service, state in await hub.services.snapshots(who, room):
                snapshots.append(_event(b"snapshot", p.encode(p.Snapshot(
                    room=stream.room, service=service, state=msgspec.Raw(state)))))
    except ServiceError as exc:
        stream.finish()
        raise _refused(exc) from None
    except BaseException:
        stream.finish()
        raise
    return stream.start(snapshots)


def _transport(request: Request) -> asyncio.Transport | None:  # type: ignore[type-arg]
    extension = (request.scope.get("extensions") or {}).get(TRANSPORT_EXTENSION) or {}
    transport = extension.get("transport")
    # Duck-typed: uvloop's transports do not derive from asyncio's classes.
    return cast("asyncio.Transport", transport) if hasattr(transport, "abort") else None
