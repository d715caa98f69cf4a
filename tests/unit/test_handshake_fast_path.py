"""The upgrade without a second parse: the same ``Request`` and the same ``101`` as
websockets' own path, and websockets' parser for anything unusual."""

from __future__ import annotations

import base64
import email.utils
import os
import re

import pytest
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

from hub import connection
from hub.connection import parsed_request, request_bytes, switching_protocols

KEY = base64.b64encode(os.urandom(16))
GOOD: list[tuple[bytes, bytes]] = [
    (b"host", b"127.0.0.1:8000"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
    (b"sec-websocket-key", KEY), (b"sec-websocket-version", b"13"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) \xe9"),
    (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    (b"cookie", b"a=1;  b=2 "),
]


def websockets_parse(data: bytes) -> Request | None:
    """What websockets' own parser makes of the bytes uvicorn rebuilds."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Request.parse(reader.read_line)
    try:
        next(parser)
    except StopIteration as done:
        request: Request = done.value
        return request
    except Exception:
        return None
    raise AssertionError("incomplete request")


def test_a_handshake_is_the_request_websockets_would_parse() -> None:
    ours = parsed_request("GET", b"/ws?token=a.b.c", GOOD)
    theirs = websockets_parse(request_bytes("GET", b"/ws?token=a.b.c", GOOD))
    assert ours is not None and theirs is not None
    assert (ours.method, ours.path, ours.protocol) == (theirs.method, theirs.path,
                                                       theirs.protocol)
    assert list(ours.headers.raw_items()) == list(theirs.headers.raw_items())


@pytest.mark.parametrize(("method", "target", "extra"), [
    ("POST", b"/ws", []),  # websockets answers 405
    ("GET", b"/ws", [(b"content-length", b"0")]),
    ("GET", b"/ws", [(b"content-length", b"5")]),  # websockets: unsupported request body
    ("GET", b"/ws", [(b"transfer-encoding", b"chunked")]),
    ("GET", b"/w\xe9", []),  # not ASCII
    ("GET", b"/ws x", []),
    ("GET", b"/ws", [(b"bad name", b"x")]),
    ("GET", b"/ws", [(b"x-nul", b"a\x00b")]),
    ("GET", b"/ws?" + b"a" * 5000, []),
    ("GET", b"/ws", [(b"x-%d" % i, b"1") for i in range(200)]),  # websockets: 431
])
def test_anything_unusual_goes_to_websockets_parser(method: str, target: bytes,
                                                    extra: list[tuple[bytes, bytes]]) -> None:
    assert parsed_request(method, target, GOOD + extra) is None


def test_the_101_is_websockets_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email.utils, "formatdate", lambda *a, **k: "Mon, 30 Nov 2026 17:00:00 GMT")
    monkeypatch.setattr(connection, "_date_second", -1)
    request = parsed_request("GET", b"/ws?token=x", GOOD)
    assert request is not None
    theirs = ServerProtocol()
    response = theirs.accept(request)
    assert response.status_code == 101
    ours = ServerProtocol()
    key, extensions, subprotocol = ours.process_request(request)
    assert (extensions, subprotocol) == (None, None)
    assert switching_protocols(key) == response.serialize()


class Transport:
    """Records what a connection writes, and whether it closed TCP."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.protocol: object = None

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def set_protocol(self, protocol: object) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1234) if name == "peername" else default


def handshake(fast: bool, method: str, target: bytes,
              headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bool]:
    """What the client receives (and whether TCP is closed) through the upgrade without
    a second parse, or through websockets' parser of the rebuilt bytes."""
    from hub.auth import mint_token
    from hub.connection import HubConnection
    from hub.runtime import Hub
    from hub.settings import Settings

    hub = Hub(Settings(embedded_pg=False, node_id="unit", secret="s" * 32))
    cls = HubConnection.bind(hub)
    token = mint_token("s" * 32, sub="u1", org="00000000-0000-0000-0000-000000000001",
                       roles=["viewer"])
    target = target.replace(b"TOKEN", token.encode())
    transport = Transport()
    if fast:
        cls.upgrade(transport, None, None, None, method, target, headers)  # type: ignore[arg-type]
        assert transport.protocol is not None
    else:
        conn = cls()
        conn.connection_made(transport)  # type: ignore[arg-type]
        conn.data_received(request_bytes(method, target, headers))
    # The welcome's clock is the only difference between two runs.
    return re.sub(rb'"time":\d+', b'"time":0', b"".join(transport.writes)), transport.closed


@pytest.mark.parametrize(("method", "target", "headers"), [
    ("GET", b"/ws?token=TOKEN", GOOD),  # 101 and welcome
    ("GET", b"/ws?token=forged", GOOD),  # 101, then close 4001
    ("GET", b"/elsewhere", GOOD),  # 404
    ("POST", b"/ws?token=TOKEN", GOOD),  # 405
    ("GET", b"/ws?token=TOKEN", [h for h in GOOD if h[0] != b"sec-websocket-key"]),  # 400
    ("GET", b"/ws?token=TOKEN", [h for h in GOOD if h[0] != b"upgrade"]),  # 426
    ("GET", b"/ws?token=TOKEN", [*GOOD[:4], (b"sec-websocket-version", b"8")]),  # 400
    ("GET", b"/ws?token=TOKEN", [*GOOD, (b"content-length", b"3")]),  # no answer, closed
    ("GET", b"/ws?token=TOKEN", [*GOOD, (b"sec-websocket-protocol", b"chat")]),
])
async def test_the_client_gets_the_same_either_way(monkeypatch: pytest.MonkeyPatch, method: str,
                                             target: bytes,
                                             headers: list[tuple[bytes, bytes]]) -> None:
    monkeypatch.setattr(email.utils, "formatdate", lambda *a, **k: "Mon, 30 Nov 2026 17:00:00 GMT")
    monkeypatch.setattr(connection, "_date_second", -1)
    monkeypatch.setattr(connection.secrets, "token_urlsafe", lambda n: "client")
    fast = handshake(True, method, target, headers)
    assert fast == handshake(False, method, target, headers)
    if method == "GET" and target == b"/ws?token=TOKEN" and headers is GOOD:
        assert fast[0].startswith(b"HTTP/1.1 101 ") and b'"type":"welcome"' in fast[0]
