"""Issue #13: protocol fuzzing. Generated frames go into the sans-I/O session (100,000 of
them) and, a sample, over real sockets into a real hub process; each answer is checked
against an oracle worked out from ``docs/protocol.md`` (``tests/support/frame_fuzz.py``)."""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings

from hub import session as s
from rooms.principal import Principal
from rooms.roles import Role
from tests.support.frame_fuzz import ORG, Expected, Oracle, connections, frame


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
    frame: dict[str, Any] = json.loads(got.frame)
    if expected.kind == "pong":
        assert frame == {"type": "pong", "id": expected.id}, where
        return
    assert (frame["type"], frame["code"]) == ("error", expected.code), (where, frame)
    assert frame["id"] == expected.id or (expected.any_id and frame["id"] is None), where
    assert frame["reason"] and frame["state"] is None, (where, frame)
    if expected.fields:  # 4402 names the field it refuses
        named = frame["reason"].partition("`")[2].partition("`")[0].partition(".")[0]
        assert named in expected.fields or frame["reason"] == "invalid field", (where, frame)


sent = {"frames": 0, "examples": 0}


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


def test_in_process_fuzzing_sent_100k_frames() -> None:
    """The generated run above really sent 100,000 frames (it runs first, in file order)."""
    started = time.monotonic()
    if sent["examples"] == 0:  # run on its own (``-k``): generate now
        test_generated_frames_get_their_documented_answers_in_process()
    print(f"in-process: {sent['frames']} frames in {sent['examples']} connections"
          f" ({time.monotonic() - started:.1f} s here)")
    assert sent["frames"] >= 100_000
