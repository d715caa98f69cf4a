"""The session at the edge: confirmed subscriptions, read limits, and frames checked before use."""

from __future__ import annotations

import json

import pytest

from hub import protocol as p
from hub.session import DoChatHistory, DoHistory, DoPresence, DoPublish, Reply
from rooms.roles import Role
from tests.unit.test_session import ORG, Clock, frame, session

ROOM = f"org:{ORG}"


def error_of(command: object) -> dict[str, object]:
    assert isinstance(command, Reply)
    decoded: dict[str, object] = json.loads(command.frame)
    assert decoded["type"] == "error"
    return decoded


def test_subscribe_is_asked_for_but_not_joined_until_the_shell_confirms():
    """A subscribe is recorded as asked for; only subscribe_done makes the room readable."""
    s = session()
    s.receive(frame(type="subscribe", room=ROOM))
    assert ROOM in s.rooms and ROOM not in s.joined
    s.subscribe_done(ROOM)
    assert ROOM in s.joined
    s.subscribe_failed(ROOM)
    assert ROOM not in s.rooms and ROOM not in s.joined


def test_reads_share_a_rate_limit():
    """history, chat_history and presence draw from one read bucket, refilled over time."""
    clock = Clock()
    s = session(clock=clock, read_rate=1.0, read_burst=3)
    s.receive(frame(type="subscribe", room=ROOM))
    assert isinstance(s.receive(frame(type="history", room=ROOM)), DoHistory)
    assert isinstance(s.receive(frame(type="presence", room=ROOM)), DoPresence)
    assert isinstance(s.receive(frame(type="chat_history", room=ROOM)), DoChatHistory)
    for kind in ("history", "presence", "chat_history"):
        assert error_of(s.receive(frame(type=kind, room=ROOM, id=8))) == {
            "type": "error", "code": 4429, "reason": "read rate limit exceeded", "id": 8,
            "state": None}
    clock.now += 1.0
    assert isinstance(s.receive(frame(type="history", room=ROOM)), DoHistory)


@pytest.mark.parametrize("fields", [
    {"text": "a\x00b"}, {"text": "ok", "client_msg_id": "x\x00"},
])
def test_nul_in_chat_is_an_invalid_field(fields):
    """Postgres text cannot hold NUL: refused with 4402 before it gets there."""
    assert error_of(session().receive(frame(type="chat", room=ROOM, id=2, **fields)))["code"] \
        == 4402


@pytest.mark.parametrize("data", [
    {"type": "requests", "votes": "<img onerror=alert(1)>"}, {"type": "tips.alert_show"},
    {"type": "chat", "text": "x"}, {"type": "karaoke"}, {"type": "tips.anything"},
])
def test_raw_publish_cannot_use_service_event_types(data):
    """A service event type in raw data is refused with 4403 and a reason of our own."""
    err = error_of(session(Role.DJ).receive(frame(type="publish", room=ROOM, data=data, id=1)))
    assert err["code"] == 4403 and "<img" not in str(err["reason"])


@pytest.mark.parametrize("data", [{"type": "song"}, {"kind": "requests"}, ["requests"],
                                  "chat", {"type": 1}, {"nested": {"type": "requests"}}])
def test_raw_publish_of_other_data_is_allowed(data):
    """Only a top-level object's `type` is reserved; anything else publishes as before."""
    assert isinstance(session(Role.DJ).receive(frame(type="publish", room=ROOM, data=data)),
                      DoPublish)


@pytest.mark.parametrize(("raw", "code", "reason", "request_id"), [
    (b'{"type":"' + b"x" * 5000 + b'","id":9}', 4401, "unknown or missing frame `type`", 9),
    (b'{"type":"history","room":"r","since":-1,"id":9}', 4402, "invalid field `since`", 9),
    (b'{"type":"history","id":9}', 4402, "missing field `room`", 9),
    (b'{"type":"ping","id":true}', 4402, "invalid field `id`", None),
    (b'{"type":"nope","id":99999999999999999999}', 4401, "unknown or missing frame `type`",
     None),
    (b"[1,2]", 4400, "frame must be a JSON object", None),
    (b"{oops", 4400, "frame is not valid JSON", None),
    (b'{"type":"publish","room":"r","data":' + b"[" * 33 + b"]" * 33 + b"}", 4400,
     "JSON nested deeper than 32 levels", None),
])
def test_decode_errors_have_our_reasons_and_echo_ids(raw, code, reason, request_id):
    """Decode errors never quote the decoder; an int64 id in the frame is echoed."""
    assert error_of(session().receive(raw)) == {"type": "error", "code": code, "reason": reason,
                                                "id": request_id, "state": None}


def test_malformed_room_name_is_not_echoed():
    """A huge room name gets a short fixed reason."""
    err = error_of(session().receive(frame(type="subscribe", room="<b>" * 3000, id=3)))
    assert err == {"type": "error", "code": 4404, "reason": "malformed room name", "id": 3,
                   "state": None}


@pytest.mark.parametrize(("data", "too_deep"), [
    (b"[" * 32 + b"]" * 32, False),
    (b"[" * 33 + b"]" * 33, True),
    (b'{"a":[{"b":[1,2,{"c":[]}]}],"d":[[]]}', False),
    (b'"' + b"[" * 500 + b'"', False),  # brackets inside a string nest nothing
    (b'["\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]', False),  # escaped quote
    (b"[" * 40, False),  # unbalanced: the decoder refuses it as invalid JSON
    (b"[" * 40 + b"]" * 39, True),  # ...unless it is nested too deep first
])
def test_json_depth_check(data, too_deep):
    """Depth counts nested arrays and objects only, ignoring brackets inside strings."""
    assert p.json_depth_exceeds(data, 32) is too_deep


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "call", "method": "<script>" + "x" * 5000}, "method"),
    ({"type": "call", "method": "nodot"}, "method"),
    ({"type": "subscribe", "recover": {"epoch": "e" * 5000, "offset": 1}}, "recover.epoch"),
])
def test_unbounded_strings_that_errors_could_name_are_refused(fields, field):
    """A call's method (named in 4406 errors) and a recovery epoch are bounded at the edge."""
    err = error_of(session().receive(frame(room=ROOM, id=5, **fields)))
    assert (err["code"], err["reason"], err["id"]) == (4402, f"invalid field `{field}`", 5)
