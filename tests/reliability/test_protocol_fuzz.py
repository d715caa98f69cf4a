"""Issue #13: protocol fuzzing. Generated frames go into the sans-I/O session (100,000 of
them) and, a sample, over real sockets into a real hub process; each answer is checked
against an oracle worked out from ``docs/protocol.md`` (``tests/support/frame_fuzz.py``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

from hub import session as s
from rooms.principal import Principal
from rooms.roles import Role
from tests.support.client import token
from tests.support.frame_fuzz import ORG, OWN_ROOM, Expected, Oracle, connections, frame
from tests.support.hubproc import API_KEY, ROOT, HubProcess
from tests.support.raw_ws import RawClient

MAX_FRAME = 256 * 1024  # the 100,000-level frames (200 KB) get through to the session


class Clock:
    """A second passes per frame: the rate limits (tested on their own) stay out of it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def check(expected: Expected, got: s.Command, raw: bytes) -> None:
    """``got`` is the answer ``expected`` describes."""
    where = f"frame {raw[:300]!r}"
    if expected.kind == "command":
        assert type(got).__name__ == expected.command, (where, got)
        assert not isinstance(got, s.Reply) and got.id == expected.id, where
        for name, value in expected.carries:
            assert getattr(got, name) == value, (where, name, got)
        return
    assert isinstance(got, s.Reply), (where, expected, got)
    check_reply(expected, json.loads(got.frame), raw)


def check_reply(expected: Expected, frame: dict[str, Any], raw: bytes) -> None:
    """``frame``, the hub's direct answer, is the error or pong ``expected`` describes."""
    where = f"frame {raw[:300]!r}"
    if expected.kind == "pong":
        assert frame == {"type": "pong", "id": expected.id}, where
        return
    assert (frame["type"], frame["code"]) == ("error", expected.code), (where, frame)
    assert frame["id"] == expected.id or (expected.any_id and frame["id"] is None), where
    assert frame["reason"] and frame["state"] is None, (where, frame)
    if expected.fields:  # 4402 names the field it refuses
        named = frame["reason"].partition("`")[2].partition("`")[0].partition(".")[0]
        assert named in expected.fields or frame["reason"] == "invalid field", (where, frame)


sent: dict[str, float] = {"frames": 0, "examples": 0}


