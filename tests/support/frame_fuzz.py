"""Generated client frames and an independent oracle of what the hub must answer.

The strategies build frames as bytes, mostly near-valid (a known ``type``, fields of the
right or wrong kind, hostile rooms, ids at and past the int64 bounds, reserved event
types, oversized data) and some plainly broken (truncated, invalid UTF-8, NaN and
Infinity literals, lone surrogates, nesting past the depth limit up to 100,000 levels,
random bytes). :class:`Oracle` works out each answer from ``docs/protocol.md`` with the
standard library's ``json`` (not msgspec, which the hub uses), and models the session
state it depends on (the rooms asked for).
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from hub.service_events import reserved_types

ORG = uuid.UUID("5f0c0000-0000-4000-8000-00000000f022")
OTHER_ORG = uuid.UUID("5f0c0000-0000-4000-8000-0000000000ff")
EVENTS = [uuid.UUID(f"e0000000-0000-4000-8000-00000000000{n}") for n in range(3)]
OWN_ROOM = f"org:{ORG}"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # HUB_MAX_JSON_DEPTH's default
MAX_PUBLISH_BYTES = 16 * 1024  # hub.session.Limits' defaults, as the doc names them
MAX_CHAT_CHARS = 500
HISTORY_LIMIT, CHAT_PAGE_LIMIT = 1000, 100
MAX_SUBSCRIPTIONS = 64

BAD_FRAME, UNKNOWN_FRAME, INVALID_FIELD, FORBIDDEN, UNKNOWN_ROOM = 4400, 4401, 4402, 4403, 4404
NOT_SUBSCRIBED, ALREADY_SUBSCRIBED, PAYLOAD_TOO_LARGE = 4405, 4409, 4413

# The client frame schema of docs/protocol.md: field -> (kind, required).
SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "subscribe": {"room": ("str", True), "recover": ("position?", False),
                  "presence_events": ("bool", False), "id": ("id?", False)},
    "unsubscribe": {"room": ("str", True), "id": ("id?", False)},
    "publish": {"room": ("str", True), "data": ("any", True), "id": ("id?", False)},
    "presence": {"room": ("str", True), "id": ("id?", False)},
    "history": {"room": ("str", True), "since": ("offset", False), "limit": ("count", False),
                "id": ("id?", False)},
    "chat": {"room": ("str", True), "text": ("str", True), "client_msg_id": ("str?", False),
             "id": ("id?", False)},
    "chat_history": {"room": ("str", True), "before": ("offset?", False),
                     "limit": ("count", False), "id": ("id?", False)},
    "call": {"room": ("str", True), "method": ("method", True), "params": ("any", False),
             "id": ("id?", False)},
    "ping": {"id": ("id?", False)},
    "refresh": {"token": ("str", True), "id": ("id?", False)},
}
DEFAULTS = {"since": 0, "limit": {"history": 100, "chat_history": 50}, "before": None,
            "client_msg_id": None, "presence_events": False, "recover": None}
_ROOM = re.compile(r"(org|event):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_METHOD = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
_WS = re.compile(r"[ \t\n\r]*")
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # a string, or a bracket
STAFF, HOSTS = {"dj", "moderator", "admin"}, {"dj", "performer", "moderator", "admin"}


# -- the oracle ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """``error`` (code, id, fields a 4402 may name), ``pong`` (id), or the command the
    session hands the shell (its class name, id and the fields it must carry)."""

    kind: str
    code: int = 0
    id: int | None = None
    fields: frozenset[str] = frozenset()
    command: str = ""
    carries: tuple[tuple[str, Any], ...] = ()
    any_id: bool = False  # the error may also echo no id


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Object(dict[str, Any]):
    """A JSON object (the last of repeated keys wins) that keeps all its pairs."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


_decoder = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_Object)


def depth(text: str) -> int:
    """How deep arrays/objects nest in ``text``, strings skipped (invalid JSON: a guess)."""
    deepest = level = 0
    for token in _TOKENS.finditer(text):
        if token.group() in ("[", "{"):
            level += 1
            deepest = max(deepest, level)
        elif token.group() in ("]", "}"):
            level -= 1
    return deepest


