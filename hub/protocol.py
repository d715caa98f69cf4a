"""Wire protocol v1: the one source of truth for every frame on the socket.

Client and server frames are msgspec tagged unions (tag field ``type``).
``docs/protocol.md`` is generated from this module (``python -m hub.protocol_doc``)
and a test fails when the two drift apart.

Room payloads (``data``) are carried as :class:`msgspec.Raw`: the hub never
re-parses what a publisher sent, and a publication is encoded once per node.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta, Raw, Struct

# Shared with the rooms layer, which sends them: the error codes, the envelope the node
# writes around room messages, and chat items. Re-exported here, where the whole frame
# schema is read (``docs/protocol.md`` is generated from this module).
from rooms.codes import ERROR_DOCS as ERROR_DOCS
from rooms.codes import Action as Action
from rooms.codes import ErrorCode as ErrorCode
from rooms.envelope import INT64_MAX, Count, Offset
from rooms.envelope import Join as Join
from rooms.envelope import Leave as Leave
from rooms.envelope import Member as Member
from rooms.envelope import Message as Message
from rooms.envelope import Publication as Publication
from rooms.envelope import StreamPosition as StreamPosition
from rooms.envelope import Subscribed as Subscribed
from rooms.services.chat_wire import ChatItem as ChatItem

PROTOCOL_VERSION: Final = 1

RequestId = Annotated[int, Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]
# "<service>.<method>"; bounded so no error that names it can carry a client's essay.
# ``\Z``, not ``$``: msgspec matches with Python's ``re``, whose ``$`` also matches before
# a trailing newline ("tips.state\n").
MethodName = Annotated[str, Meta(max_length=64, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\Z")]


# --- client -> server -------------------------------------------------------


class Subscribe(Struct, tag="subscribe", frozen=True):
    """Join a room. With ``recover``, also receive every message missed since it."""

    room: str
    recover: StreamPosition | None = None
    presence_events: bool = False  # also receive `join` / `leave` frames
    id: RequestId | None = None


class Unsubscribe(Struct, tag="unsubscribe", frozen=True):
    """Leave a room."""

    room: str
    id: RequestId | None = None


class Publish(Struct, tag="publish", frozen=True):
    """Publish ``data`` (any JSON value) to a room; answered by ``published``.

    Room services own the event types they broadcast (`chat`, `requests`, `karaoke`,
    `tips.*`... every room event listed under "Room services"). Clients trust those, so
    a raw ``data`` object whose ``type`` is one of them is refused with 4403; so is any
    ``type`` in a dotted service namespace such as ``tips.``. The same holds for the
    server publish API (HTTP 400).
    """

    room: str
    data: Raw
    id: RequestId | None = None


class PresenceQuery(Struct, tag="presence", frozen=True):
    """Ask for a room's presence snapshot (you must be subscribed)."""

    room: str
    id: RequestId | None = None


class HistoryQuery(Struct, tag="history", frozen=True):
    """Fetch retained messages with offset greater than ``since`` (you must be subscribed).

    Reads (``history``, ``chat_history``, ``presence``) share a per-connection rate limit.
    """

    room: str
    since: Offset = 0
    limit: Count = 100
    id: RequestId | None = None


class Chat(Struct, tag="chat", frozen=True):
    """Post a chat message. Answered by ``chat_sent`` once it is stored in Postgres.

    ``client_msg_id`` makes retries safe: a resend by the same user with the same id is
    stored and broadcast once, and answered with the original ``chat_sent``. (A resend
    after a 4503 whose write committed unseen, or after the broadcast left the room's
    history window, broadcasts it then: drop a chat ``message_id`` already shown.)
    """

    room: str
    text: str
    client_msg_id: str | None = None
    id: RequestId | None = None


class ChatHistoryQuery(Struct, tag="chat_history", frozen=True):
    """Page back through a room's stored chat, older than ``before`` (a ``seq``)."""

    room: str
    before: Offset | None = None
    limit: Count = 50
    id: RequestId | None = None