@settings(max_examples=1000, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(connections)
def test_generated_frames_get_their_documented_answers_in_process(
        connection: tuple[frozenset[str], list[int]]) -> None:
    """Every generated frame gets exactly the oracle's answer from the session: the
    documented error code (with the request id echoed when it is valid), a pong, or the
    command for the shell, carrying what the frame asked; nothing raises."""
    roles, seeds = connection
    frames = [frame(seed) for seed in seeds]
    principal = Principal(sub="fuzz", org=ORG, roles=frozenset(Role(r) for r in roles), exp=0)
    session = s.Session(principal, msgspec.convert({}, s.Limits), Clock())
    oracle = Oracle(roles)
    for raw in frames:
        check(oracle.expect(raw), session.receive(raw), raw)
        assert session.rooms == oracle.rooms
    sent["frames"] += len(frames)
    sent["examples"] += 1
    sent.setdefault("started", time.monotonic())
    sent["ended"] = time.monotonic()


def test_in_process_fuzzing_sent_100k_frames() -> None:
    """The generated run above really sent 100,000 frames (1,000 connections of at least
    100; it runs first, in file order)."""
    if sent["examples"] == 0:  # run on its own (``-k``): generate now
        test_generated_frames_get_their_documented_answers_in_process()
    print(f"in-process: {sent['frames']} frames in {sent['examples']} connections,"
          f" {sent['ended'] - sent['started']:.1f} s")
    assert sent["frames"] >= 100_000


# -- over real sockets, against a real hub process ---------------------------------------


class Stream:
    """A well-behaved subscriber of the fuzzed org room, and what was published to it."""

    def __init__(self, hub: HubProcess, ws: ClientConnection) -> None:
        self.hub, self.ws = hub, ws
        assert json.loads(self.ws.recv(10))["type"] == "welcome"
        self.ws.send(json.dumps({"type": "subscribe", "room": OWN_ROOM, "id": 1}))
        self.published: list[dict[str, Any]] = []

    def publish(self) -> None:
        data = {"n": len(self.published)}
        resp = httpx.post(f"{self.hub.url}/api/rooms/{OWN_ROOM}/publish", json=data,
                          headers={"X-API-Key": API_KEY}, timeout=10)
        assert resp.status_code == 200, resp.text
        self.published.append(data)

    def undisturbed(self) -> None:
        """Exactly what was published reached the subscriber, in order, and nothing else."""
        frames: list[dict[str, Any]] = []
        while len([f for f in frames if f["type"] == "message"]) < len(self.published):
            frames.append(json.loads(self.ws.recv(10)))
        with pytest.raises(TimeoutError):  # and nothing after it
            frames.append(json.loads(self.ws.recv(0.5)))
        messages = [f for f in frames if f["type"] == "message"]
        assert [m["data"] for m in messages] == self.published
        assert [m["offset"] for m in messages] == list(range(1, len(self.published) + 1))
        others = {f["type"] for f in frames} - {"message", "subscribed", "snapshot"}
        assert others == set(), frames


def alive_and_quiet(hub: HubProcess) -> None:
    """The process still serves, and logged no traceback and no error for handled input."""
    assert hub.proc.poll() is None
    assert httpx.get(f"{hub.url}/ready", timeout=10).status_code == 200
    log = hub.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


@pytest.fixture
def hub(hub_factory: Callable[..., HubProcess]) -> HubProcess:
    return hub_factory(HUB_MAX_FRAME_BYTES=str(MAX_FRAME))


@pytest.fixture
def stream(hub: HubProcess) -> Iterator[Stream]:
    with connect(f"{hub.ws_url}?token={token(ORG, sub='calm')}", compression=None,
                 open_timeout=10) as ws:
        yield Stream(hub, ws)


def test_generated_frames_over_sockets_get_their_answers_and_disturb_nobody(
        hub: HubProcess, stream: Stream) -> None:
    """50 connections to a real hub each pipeline ~100 generated frames answered without
    I/O (errors and pongs), in order, while the API publishes to the room between them:
    every answer is the oracle's, and the calm subscriber gets exactly the publishes."""
    counted = {"frames": 0}

    @settings(max_examples=50, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(connections)
    def fuzz(connection: tuple[frozenset[str], list[int]]) -> None:
        roles, seeds = connection
        stream.publish()
        oracle = Oracle(roles)
        with connect(f"{hub.ws_url}?token={token(ORG, sub='fuzz', roles=tuple(roles))}",
                     compression=None, open_timeout=10, max_size=None) as ws:
            assert json.loads(ws.recv(10))["type"] == "welcome"
            sent: list[tuple[bytes, Expected]] = []
            for seed in seeds:
                raw, rooms = frame(seed), set(oracle.rooms)
                expected = oracle.expect(raw)
                if expected.kind == "command":  # needs the node: not this test's business
                    oracle.rooms = rooms
                    continue
                ws.send(raw, text=True)
                sent.append((raw, expected))
            ws.send(json.dumps({"type": "ping", "id": -1}))
            for raw, expected in sent:
                check_reply(expected, json.loads(ws.recv(10)), raw)
            assert json.loads(ws.recv(10)) == {"type": "pong", "id": -1}
            counted["frames"] += len(sent)

    fuzz()
    print(f"over sockets: {counted['frames']} frames, {len(stream.published)} publishes")
    assert counted["frames"] >= 2500
    stream.undisturbed()
    alive_and_quiet(hub)


def test_hostile_websocket_frames_get_documented_codes(hub: HubProcess, stream: Stream) -> None:
    """Frames as a hostile client writes them: invalid UTF-8 (4400, nothing published),
    binary (4400), fragments (assembled; a ping between them answered at once), 100,000
    levels of nesting (4400); oversized frames and messages close with 1009, broken
    framing with 1002. The calm subscriber sees only the valid publish."""
    fan = RawClient(hub.ws_url, token(ORG, sub="fan"))
    fan.send_text(b'{"type":"subscribe","room":"org:\xff","id":1}')
    fan.send_text(b'{"type":"ping","id":2,"note":"caf\xc3"}')
    fan.send(Frame(Opcode.BINARY, b'{"type":"ping","id":3}'))
    fan.send(Frame(Opcode.TEXT, b'{"type":"ping",', fin=False))
    fan.send(Frame(Opcode.CONT, b'"id":', fin=False))
    fan.send(Frame(Opcode.CONT, b'4}'))
    fan.send(Frame(Opcode.TEXT, b'{"type":"ping","note":"caf\xc3', fin=False))
    fan.send(Frame(Opcode.PING, b"between"))
    fan.send(Frame(Opcode.CONT, b'\xa9","id":5}'))  # the fragments split one character
    deep = b'{"type":"ping","id":6,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    fan.send_text(deep)
    answers = [fan.next_json() for _ in range(3)]
    assert [(a["type"], a["code"], a["id"]) for a in answers] == [
        ("error", 4400, None)] * 3, answers
    assert fan.next_json() == {"type": "pong", "id": 4}
    pong = fan.next_frame()  # the ping inside the fragmented message, answered at once
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"between")
    assert fan.next_json() == {"type": "pong", "id": 5}
    refused = fan.next_json()
    assert (refused["code"], refused["reason"]) == (4400, "JSON nested deeper than 32 levels")

    dj = RawClient(hub.ws_url, token(ORG, sub="dj", roles=("dj",)))
    dj.send_text(b'{"type":"publish","room":"' + OWN_ROOM.encode() + b'","data":"\xff\xfe"}')
    assert dj.next_json()["code"] == 4400
    stream.publish()  # the one valid message of this test

    def wire(frame: Frame) -> bytes:
        return frame.serialize(mask=True)

    ping = wire(Frame(Opcode.PING, b"x"))
    # Frames over the limit go out cut after their header: the hub refuses them by their
    # length, and unread bytes would turn its close into a reset.
    broken = {
        "one frame over HUB_MAX_FRAME_BYTES": (1009, [
            wire(Frame(Opcode.TEXT, b" " * (MAX_FRAME + 1)))[:64]]),
        "a message over it in fragments": (1009, [
            wire(Frame(Opcode.TEXT, b"[" + b" " * (MAX_FRAME // 2), fin=False)),
            wire(Frame(Opcode.CONT, b" " * (MAX_FRAME // 2), fin=False))[:64]]),
        "a continuation with no message": (1002, [wire(Frame(Opcode.CONT, b"{}"))]),
        "a message inside a fragmented one": (1002, [
            wire(Frame(Opcode.TEXT, b"{", fin=False)), wire(Frame(Opcode.TEXT, b"{}"))]),
        "a fragmented ping": (1002, [bytes([ping[0] & 0x7F]) + ping[1:]]),
        "an unmasked frame": (1002, [Frame(Opcode.TEXT, b'{"type":"ping"}').serialize(
            mask=False)]),
    }
    documented = (ROOT / "docs" / "protocol.md").read_text()
    for what, (code, pieces) in broken.items():
        assert f"\n| {code} | " in documented, code
        client = RawClient(hub.ws_url, token(ORG, sub="broken"))
        for piece in pieces:
            client.sock.sendall(piece)
        assert client.close_code() == code, what
        client.close()

    fan.send_text(b'{"type":"ping","id":7}')  # the fan's connection is still open
    assert fan.next_json() == {"type": "pong", "id": 7}
    for client in (fan, dj):
        client.close()
    stream.undisturbed()
    alive_and_quiet(hub)
