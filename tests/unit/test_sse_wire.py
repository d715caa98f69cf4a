"""The event stream's wire format (hub.sse): ids, events, and what Last-Event-ID may be."""

from __future__ import annotations

import json

import pytest

from hub.sse import _event, message_event, parse_event_id
from rooms import envelope as e
from tests.support.sse import Event


def test_the_hubs_own_ids_parse() -> None:
    assert parse_event_id("9b165407:0") == e.StreamPosition("9b165407", 0)
    assert parse_event_id("9b165407:42") == e.StreamPosition("9b165407", 42)
    assert parse_event_id(f"ab:{2**63 - 1}") == e.StreamPosition("ab", 2**63 - 1)


@pytest.mark.parametrize("value", [
    None, "", "42", ":42", "ab:", "ab:-1", "ab:+1", "ab:1.0", "ab:1e3", "ab:0x1", "ab: 1",
    "a b:1", "ab:1:2", f"ab:{2**63}", "ab:" + "9" * 20, "x" * 65 + ":1",
    "ab:١٢", "ab:²", "ab:\x001", "ab\n:1", "x" * 10_000,
])
def test_anything_else_is_no_position(value: str | None) -> None:
    assert parse_event_id(value) is None


def test_a_message_event_carries_the_websocket_frame_and_its_position() -> None:
    frame = e.encode(e.Message(room="org:x", offset=7, data=e.Raw(b'{"a":1}')))
    chunk, offset = message_event(frame, "ep")
    assert offset == 7
    assert chunk == b"id: ep:7\nevent: message\ndata: " + frame + b"\n\n"
    assert message_event(frame, "ep")[0] is chunk  # built once per fan-out
    assert message_event(frame, "other")[0].startswith(b"id: other:7\n")


def test_line_breaks_in_a_publishers_json_cannot_end_or_forge_an_event() -> None:
    """JSON may hold CR, LF or CRLF between tokens: each line gets its own data field,
    so the event neither ends early nor grows an `event:` or `id:` line of its own."""
    data = b'{\r\n"type": "x",\r"id": "1",\n\n"event": "close"\n}'
    chunk = _event(b"message", data, "ep:3")
    lines = chunk.decode().split("\n")
    assert lines[:2] == ["id: ep:3", "event: message"]
    assert lines[-2:] == ["", ""]
    assert all(line.startswith("data: ") for line in lines[2:-2])
    assert "" not in lines[2:-2]  # one event, not several
    joined = "\n".join(line.removeprefix("data: ") for line in lines[2:-2])
    assert json.loads(joined) == json.loads(data)
    assert Event("message", joined, "ep:3").data == {"type": "x", "id": "1", "event": "close"}