class Call(Struct, tag="call", frozen=True):
    """Call a room service method (see "Room services"); answered by ``result``.

    ``method`` is ``<service>.<name>`` in lowercase, at most 64 characters.
    """

    room: str
    method: MethodName
    params: Raw = Raw(b"{}")
    id: RequestId | None = None


class Ping(Struct, tag="ping", frozen=True):
    """Application-level ping; answered by ``pong``."""

    id: RequestId | None = None


class Refresh(Struct, tag="refresh", frozen=True):
    """Replace the connection's token before its ``exp``; answered by ``refreshed``.

    The new token must name the same ``sub`` and ``org``. Without a refresh the
    hub closes the connection with 4002 when ``exp`` passes. A refused token
    (forged, expired, too long-lived, another sub or org) gets error 4410 and
    changes nothing: the old token still applies. The new token's roles are
    confirmed against memberships like the first one's.
    """

    token: str
    id: RequestId | None = None


ClientFrame = (
    Subscribe | Unsubscribe | Publish | PresenceQuery | HistoryQuery | Chat | ChatHistoryQuery
    | Call | Ping | Refresh
)


# --- server -> client -------------------------------------------------------


class Welcome(Struct, tag="welcome", frozen=True):
    """First frame on every connection."""

    client: str
    node: str
    time: int  # server time, milliseconds since the Unix epoch
    version: int = PROTOCOL_VERSION


class Unsubscribed(Struct, tag="unsubscribed", frozen=True):
    """Unsubscription confirmed."""

    room: str
    id: int | None = None


class Published(Struct, tag="published", frozen=True):
    """The hub accepted and sequenced a ``publish``: it is in history at ``offset``."""

    room: str
    epoch: str
    offset: int
    id: int | None = None


class PresenceSnapshot(Struct, tag="presence", frozen=True):
    """Who is in a room right now, across all hub nodes."""

    room: str
    count: int
    members: list[Member]
    id: int | None = None


class History(Struct, tag="history", frozen=True):
    """Retained messages after ``since``. ``complete`` is false if some were trimmed."""

    room: str
    epoch: str
    offset: int
    complete: bool
    publications: list[Publication]
    id: int | None = None


class Result(Struct, tag="result", frozen=True):
    """The outcome of a ``call``; its shape is the method's result type."""

    room: str
    method: str
    result: Raw
    id: int | None = None


class Snapshot(Struct, tag="snapshot", frozen=True):
    """One service's full state for a room, with its version. Sent after ``subscribed``
    unless the subscription recovered every missed message. Postgres down: an ``error``
    4503 with the subscribe's ``id`` comes instead, and the subscription stands."""

    room: str
    service: str
    state: Raw


class Error(Struct, tag="error", frozen=True):
    """A request failed; the connection stays open. See ``ErrorCode``.

    ``state`` carries the current state when a change was refused as stale (4412).
    """

    code: int
    reason: str
    id: int | None = None
    state: Raw | None = None


class ChatSent(Struct, tag="chat_sent", frozen=True):
    """The chat message is committed to Postgres. ``message_id`` is the stored message's
    id, as room chat events, history and moderation name it. ``status`` "visible":
    broadcast to the room; "held": a blocked word matched and it waits for a moderator;
    "removed" (only answering a retry): a moderator has since deleted it."""

    room: str
    message_id: str
    status: str = "visible"
    id: int | None = None


class ChatPage(Struct, tag="chat_page", frozen=True):
    """Stored chat, oldest first. Ask again with ``before`` for the page before it;
    ``before`` is null when there is nothing older."""

    room: str
    messages: list[ChatItem]
    before: int | None
    id: int | None = None


class Pong(Struct, tag="pong", frozen=True):
    """Answer to ``ping``."""

    id: int | None = None


class Refreshed(Struct, tag="refreshed", frozen=True):
    """The new token is in effect until ``exp`` (seconds since the Unix epoch), with
    these roles (after the membership check)."""

    exp: int
    roles: list[str]
    id: int | None = None


class RolesChanged(Struct, tag="roles", frozen=True):
    """The connection's roles in effect changed: an admin changed or removed the
    user's membership. Requests from now on are judged by these roles."""

    roles: list[str]


