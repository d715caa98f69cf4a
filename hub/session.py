"""The sans-I/O session core: frame bytes in, commands out.

A :class:`Session` decodes and validates one client frame at a time, applies
the permission matrix and the publish rate limit, and returns either a reply
to write at once or a command for the I/O shell to run against the node.
It never touches a socket, Redis or the clock directly, so it is tested by
feeding it bytes (``tests/unit/test_session.py``).

Subscriptions have two states. ``rooms`` is what the client asked for (checked when
a frame arrives: duplicates, the subscription cap); ``joined`` is what the shell
confirmed after its asynchronous org check. Commands run one at a time in order, so
when a room-reading command runs, its room is either joined or not: the shell checks
``joined`` then, never ``rooms``, or a pipelined ``history`` behind a refused
``subscribe`` would read another org's room.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec

from hub import protocol as p
from hub.service_events import reserved_type
from rooms.access import JOIN, PUBLISH, Access, authorize
from rooms.codes import ServiceError
from rooms.names import RoomKind, RoomName, parse_room
from rooms.principal import Principal
from rooms.services.chat_wire import Post, checked_post

log = logging.getLogger(__name__)


class Limits(msgspec.Struct, frozen=True):
    max_publish_bytes: int = 16 * 1024
    publish_rate: float = 20.0  # tokens per second
    publish_burst: int = 40
    max_subscriptions: int = 64
    history_limit: int = 1000
    max_chat_chars: int = 500
    chat_page_limit: int = 100
    read_rate: float = 20.0  # history, chat_history, presence: tokens per second
    read_burst: int = 60
    max_json_depth: int = p.DEFAULT_MAX_DEPTH


class Reply(msgspec.Struct, frozen=True):
    """Write ``frame`` to the client; nothing else to do."""

    frame: bytes


class DoSubscribe(msgspec.Struct, frozen=True):
    room: RoomName
    recover: p.StreamPosition | None
    presence_events: bool
    id: int | None


class DoUnsubscribe(msgspec.Struct, frozen=True):
    room: str
    id: int | None


class DoPublish(msgspec.Struct, frozen=True):
    room: RoomName
    data: bytes
    id: int | None


class DoPresence(msgspec.Struct, frozen=True):
    room: str
    id: int | None


class DoHistory(msgspec.Struct, frozen=True):
    room: str
    since: int
    limit: int
    id: int | None


class DoChat(msgspec.Struct, frozen=True):
    room: RoomName
    text: str
    client_msg_id: str | None
    id: int | None


class DoChatHistory(msgspec.Struct, frozen=True):
    room: RoomName
    before: int | None
    limit: int
    id: int | None


class DoCall(msgspec.Struct, frozen=True):
    room: RoomName
    method: str
    params: bytes
    id: int | None


class DoRefresh(msgspec.Struct, frozen=True):
    """Verify a new token for this connection (the shell knows the secret)."""

    token: str
    id: int | None


Command = (Reply | DoSubscribe | DoUnsubscribe | DoPublish | DoPresence | DoHistory | DoChat
           | DoChatHistory | DoCall | DoRefresh)


def error(code: p.ErrorCode, reason: str, request_id: int | None = None) -> Reply:
    return Reply(p.encode(p.Error(code=int(code), reason=reason, id=request_id)))


class TokenBucket:
    """Classic token bucket; ``clock`` is injectable for tests."""

    __slots__ = ("_burst", "_clock", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until ``take`` would succeed, as of its last call."""
        return max(0.0, (1.0 - self._tokens) / self._rate)


_PONG = p.encode(p.Pong())


