"""Connection-level limits at the HTTP edge, so one client address cannot exhaust the hub.

uvicorn's own httptools protocol has no header or body timeout and no cap on
header size or on connections per address; a few thousand half-open requests
use every file descriptor. ``LimitedHttpProtocol`` adds those, and is passed to
uvicorn as ``http=``. Limits (all in ``Settings``, documented in README.md):

- a connection gets ``header_timeout`` seconds for each request line + headers
  (a websocket handshake is such a request), then it is closed;
- a request body must arrive within ``body_timeout`` seconds, else 408 + close;
- request line + headers larger than ``max_header_bytes`` get 431 + close;
- at most ``max_connections_per_address`` open connections per client address,
  websockets included: an upgraded socket keeps its slot until it closes
  (``hub.connection`` releases it). Past the cap a connection is closed at once.

Body size caps are per route (Litestar ``request_max_body_size``): a declared
Content-Length over the cap is answered 413 before the body is read, and the
connection is then closed instead of reading the rest. Litestar checks the cap only
when a handler reads the body, so ``refuse_oversized_body`` checks it before every
handler: a route that takes no body must not act on a request that carries a huge one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from litestar import Request
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub import metrics
from hub.address_slots import peer_address
from hub.runtime import Hub

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0  # after a refusal, how long the client's remaining bytes are discarded
# The request scope's ASGI extension holding this connection's transport, for a long
# response that must cut a client who stopped reading (hub.sse).
TRANSPORT_EXTENSION = "livehub.transport"


class _RefusalLog:
    """Log refusals at most every 10 s: an attack must not flood the log too."""

    def __init__(self) -> None:
        self._last = 0.0
        self._since = 0

    def note(self, address: str, limit: int) -> None:
        self._since += 1
        now = time.monotonic()
        if now - self._last >= 10:
            log.warning("refused %d connection(s); latest from %s, which has %d open"
                        " (HUB_MAX_CONNECTIONS_PER_ADDRESS)", self._since, address, limit)
            self._last, self._since = now, 0


_refusals = _RefusalLog()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request we already answered."""


def _status(code: int, reason: str) -> bytes:
    body = reason.encode() + b"\n"
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


async def refuse_oversized_body(request: Request) -> None:  # type: ignore[type-arg]
    """Litestar ``before_request``: 413 for a body over the route's cap, before the handler.

    A declared Content-Length is checked as is. A chunked body declares nothing, so it is
    read here, under the cap (Litestar counts while it reads, and keeps the bytes for the
    handler); past the cap that read raises.

    Raises:
        RequestEntityTooLarge: the body is, or would be, over the cap.
    """
    declared = request.headers.get("content-length")
    cap = request.route_handler.resolve_request_max_body_size()
    if not cap:
        return
    if declared is None:
        if "transfer-encoding" in request.headers:
            await request.body()
    elif declared.isdigit() and int(declared) > cap:
        raise RequestEntityTooLarge


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with timeouts, a header cap and per-address slots."""

    hub: ClassVar[Hub]

    @classmethod
    def bind(cls, hub: Hub) -> type[LimitedHttpProtocol]:
        """A subclass wired to ``hub``, to pass to uvicorn as ``http=``."""
        return type("BoundLimitedHttpProtocol", (cls,), {"hub": hub})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False  # answered and closing: ignore anything else it sends
        self._upgraded = False
        self._header_bytes = 0
        self._body_pending = False  # headers done, body not yet complete
        self._timer: asyncio.TimerHandle | None = None

    # -- connection ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.hub.addresses.acquire(transport):
            # Closed unanswered: a response would race the request the client is
            # still sending (and be lost to the reset it causes).
            metrics.REFUSED.labels(reason="address_cap").inc()
            _refusals.note(peer_address(transport), self.hub.addresses.limit)
            self._refused = True
            transport.close()  # at once: the point is to give the descriptor back
            return
        self._arm(self.hub.settings.header_timeout, self._header_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if not self._upgraded:
            self.hub.addresses.release(self.transport)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal already wrote its answer
            super().send_400_response(msg)

    def handle_websocket_upgrade(self) -> None:
        # The transport (and its address slot) now belongs to the websocket
        # protocol, which releases the slot in its connection_lost.
        self._disarm()
        self._upgraded = True
        upgrade = getattr(self.ws_protocol_class, "upgrade", None)
        if upgrade is None:  # not hub.connection's protocol
            super().handle_websocket_upgrade()
            return
        self.connections.discard(self)
        # The request as httptools parsed it, not rebuilt as bytes to be parsed again.
        upgrade(self.transport, self.config, self.server_state, self.app_state,
                self.scope["method"], self.url, self.scope["headers"])

    # -- parser callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        if self._timer is None:  # a keep-alive connection's next request
            self._arm(self.hub.settings.header_timeout, self._header_timed_out)
        super().on_message_begin()
        self.scope["extensions"] = {TRANSPORT_EXTENSION: {"transport": self.transport}}

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:
            self._body_pending = True
            self._arm(self.hub.settings.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        if self._body_pending:
            self._body_pending = False
            self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._body_pending and self.cycle.response_complete:
            # Answered before the body arrived (413, 401, ...): the rest of the
            # body would have to be read and thrown away, so close instead.
            self._linger_close()
            return
        super().on_response_complete()

    # -- limits -------------------------------------------------------------------

    def _count_header_bytes(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > self.hub.settings.max_header_bytes:
            metrics.REFUSED.labels(reason="header_size").inc()
            self._refuse(431, "Request Header Fields Too Large")
            raise _Refused  # stops the parser; data_received then ignores the rest

    def _header_timed_out(self) -> None:
        self._timer = None
        metrics.REFUSED.labels(reason="header_timeout").inc()
        self._refused = True
        self.transport.close()  # a half-open request gets no answer, just a close

    def _body_timed_out(self) -> None:
        self._timer = None
        metrics.REFUSED.labels(reason="body_timeout").inc()
        cycle = self.cycle
        started = cycle is not None and cycle.response_started
        if cycle is not None:
            cycle.disconnected = True  # the app sees a disconnect and writes nothing more
        self._refuse(408, "Request Timeout", write=not started)

    def _refuse(self, status: int, reason: str, *, write: bool = True) -> None:
        self._disarm()
        if write and not self.transport.is_closing():
            self.transport.write(_status(status, reason))
        self._linger_close()

    def _linger_close(self) -> None:
        """Close after what we wrote has been read.

        Closing a socket with unread input sends a reset, which can destroy the
        answer we just wrote while the client is still sending. So: half-close,
        discard the client's bytes, and close when it does (or after LINGER_SECONDS).
        """
        self._refused = True
        self.flow.resume_reading()  # reading may be paused by a large body; discard it
        if self.transport.is_closing() or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._arm(LINGER_SECONDS, self.transport.close)

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
