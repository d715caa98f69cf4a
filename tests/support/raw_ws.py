"""A websocket client that writes whatever frames a test builds: fragments, a ping inside
a fragmented message, invalid UTF-8 in a text frame, unmasked frames. websockets' sans-I/O
``ClientProtocol`` does the handshake and parses what the hub sends, control frames
included; frames go out as ``Frame.serialize`` makes them, unchecked."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class RawClient:
    def __init__(self, ws_url: str, token: str, timeout: float = 10.0) -> None:
        uri = parse_uri(f"{ws_url}?token={token}")
        self.sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
        self.proto = ClientProtocol(uri, max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()
        self.frames: list[Frame] = []  # read, not yet taken
        deadline = time.monotonic() + timeout
        while not any(isinstance(e, Response) for e in self._read(deadline)):
            pass
        welcome = self.next_json()
        assert welcome["type"] == "welcome", welcome

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def _read(self, deadline: float) -> list[Any]:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.sock.recv(1 << 16)
        if data:
            self.proto.receive_data(data)
        else:
            self.proto.receive_eof()
        events = self.proto.events_received()
        self.frames.extend(e for e in events if isinstance(e, Frame))
        self._flush()  # answers the hub's pings and closes
        if not data and not events:
            raise EOFError("the hub closed the connection")
        return events

    def send(self, frame: Frame) -> None:
        """Write ``frame`` as it is (a fragment, a control frame, bad UTF-8...)."""
        self.sock.sendall(frame.serialize(mask=True))

    def send_text(self, data: bytes) -> None:
        self.send(Frame(Opcode.TEXT, data))

    def next_frame(self, timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while not self.frames:
            self._read(deadline)
        return self.frames.pop(0)

    def next_json(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next text frame, decoded (pongs are skipped)."""
        while True:
            frame = self.next_frame(timeout)
            if frame.opcode is Opcode.TEXT:
                out: dict[str, Any] = json.loads(bytes(frame.data))
                return out
            assert frame.opcode is Opcode.PONG, frame

    def close_code(self, timeout: float = 10.0) -> int:
        """The code of the close frame the hub sends next (text frames before it skipped)."""
        while True:
            frame = self.next_frame(timeout)
            if frame.opcode is Opcode.CLOSE:
                return Close.parse(frame.data).code

    def close(self) -> None:
        self.sock.close()
