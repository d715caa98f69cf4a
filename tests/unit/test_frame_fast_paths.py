"""The per-frame shortcuts on the chat path give the same answers as the slow paths."""

from __future__ import annotations

import uuid

import pytest

from hub.protocol import json_depth_exceeds
from rooms import names
from rooms.names import RoomKind, RoomName, parse_room


def test_a_parsed_room_is_reused_and_names_itself_canonically() -> None:
    raw = f"event:{uuid.uuid4()}"
    first = parse_room(raw)
    assert parse_room(raw) is first
    assert str(first) == raw
    # Built directly, the same room is equal, hashes alike and prints the same.
    again = RoomName(RoomKind.EVENT, first.id)
    assert again == first and hash(again) == hash(first) and str(again) == raw


@pytest.mark.parametrize("bad", ["event:NOT-A-UUID", "chat:" + str(uuid.UUID(int=1)),
                                 "event:" + str(uuid.UUID(int=0xABCDEF)).upper(), "event"])
def test_a_refused_name_is_refused_every_time(bad: str) -> None:
    for _ in range(2):  # the second call must not find a cached answer
        with pytest.raises(ValueError):
            parse_room(bad)
    assert bad not in names._parsed


def test_invented_names_cannot_grow_the_cache() -> None:
    for _ in range(names._PARSED_MAX + 10):
        parse_room(f"org:{uuid.uuid4()}")
    assert len(names._parsed) <= names._PARSED_MAX


@pytest.mark.parametrize(("text", "deeper_than_3"), [
    (b'{"type":"chat","text":"hi"}', False),
    (b'{"a":[[1]]}', False),  # exactly 3 levels
    (b'{"a":[[[1]]]}', True),  # 4 levels
    (b'{"text":"[[[[{{{{"}', False),  # brackets inside a string nest nothing
    (b'{"text":"[[[[", "a":[[[1]]]}', True),
    (b'[' * 100_000 + b']' * 100_000, True),
])
def test_depth_check_counts_only_real_nesting(text: bytes, deeper_than_3: bool) -> None:
    assert json_depth_exceeds(text, 3) is deeper_than_3
