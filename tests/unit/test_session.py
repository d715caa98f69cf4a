"""The sans-I/O session: bytes in, commands out, no sockets."""

from __future__ import annotations

import json
import uuid

import msgspec
import pytest

from hub import protocol as p
from hub.session import DoHistory, DoPublish, DoSubscribe, DoUnsubscribe, Limits, Reply, Session
from rooms.principal import Principal
from rooms.roles import Role

ORG = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER = uuid.UUID("22222222-2222-4222-8222-222222222222")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def session(*roles: Role, clock: Clock | None = None, **limits: object) -> Session:
    principal = Principal(sub="u", org=ORG, roles=frozenset(roles or {Role.VIEWER}), exp=0)
    return Session(principal, msgspec.convert(limits, Limits), clock or Clock())


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def error_code(command: object) -> int:
    assert isinstance(command, Reply)
    decoded = json.loads(command.frame)
    assert decoded["type"] == "error"
    code: int = decoded["code"]
    return code


def test_subscribe_to_own_org_room_yields_command():
    """Subscribing to the token's own org room becomes a DoSubscribe."""
    s = session()
    cmd = s.receive(frame(type="subscribe", room=f"org:{ORG}", id=3))
    assert isinstance(cmd, DoSubscribe) and str(cmd.room) == f"org:{ORG}" and cmd.id == 3
    assert f"org:{ORG}" in s.rooms


def test_subscribe_with_recovery_position_is_parsed():
    """The optional {epoch, offset} is carried to the command."""
    cmd = session().receive(frame(type="subscribe", room=f"org:{ORG}",
                                  recover={"epoch": "e1", "offset": 41}))
    assert isinstance(cmd, DoSubscribe)
    assert cmd.recover == p.StreamPosition(epoch="e1", offset=41)


def test_other_org_room_is_forbidden():
    """Another org's room gets FORBIDDEN and is not recorded."""
    s = session(Role.ADMIN)
    assert error_code(s.receive(frame(type="subscribe", room=f"org:{OTHER}"))) == 4403
    assert not s.rooms


def test_double_subscribe_is_refused():
    """A second subscribe to the same room gets ALREADY_SUBSCRIBED."""
    s = session()
    s.receive(frame(type="subscribe", room=f"org:{ORG}"))
    assert error_code(s.receive(frame(type="subscribe", room=f"org:{ORG}"))) == 4409


@pytest.mark.parametrize("room", ["lobby", "org:", "org:123", "venue:" + str(ORG),
                                  "org:ABCDEF12-1111-4111-8111-111111111111"])
def test_malformed_room_names_are_unknown_rooms(room):
    """Only canonical org:<uuid> and event:<uuid> names are rooms."""
    assert error_code(session().receive(frame(type="subscribe", room=room))) == 4404


@pytest.mark.parametrize(("roles", "kind", "allowed"), [
    ((Role.VIEWER,), "org", False), ((Role.VIEWER,), "event", False),
    ((Role.PERFORMER,), "org", False), ((Role.PERFORMER,), "event", True),
    ((Role.DJ,), "org", True), ((Role.DJ,), "event", True),
    ((Role.MODERATOR,), "org", True), ((Role.ADMIN,), "event", True),
])
def test_publish_matrix(roles, kind, allowed):
    """Who may publish raw data follows the documented matrix."""
    room = f"{kind}:{ORG if kind == 'org' else uuid.uuid4()}"
    cmd = session(*roles).receive(frame(type="publish", room=room, data={"x": 1}))
    if allowed:
        assert isinstance(cmd, DoPublish) and cmd.data == b'{"x": 1}'
    else:
        assert error_code(cmd) == 4403


def test_publish_rate_limit_refills_over_time():
    """The token bucket refuses past the burst and refills at the configured rate."""
    clock = Clock()
    s = session(Role.DJ, clock=clock, publish_rate=2.0, publish_burst=2)
    pub = frame(type="publish", room=f"org:{ORG}", data=1)
    assert isinstance(s.receive(pub), DoPublish)
    assert isinstance(s.receive(pub), DoPublish)
    assert error_code(s.receive(pub)) == 4429
    clock.now += 0.5  # one token back at 2/s
    assert isinstance(s.receive(pub), DoPublish)
    assert error_code(s.receive(pub)) == 4429


def test_publish_size_limit():
    """Data over max_publish_bytes gets PAYLOAD_TOO_LARGE."""
    s = session(Role.DJ, max_publish_bytes=10)
    assert error_code(s.receive(frame(type="publish", room=f"org:{ORG}", data="x" * 20))) == 4413


def test_unsubscribe_and_queries_need_a_subscription():
    """Unsubscribe, presence and history refuse rooms the session is not in."""
    s = session()
    room = f"org:{ORG}"
    for kind in ("unsubscribe", "presence", "history"):
        assert error_code(s.receive(frame(type=kind, room=room))) == 4405
    s.receive(frame(type="subscribe", room=room))
    assert isinstance(s.receive(frame(type="history", room=room, since=5, limit=10**6)),
                      DoHistory)
    assert isinstance(s.receive(frame(type="unsubscribe", room=room)), DoUnsubscribe)
    assert room not in s.rooms


def test_history_limit_is_capped():
    """A huge history limit is capped at the configured maximum."""
    s = session(history_limit=50)
    s.receive(frame(type="subscribe", room=f"org:{ORG}"))
    cmd = s.receive(frame(type="history", room=f"org:{ORG}", limit=10_000))
    assert isinstance(cmd, DoHistory) and cmd.limit == 50


@pytest.mark.parametrize(("raw", "code"), [
    (b"{", 4400), (b"[]", 4400), (b'"str"', 4400), (b'{"type":"nope"}', 4401),
    (b"{}", 4401), (b'{"type":"subscribe"}', 4402), (b'{"type":"history","room":"r",'
                                                      b'"since":"x"}', 4402),
])
def test_decode_errors_map_to_codes(raw, code):
    """Malformed JSON, unknown types and invalid fields each have their own code."""
    assert error_code(session().receive(raw)) == code


def test_ping_is_answered_inline():
    """A ping needs no I/O: the session replies with a pong carrying the id."""
    cmd = session().receive(frame(type="ping", id=9))
    assert isinstance(cmd, Reply) and json.loads(cmd.frame) == {"type": "pong", "id": 9}