class Session:
    """Per-connection protocol state: who it is, what it is subscribed to."""

    __slots__ = ("_bucket", "_clock", "_read_bucket", "joined", "limits", "principal", "rooms")

    def __init__(self, principal: Principal, limits: Limits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.principal = principal
        self.limits = limits
        self.rooms: set[str] = set()  # asked for: confirmed or in flight
        self.joined: set[str] = set()  # confirmed by the shell: only these may be read
        self._bucket: TokenBucket | None = None  # created on first publish
        self._read_bucket: TokenBucket | None = None  # created on first read
        self._clock = clock

    def receive(self, data: bytes) -> Command:
        """Handle one text frame and say what to do next."""
        try:
            frame = p.decode_client(data, self.limits.max_json_depth)
        except p.FrameError as exc:
            log.debug("refused frame (%s): %.200s", exc.reason, exc.detail)
            return error(exc.code, exc.reason, exc.id)
        match frame:
            case p.Ping():
                return Reply(_PONG) if frame.id is None else Reply(p.encode(p.Pong(id=frame.id)))
            case p.Refresh():
                return DoRefresh(frame.token, frame.id)
            case p.Subscribe():
                return self._subscribe(frame)
            case p.Unsubscribe():
                if frame.room not in self.rooms:
                    return error(p.ErrorCode.NOT_SUBSCRIBED, "not subscribed", frame.id)
                self.rooms.discard(frame.room)
                return DoUnsubscribe(frame.room, frame.id)
            case p.Publish():
                return self._publish(frame)
            case p.PresenceQuery():
                if frame.room not in self.rooms:
                    return error(p.ErrorCode.NOT_SUBSCRIBED, "subscribe first", frame.id)
                if not self._take_read_token():
                    return error(p.ErrorCode.RATE_LIMITED, "read rate limit exceeded", frame.id)
                return DoPresence(frame.room, frame.id)
            case p.Chat():
                return self._chat(frame)
            case p.Call():
                room = self._own_room(frame.room, frame.id)
                if isinstance(room, Reply):
                    return room
                if not self._take_token():
                    return error(p.ErrorCode.RATE_LIMITED, "call rate limit exceeded", frame.id)
                return DoCall(room, frame.method, bytes(frame.params), frame.id)
            case p.ChatHistoryQuery():
                room = self._own_room(frame.room, frame.id)
                if isinstance(room, Reply):
                    return room
                if not self._take_read_token():
                    return error(p.ErrorCode.RATE_LIMITED, "read rate limit exceeded", frame.id)
                return DoChatHistory(room, frame.before,
                                     min(frame.limit, self.limits.chat_page_limit), frame.id)
            case p.HistoryQuery():
                if frame.room not in self.rooms:
                    return error(p.ErrorCode.NOT_SUBSCRIBED, "subscribe first", frame.id)
                if not self._take_read_token():
                    return error(p.ErrorCode.RATE_LIMITED, "read rate limit exceeded", frame.id)
                return DoHistory(frame.room, frame.since,
                                 min(frame.limit, self.limits.history_limit), frame.id)
        raise AssertionError(f"unhandled frame {frame!r}")  # pragma: no cover

    def _room(self, name: str, request_id: int | None) -> RoomName | Reply:
        try:
            return parse_room(name)
        except ValueError:
            log.debug("malformed room name %.80r", name)  # never echoed: it may be huge
            return error(p.ErrorCode.UNKNOWN_ROOM, "malformed room name", request_id)

    def _own_room(self, name: str, request_id: int | None,
                  action: Access = JOIN) -> RoomName | Reply:
        """Parse a room and authorize what can be told without I/O: the org of org rooms
        and the roles. An event room's owner is checked when the command runs."""
        room = self._room(name, request_id)
        if isinstance(room, Reply):
            return room
        owner = room.id if room.kind is RoomKind.ORG else self.principal.org
        try:
            authorize(self.principal, room, action, owner)
        except ServiceError as exc:
            return error(exc.code, exc.reason, request_id)
        return room

    def _take_token(self) -> bool:
        if self._bucket is None:
            self._bucket = TokenBucket(self.limits.publish_rate, self.limits.publish_burst,
                                       self._clock)
        return self._bucket.take()

    def _take_read_token(self) -> bool:
        if self._read_bucket is None:
            self._read_bucket = TokenBucket(self.limits.read_rate, self.limits.read_burst,
                                            self._clock)
        return self._read_bucket.take()

    def _chat(self, frame: p.Chat) -> Command:
        room = self._own_room(frame.room, frame.id)
        if isinstance(room, Reply):
            return room
        try:  # refused here at once; the chat service checks again (``call chat.post``)
            post = checked_post(Post(frame.text, frame.client_msg_id),
                                self.limits.max_chat_chars)
        except ServiceError as exc:
            return error(exc.code, exc.reason, frame.id)
        if not self._take_token():
            return error(p.ErrorCode.RATE_LIMITED, "chat rate limit exceeded", frame.id)
        return DoChat(room, post.text, post.client_msg_id, frame.id)

    def _subscribe(self, frame: p.Subscribe) -> Command:
        room = self._own_room(frame.room, frame.id)
        if isinstance(room, Reply):
            return room
        if frame.room in self.rooms:
            return error(p.ErrorCode.ALREADY_SUBSCRIBED, "already subscribed", frame.id)
        if len(self.rooms) >= self.limits.max_subscriptions:
            return error(p.ErrorCode.FORBIDDEN, "too many subscriptions", frame.id)
        self.rooms.add(frame.room)
        return DoSubscribe(room, frame.recover, frame.presence_events, frame.id)

    def subscribe_failed(self, room: str) -> None:
        """The shell could not complete a subscription; forget it."""
        self.rooms.discard(room)
        self.joined.discard(room)

    def subscribe_done(self, room: str) -> None:
        """The shell confirmed a subscription: the room may be read from now on."""
        self.joined.add(room)

    def unsubscribe_done(self, room: str) -> None:
        """The shell ran an unsubscribe: the room may no longer be read."""
        self.joined.discard(room)

    def all_rooms(self) -> list[str]:
        """Every room this connection may be in upstream (asked for or still joined)."""
        return list(self.rooms | self.joined)

    def forget_all(self) -> None:
        self.rooms.clear()
        self.joined.clear()

    def _publish(self, frame: p.Publish) -> Command:
        room = self._own_room(frame.room, frame.id, PUBLISH)
        if isinstance(room, Reply):
            return room
        data = bytes(frame.data)
        if len(data) > self.limits.max_publish_bytes:
            return error(p.ErrorCode.PAYLOAD_TOO_LARGE,
                         f"data is {len(data)} bytes; the limit is "
                         f"{self.limits.max_publish_bytes}", frame.id)
        if (claimed := reserved_type(data)) is not None:
            return error(p.ErrorCode.FORBIDDEN,
                         f"type {claimed} is reserved for room services", frame.id)
        if not self._take_token():
            return error(p.ErrorCode.RATE_LIMITED, "publish rate limit exceeded", frame.id)
        return DoPublish(room, data, frame.id)