def _unicode_clean(value: Any) -> bool:
    """No lone surrogate (``"\\ud800"`` parses in Python, but is no Unicode text)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_unicode_clean(v) for v in value)
    if isinstance(value, _Object):
        return all(_unicode_clean(k) and _unicode_clean(v) for k, v in value.pairs)
    return True


def top_level_slices(text: str) -> dict[str, str]:
    """The exact text of each top-level value of a valid JSON object (the last of
    duplicate keys wins): ``publish`` limits ``data`` by its bytes as sent."""
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    assert text[pos] == "{"
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    out: dict[str, str] = {}
    while text[pos] != "}":
        key, pos = _decoder.raw_decode(text, pos)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        assert text[pos] == ":"
        start = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        _, end = _decoder.raw_decode(text, start)
        out[key] = text[start:end]
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]
        if text[pos] == ",":
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    return out


def _is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _valid(kind: str, value: Any) -> bool:
    if kind.endswith("?"):
        return value is None or _valid(kind[:-1], value)
    match kind:
        case "str":
            return isinstance(value, str)
        case "bool":
            return isinstance(value, bool)
        case "id":
            return _is_int(value, INT64_MIN, INT64_MAX)
        case "offset":
            return _is_int(value, 0, INT64_MAX)
        case "count":
            return _is_int(value, 1, INT64_MAX)
        case "method":
            return isinstance(value, str) and len(value) <= 64 and bool(_METHOD.fullmatch(value))
        case "position":
            return (isinstance(value, dict) and isinstance(value.get("epoch"), str)
                    and _is_int(value.get("offset"), 0, INT64_MAX))
        case "any":
            return True
    raise AssertionError(kind)


def _echo(frame: _Object) -> int | None:
    value = frame.get("id")
    return value if _is_int(value, INT64_MIN, INT64_MAX) else None


def _either(frame: _Object) -> bool:
    """A repeated ``id``: the doc does not say which one an error echoes, if any."""
    return sum(k == "id" for k, _ in frame.pairs) > 1


def _reserved(data: Any) -> bool:
    claimed = data.get("type") if isinstance(data, dict) else None
    if not isinstance(claimed, str):
        return False
    namespaces = {t.partition(".")[0] for t in reserved_types() if "." in t}
    return claimed in reserved_types() or ("." in claimed
                                           and claimed.partition(".")[0] in namespaces)


@dataclass
class Oracle:
    """What one connection with ``roles`` in org ``ORG`` must get for each frame."""

    roles: frozenset[str]
    rooms: set[str] = field(default_factory=set)  # asked for (the session's ``rooms``)

    def expect(self, raw: bytes) -> Expected:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Expected("error", BAD_FRAME)  # JSON text is UTF-8 (RFC 8259 section 8.1)
        if depth(text) > MAX_DEPTH:
            return Expected("error", BAD_FRAME)
        try:
            frame = _decoder.decode(text)
        except (ValueError, RecursionError):
            return Expected("error", BAD_FRAME)
        if not _unicode_clean(frame):
            return Expected("error", BAD_FRAME)
        if not isinstance(frame, _Object):
            return Expected("error", BAD_FRAME)
        # A repeated key: the last one counts, but every one must be valid.
        pairs: list[tuple[str, Any]] = frame.pairs
        kinds = {json.dumps(v) for k, v in pairs if k == "type"}
        kind = frame.get("type")
        if not isinstance(kind, str) or kind not in SCHEMA or len(kinds) > 1:
            return Expected("error", UNKNOWN_FRAME, _echo(frame), any_id=_either(frame))
        schema = SCHEMA[kind]
        bad = frozenset(name for name, (k, required) in schema.items()
                        if (name not in frame and required))
        bad |= {k for k, v in pairs if k in schema and not _valid(schema[k][0], v)}
        if bad:
            return Expected("error", INVALID_FIELD, _echo(frame), bad, any_id=_either(frame))
        return self._session(kind, frame, text)

    def _room(self, name: str, action: str) -> int | None:
        """The error a room name gets before any I/O, or None."""
        if not _ROOM.fullmatch(name):
            return UNKNOWN_ROOM
        if name.startswith("org:") and name != OWN_ROOM:
            return FORBIDDEN
        if action == "publish":
            needed = STAFF if name.startswith("org:") else HOSTS
            if not needed & self.roles:
                return FORBIDDEN
        return None

    def _session(self, kind: str, f: dict[str, Any], text: str) -> Expected:
        rid = f.get("id")
        room = f.get("room", "")

        def error(code: int) -> Expected:
            return Expected("error", code, rid)

        def command(name: str, **carries: Any) -> Expected:
            return Expected("command", id=rid, command=name, carries=tuple(carries.items()))

        match kind:
            case "ping":
                return Expected("pong", id=rid)
            case "refresh":
                return command("DoRefresh", token=f["token"])
            case "unsubscribe" | "presence" | "history":
                if room not in self.rooms:
                    return error(NOT_SUBSCRIBED)
                if kind == "unsubscribe":
                    self.rooms.discard(room)
                    return command("DoUnsubscribe", room=room)
                if kind == "presence":
                    return command("DoPresence", room=room)
                limit = min(f.get("limit", 100), HISTORY_LIMIT)
                return command("DoHistory", room=room, since=f.get("since", 0), limit=limit)
        action = "publish" if kind == "publish" else "join"
        if (code := self._room(room, action)) is not None:
            return error(code)
        match kind:
            case "subscribe":
                if room in self.rooms:
                    return error(ALREADY_SUBSCRIBED)
                if len(self.rooms) >= MAX_SUBSCRIPTIONS:
                    return error(FORBIDDEN)
                self.rooms.add(room)
                return command("DoSubscribe", presence_events=f.get("presence_events", False))
            case "publish":
                data = top_level_slices(text)["data"].encode()
                if len(data) > MAX_PUBLISH_BYTES:
                    return error(PAYLOAD_TOO_LARGE)
                if _reserved(f["data"]):
                    return error(FORBIDDEN)
                return command("DoPublish", data=data)
            case "chat":
                body = f["text"].strip()
                cid = f.get("client_msg_id")
                if not body:
                    return error(INVALID_FIELD)
                if len(body) > MAX_CHAT_CHARS:
                    return error(PAYLOAD_TOO_LARGE)
                if "\x00" in body or (cid is not None and (not 0 < len(cid) <= 64
                                                           or "\x00" in cid)):
                    return error(INVALID_FIELD)
                return command("DoChat", text=body, client_msg_id=cid)
            case "chat_history":
                return command("DoChatHistory", before=f.get("before"),
                               limit=min(f.get("limit", 50), CHAT_PAGE_LIMIT))
            case "call":
                return command("DoCall", method=f["method"])
        raise AssertionError(kind)


# -- the frames -------------------------------------------------------------------------
#
# Hypothesis draws one integer per frame and ``frame(seed)`` builds the frame from it with
# plain ``random``: drawing every field through Hypothesis costs ~1 ms a frame, too slow
# for 100,000, while Hypothesis still picks, orders and shrinks the frames of a failing
# connection (a failure shrinks to the few frames that matter, each with a small seed).


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _nest(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


_SPECIAL_NUMBERS = [b"1e309", b"-1e309", b"-0", b"-0.0", b"1E2", b"0.1e-400", b"2e-1",
                    b"18446744073709551616", b"9223372036854775808", b"-9223372036854775809",
                    b"9223372036854775807", b"-9223372036854775808", b"1" + b"0" * 300]
_BROKEN_LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"nan", b"True", b"undefined", b"'x'",
                    b'"\\ud800"', b'"\\udc00x"', b'"a\\u0000b"', b'"\\x41"', b'"tab\there"',
                    b"01", b"+1", b".5", b"[1,]", b'{"a":1,}', b'"\xff"', b'"\xc3\x28"',
                    b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"ok\xe2\x82"']
_CHARS = "aZ0 _.:-\"\\/\n\t\x00\x1f\x7féΩ\u2003\u200b\ufeff😀\U0010ffff"
_ROOMS = [OWN_ROOM, f"org:{OTHER_ORG}", *(f"event:{e}" for e in EVENTS),
          f"org:{str(ORG).upper()}", f"org:{ORG.hex}", f"event:{EVENTS[0]}\n", "lobby", "org:",
          "event:", ":", "", f"venue:{ORG}", f"org:{ORG}\x00", f"event: {EVENTS[1]}",
          "org:" + "0" * 5000]
_METHODS = ["tips.state", "requests.mine", "karaoke.mine", "chat.post", "nope.nothing",
            "tips.state\n", "Tips.state", "tips", ".x", "a." + "b" * 62, "a." + "b" * 63,
            "tips.paid", "tips.state\x00"]
_TYPES = ["chat", "requests", "tips.alert_show", "tips.fake", "tips.", "tipsy", "song",
          "karaoke", "message", "nope.x", "join"]
_OWN = OWN_ROOM.encode()


def _text(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, size)))


def _scalar(rng: random.Random) -> bytes:
    match rng.randrange(7):
        case 0:
            return rng.choice([b"null", b"true", b"false"])
        case 1:
            return _dump(rng.randint(-(2**70), 2**70))
        case 2:
            return _dump(rng.choice([0.0, -1.5, 1e300, 5e-324, rng.random() * 1e6]))
        case 3 | 4:
            return _dump(_text(rng))
        case 5:
            return rng.choice(_SPECIAL_NUMBERS)
    return _dump(rng.randint(-3, 3))


def _json(rng: random.Random, budget: int = 3) -> bytes:
    """A well-formed JSON value (numbers may be out of any range)."""
    if budget <= 0 or rng.random() < 0.5:
        return _scalar(rng)
    items = [_json(rng, budget - 1) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.5:
        return b"[" + b",".join(items) + b"]"
    return b"{" + b",".join(_dump(_text(rng, 5)) + b":" + v for v in items) + b"}"


def _any(rng: random.Random) -> bytes:
    return rng.choice(_BROKEN_LITERALS) if rng.random() < 0.15 else _json(rng)


def _room(rng: random.Random) -> bytes:
    match rng.randrange(6):
        case 0 | 1 | 2:
            return _dump(rng.choice(_ROOMS))
        case 3:
            return _dump(f"event:{uuid.UUID(int=rng.getrandbits(128))}")
        case 4:
            return _dump(_text(rng))
    return b'"org:\xff' + _OWN[5:] + b'"'


def _id(rng: random.Random) -> bytes:
    if rng.random() < 0.6:
        return _dump(rng.choice([0, 1, 7, INT64_MIN, INT64_MAX, rng.randint(INT64_MIN,
                                                                              INT64_MAX)]))
    return rng.choice([b"-0", b"1.0", b"1e2", b"true", b"null", b'"7"', b"[]",
                       b"9223372036854775808", b"-9223372036854775809",
                       b"18446744073709551616", b"1e309", b"NaN"])


def _offset(rng: random.Random) -> bytes:
    if rng.random() < 0.6:
        return _dump(rng.choice([0, 1, 2, 99, 1000, 1001, -1, -3, 2**63 - 1, 2**63, 2**64]))
    return rng.choice([b"-0", b"1.5", b"null", b'"5"', b"true", b"1e3"])


def _chat_text(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return _dump(_text(rng, 40))
    return rng.choice([_dump(t) for t in ("", "   ", "\u2003\n", "a\x00b", "x" * 501,
                                          " " + "y" * 500 + " ", "é" * 500, "ok")]
                      + [b'"caf\xc3"', b'"\\ud83d"'])


def _payload(rng: random.Random) -> bytes:
    match rng.randrange(8):
        case 0 | 1 | 2:
            return _json(rng)
        case 3:
            return _dump({"type": rng.choice(_TYPES), "text": "hi"})
        case 4:
            return _dump("x" * rng.randint(MAX_PUBLISH_BYTES - 12, MAX_PUBLISH_BYTES + 40))
        case 5:
            return rng.choice([b'{"type":"chat","type":"song"}', b'{"type":"song","type":"chat"}',
                               b'{"\\u0074ype":"chat"}', b'{"type":"tips\\u002ealert_show"}'])
        case 6:
            return _nest(rng.choice([30, 31, 32, 33, 64]))
    return rng.choice([b'"\xff\xfe"', b'{"note":"\xc3\x28"}', b"NaN", b"1e309"])


def _position(rng: random.Random) -> bytes:
    if rng.random() < 0.7:
        return b'{"epoch":' + _dump(_text(rng, 8)) + b',"offset":' + _offset(rng) + b"}"
    return rng.choice([b"{}", b'{"epoch":"e"}', b'{"offset":1}', b"[]", b'"e:1"', b"null"])


_VALUES: dict[str, Any] = {
    "str": lambda r: _dump(_text(r)) if r.random() < 0.9 else b'"\xff"',
    "str?": lambda r: b"null" if r.random() < 0.2 else _chat_text(r),
    "id?": _id, "offset": _offset, "offset?": _offset, "count": _offset,
    "bool": lambda r: r.choice([b"true", b"false", b"0", b'"true"', b"null"]),
    "method": lambda r: _dump(r.choice(_METHODS) if r.random() < 0.8 else _text(r)),
    "position?": _position, "any": _payload}


def frame(seed: int) -> bytes:
    """One frame: mostly a known type with right, wrong or missing fields, then maybe
    broken on purpose (truncated, a BOM, trailing bytes, an invalid UTF-8 sequence)."""
    rng = random.Random(seed)
    shape = rng.randrange(20)
    if shape == 0:
        return rng.randbytes(rng.randint(0, 40))
    if shape == 1:
        return _any(rng)  # not an object (or not JSON)
    if shape == 2:
        # 100,000 levels: a 200 KB frame, ~25 in 100,000 frames are enough.
        levels = 100_000 if rng.random() < 0.005 else rng.choice([31, 32])
        return b'{"type":"publish","room":"' + _OWN + b'","data":' + _nest(levels) + b"}"
    kind = rng.choice([*SCHEMA, *SCHEMA, "teleport", "", "PING", "subscribe "])
    members: list[tuple[bytes, bytes]] = []
    if rng.random() < 0.9:
        members.append((b'"type"', _dump(kind) if rng.random() < 0.8 else _any(rng)))
    for name, (k, required) in SCHEMA.get(kind, {"room": ("str", True)}).items():
        choice = rng.randrange(10)
        if choice == 0 or (choice == 1 and not required):
            continue  # missing
        value = _any(rng) if choice == 2 else _room(rng) if name == "room" else _VALUES[k](rng)
        members.append((_dump(name), value))
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        members.append((rng.choice([_dump(_text(rng, 6)), b'"\xff"', b'"id"']), _any(rng)))
    rng.shuffle(members)
    space = rng.choice([b"", b"", b" ", b"\n\t"])
    body = b"{" + space + (b"," + space).join(
        key + space + b":" + space + value for key, value in members) + space + b"}"
    match rng.randrange(16):
        case 0:
            return body[:rng.randrange(max(1, len(body)))]
        case 1:
            return b"\xef\xbb\xbf" + body
        case 2:
            return body + rng.choice([b"x", b"{}", b" 1", b"\x00"])
        case 3:
            at = rng.randint(0, len(body))
            return body[:at] + rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xb2\x80"]) + body[at:]
    return body


ROLES = [frozenset({"viewer"}), frozenset({"performer"}), frozenset({"dj"}),
         frozenset({"admin", "viewer"})]
# One example is a whole connection's worth of frames.
connections = st.tuples(st.sampled_from(ROLES),
                        st.lists(st.integers(0, 2**32 - 1), min_size=100, max_size=110))
