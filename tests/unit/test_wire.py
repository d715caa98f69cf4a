"""Websocket framing of room messages, built once per message."""

from __future__ import annotations

from websockets.frames import Frame
from websockets.streams import StreamReader

from hub.connection import frame_text


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


def test_frames_of_every_length_class_parse_back():
    """7-bit, 16-bit and 64-bit payload lengths all round-trip through a real parser."""
    for size in (0, 125, 126, 65535, 65536, 70000):
        payload = b"a" * size
        frame = parse(frame_text(payload))
        assert frame.data == payload and frame.fin and frame.opcode.name == "TEXT"


def test_same_payload_object_is_framed_once():
    """Fan-out hands every socket the same bytes object; the frame is reused."""
    payload = b'{"n": 1}' * 3
    assert frame_text(payload) is frame_text(payload)
    other = bytes(bytearray(payload))
    assert frame_text(other) == frame_text(payload)