ServerFrame = (
    Welcome
    | Subscribed
    | Unsubscribed
    | Published
    | Message
    | PresenceSnapshot
    | Join
    | Leave
    | History
    | ChatSent
    | ChatPage
    | Result
    | Snapshot
    | Error
    | Pong
    | Refreshed
    | RolesChanged
)


# --- codes -------------------------------------------------------------------


class CloseCode(enum.IntEnum):
    """Websocket close codes the hub sends (RFC 6455 section 7.4 plus 4000-4999)."""

    NORMAL = 1000
    PROTOCOL_ERROR = 1002  # sent by websockets' protocol layer, not by our code
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    UNAUTHORIZED = 4001
    TOKEN_EXPIRED = 4002
    OVERLAY_ROTATED = 4003
    SLOW_CONSUMER = 4008
    IDLE_TIMEOUT = 4009
    TOO_MANY_PENDING = 4020


CLOSE_DOCS: Final[dict[CloseCode, tuple[str, Action]]] = {
    CloseCode.NORMAL: ("the client closed, or the server finished", Action.GIVE_UP),
    CloseCode.PROTOCOL_ERROR: (
        "the client broke websocket framing (RFC 6455 section 5): an unmasked frame, a"
        " continuation with no message, a new message inside a fragmented one, or a"
        " fragmented control frame",
        Action.FIX,
    ),
    CloseCode.MESSAGE_TOO_BIG: (
        "a frame, or a message of several fragments, exceeded `HUB_MAX_FRAME_BYTES`",
        Action.FIX,
    ),
    CloseCode.INTERNAL_ERROR: ("unexpected server error", Action.RECONNECT),
    CloseCode.SERVICE_RESTART: (
        "this node is shutting down (SIGTERM); reconnect, another node will take you",
        Action.RECONNECT,
    ),
    CloseCode.UNAUTHORIZED: (
        "token missing, malformed, forged, not HS256 (alg=none is refused), or living"
        " longer than `HUB_MAX_TOKEN_TTL`; or an overlay credential (`?overlay=`) that is"
        " not the event's current one",
        Action.GIVE_UP,
    ),
    CloseCode.TOKEN_EXPIRED: ("the token's `exp` has passed (send `refresh` before it does)",
                              Action.REFRESH_TOKEN),
    CloseCode.OVERLAY_ROTATED: (
        "the overlay credential this connection used was rotated"
        " (`POST /api/events/{id}/overlay`): load the overlay's new URL",
        Action.GIVE_UP,
    ),
    CloseCode.SLOW_CONSUMER: (
        "the connection's send queue overflowed: it read too slowly",
        Action.RECONNECT,
    ),
    CloseCode.IDLE_TIMEOUT: ("no data and no pong within the idle timeout", Action.RECONNECT),
    CloseCode.TOO_MANY_PENDING: (
        "far more requests were pipelined than `HUB_MAX_PENDING` allows; the hub stops"
        " reading at that bound and closes only when one read overshoots it 4 times."
        " Wait for replies before sending more",
        Action.RECONNECT,
    ),
}


# --- codecs (module level: built once) --------------------------------------

_client_json = msgspec.json.Decoder(ClientFrame)
_json_encoder = msgspec.json.Encoder()
DEFAULT_MAX_DEPTH: Final = 32


class _AnyId(Struct):
    """Just enough of a frame to echo its ``id`` when the rest is invalid."""

    id: Any = None


_id_json = msgspec.json.Decoder(_AnyId)
_raw_json = msgspec.json.Decoder(Raw)
# A JSON string, escapes included: brackets inside strings do not nest anything.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN_TO_CURLY = bytes.maketrans(b"[]", b"{}")
# msgspec's message ends with the path of the offending field, e.g. "- at `$.recover.offset`";
# the path names only our fields (unknown keys are ignored), so it is safe to repeat.
_AT_FIELD = re.compile(r"at `\$\.([a-z_.]{1,40})`$")
_MISSING_FIELD = re.compile(r"required field `([a-z_]{1,40})`$")


