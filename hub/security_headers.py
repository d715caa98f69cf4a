"""Security headers for the browser-facing routes: the pages (``hub.pages``, ``/live``)
and ``/static``.

A page keeps the caller's hub token in memory, taken from its URL fragment, so stored
script in room data would be enough to steal it. The pages never turn data into markup;
this policy is the second wall: no inline script or style, no plugins, no ``<base>``
tricks, no string-to-DOM sinks (Trusted Types), and network access only to this hub's own
origin (http and ws) and, for the video, LiveKit's.

Nothing frames a page: OBS's browser source loads the overlay (``/overlay/<secret>``) as a
top-level page, so ``frame-ancestors 'none'`` holds for every page, overlay included.

The OpenAPI pages under ``/schema`` bring their own inline script and are left alone.
"""

from __future__ import annotations

import re

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# A browser's Host header: a DNS name or IPv4 address, or a bracketed IPv6 one, and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])"
                   r"(?::[0-9]{1,5})?")


def stream_origins(url: str) -> tuple[str, ...]:
    """The origins a page may reach for LiveKit at ``url`` (its ws and http forms), or none
    for a URL that is not a plain ws(s)/http(s) origin."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    if not sep or scheme not in ("ws", "wss", "http", "https") or not _HOST.fullmatch(host):
        return ()
    secure = scheme in ("wss", "https")
    return (f"{'wss' if secure else 'ws'}://{host}", f"{'https' if secure else 'http'}://{host}")


def content_security_policy(host: str | None, extra_connect: tuple[str, ...] = ()) -> str:
    """The page CSP; ``host`` (the request's Host header) names the hub's ws/wss origin,
    ``extra_connect`` other origins the pages talk to (LiveKit, for the video).

    ``'self'`` already covers ws/wss in CSP3 browsers; the explicit origins are for older
    ones. A Host that is not a plain host[:port] is left out rather than echoed.
    """
    connect = ["'self'"]
    if host is not None and _HOST.fullmatch(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    connect += extra_connect
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # data: for the empty favicon only
        f"connect-src {' '.join(connect)}",
        "form-action 'none'",  # the pages handle every form; never submit one anywhere
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",  # innerHTML and friends refuse strings
        "trusted-types 'none'",
    ])


def page_headers(host: str | None, extra_connect: tuple[str, ...] = ()) -> dict[str, str]:
    """Every header a page or static file is sent with."""
    return {
        "Content-Security-Policy": content_security_policy(host, extra_connect),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # the token lives in the fragment; be strict anyway
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP2
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def security_headers(app: ASGIApp) -> ASGIApp:
    """Litestar middleware adding :func:`page_headers` to every HTTP response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(b"host")
        # hub.app sets the LiveKit origins once at start (app.state.page_connect).
        origins: tuple[str, ...] = scope["app"].state.get("page_connect", ())
        extra = page_headers(raw.decode("latin-1") if raw is not None else None, origins)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
