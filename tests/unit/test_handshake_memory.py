"""A connection does not keep its handshake request (every header) for its whole life."""

from __future__ import annotations

import gc
import logging
import os
import weakref

from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from hub.connection import drop_handshake

REQUEST = (b"GET /ws?token=" + b"x" * 200 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    return (bytes((0x81, 0x80 | len(payload))) + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def opened(drop: bool) -> tuple[ServerProtocol, weakref.ref[Request]]:
    ws = ServerProtocol(logger=logging.getLogger("test"))
    ws.receive_data(REQUEST)
    [request] = ws.events_received()
    assert isinstance(request, Request)
    ws.send_response(ws.accept(request))
    if drop:
        drop_handshake(ws)
    return ws, weakref.ref(request)


def test_the_request_is_freed_after_the_handshake_and_frames_still_parse() -> None:
    ws, request = opened(drop=True)
    gc.collect()
    assert request() is None
    two = masked_text(b"two")  # split mid-frame across reads
    ws.receive_data(masked_text(b'{"type":"ping"}') + two[:3])
    ws.receive_data(two[3:])
    frames = ws.events_received()
    assert [(f.opcode, f.data) for f in frames] == [(Opcode.TEXT, b'{"type":"ping"}'),
                                                     (Opcode.TEXT, b"two")]


def test_without_it_the_request_lives_on() -> None:
    """The reason for ``drop_handshake``: websockets' parser holds the request."""
    ws, request = opened(drop=False)
    gc.collect()
    assert request() is not None
    del ws