class FrameError(Exception):
    """A client frame could not be decoded; carries the error code to send back.

    ``reason`` is our own short text (never the decoder's message, which can quote
    client input); ``detail`` is that message, for the log. ``id`` is the frame's
    request id when one could still be read, so the error can be matched.
    """

    def __init__(self, code: ErrorCode, reason: str, detail: str = "",
                 request_id: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.detail = detail
        self.id = request_id


def json_depth_exceeds(data: bytes, max_depth: int) -> bool:
    """True if ``data`` nests arrays/objects deeper than ``max_depth``.

    Runs in C-speed passes: strings are cut out, only brackets kept, then each pass
    removes the innermost ``{}`` pairs; a pass per level, at most ``max_depth``.
    Unbalanced input is left to the decoder, which refuses it as invalid JSON.
    """
    if data.count(b"{") + data.count(b"[") <= max_depth:
        return False  # fewer opening brackets than levels, strings included: the usual frame
    brackets = _JSON_STRING.sub(b"", data).translate(_OPEN_TO_CURLY, _NOT_BRACKET)
    for _ in range(max_depth):
        reduced = brackets.replace(b"{}", b"")
        if len(reduced) == len(brackets):
            return False  # nothing left to reduce: empty, or not valid JSON
        brackets = reduced
    return b"{}" in brackets


def _request_id(data: bytes) -> int | None:
    try:
        value = _id_json.decode(data).id
    except (msgspec.DecodeError, RecursionError):
        return None
    if type(value) is int and -INT64_MAX - 1 <= value <= INT64_MAX:  # bool is no id
        return value
    return None


def decode_client(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> ClientFrame:
    """Decode one JSON client frame.

    Raises:
        FrameError: with BAD_FRAME, UNKNOWN_FRAME or INVALID_FIELD.
    """
    try:
        # JSON text is UTF-8 (RFC 8259 section 8.1). msgspec checks only the strings it
        # decodes: invalid bytes in a ``Raw`` field (publish ``data``) would be passed on
        # to every subscriber, whose client then fails the connection (RFC 6455 8.1).
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(ErrorCode.BAD_FRAME, "frame is not valid UTF-8", str(exc)) from None
    if json_depth_exceeds(data, max_depth):
        # Checked first: a deep frame would exhaust the decoder's recursion limit.
        raise FrameError(ErrorCode.BAD_FRAME, f"JSON nested deeper than {max_depth} levels",
                         "too deep or unbalanced")
    try:
        frame: ClientFrame = _client_json.decode(data)
        return frame
    except msgspec.ValidationError as exc:
        text = str(exc)
        if not _well_formed(data):  # msgspec stops at the first misfit, before the end
            raise FrameError(ErrorCode.BAD_FRAME, "frame is not valid JSON", text) from None
        request_id = _request_id(data)
        if text.endswith("`$.type`") or "required field `type`" in text:
            raise FrameError(ErrorCode.UNKNOWN_FRAME, "unknown or missing frame `type`", text,
                             request_id) from None
        if text.startswith("Expected `object`") or (
                " - at `$" not in text and not _MISSING_FIELD.search(text)):
            # The frame itself is wrong, not a field: an array, or a number out of range.
            raise FrameError(ErrorCode.BAD_FRAME, "frame must be a JSON object", text) from None
        if missing := _MISSING_FIELD.search(text):
            reason = f"missing field `{missing.group(1)}`"
        elif field := _AT_FIELD.search(text):
            reason = f"invalid field `{field.group(1)}`"
        else:
            reason = "invalid field"
        raise FrameError(ErrorCode.INVALID_FIELD, reason, text, request_id) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise FrameError(ErrorCode.BAD_FRAME, "frame is not valid JSON", str(exc)) from None


def _well_formed(data: bytes) -> bool:
    """True if ``data`` is one JSON value (numbers of any size: only the syntax counts)."""
    try:
        _raw_json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def encode(frame: Any) -> bytes:
    """Encode one server frame as JSON (the default text subprotocol)."""
    return _json_encoder.encode(frame)


def is_valid_json(data: bytes) -> bool:
    """True if ``data`` is one well-formed JSON value (used for HTTP publishes)."""
    try:
        msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False
    return True
