"""The page security policy, and the page markup it has to allow."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from hub.security_headers import content_security_policy, page_headers

HUB = Path(__file__).resolve().parents[2] / "hub"
PAGES = [HUB / "static" / "live.html", *sorted((HUB / "web" / "pages").glob("*.html"))]


@pytest.mark.parametrize("host", [
    "evil.example; script-src *", "evil.example;script-src", "a'b", "x.example:99 'unsafe-inline'",
    "x.example\r\nSet-Cookie: a=b", "", "[::1]; script-src *", "x" * 300])
def test_a_hostile_host_header_never_enters_the_policy(host: str):
    """Only a plain host[:port] is named in connect-src; anything else leaves just 'self'."""
    csp = content_security_policy(host)
    assert csp == content_security_policy(None)
    assert "connect-src 'self';" in csp


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "live.example.com", "[::1]:8080"])
def test_the_hubs_own_ws_origin_is_allowed(host: str):
    """connect-src names ws:// and wss:// of the host the page was loaded from."""
    assert f"connect-src 'self' ws://{host} wss://{host};" in content_security_policy(host)


def test_headers_forbid_framing_sniffing_and_referrers():
    """The header set a page is sent with."""
    headers = page_headers("h.example")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


class _Inline(HTMLParser):
    """Collects anything in the markup that a CSP without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        self.found += [f"{tag} style=" for name in names if name == "style"]
        self.found += [f"{tag} {name}=javascript:" for name, value in attrs
                       if value and value.strip().lower().startswith("javascript:")]
        self._in = tag

    def handle_data(self, data: str) -> None:
        if self._in == "script" and data.strip():
            self.found.append("script body")

    def handle_endtag(self, tag: str) -> None:
        self._in = None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_have_no_inline_script_style_or_handlers(page: Path):
    """Every page shell works under script-src/style-src 'self': no inline code at all."""
    parser = _Inline()
    parser.feed(page.read_text())
    assert parser.found == []
