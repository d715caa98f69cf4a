"""The live page and static files carry the security headers, from a real hub process."""

from __future__ import annotations

import httpx
import pytest


def directives(csp: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [sources]}."""
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} given twice"
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize("path", ["/live", "/static/live.js", "/static/app/viewer.page.js",
                                  "/static/live.html", "/static/no-such-file.js"])
async def test_pages_and_static_files_send_csp_nosniff_referrer_and_frame_rules(
        hub_factory, path: str):
    """Each page or static response has a strict CSP, nosniff, no-referrer and no framing."""
    hub = hub_factory()
    port = hub.url.rsplit(":", 1)[1]
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.get(path)
    assert resp.status_code == (404 if "no-such" in path else 200)
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-frame-options"] == "DENY"
    csp = directives(resp.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["require-trusted-types-for"] == ["'script'"]
    assert set(csp["connect-src"]) == {"'self'", f"ws://127.0.0.1:{port}",
                                       f"wss://127.0.0.1:{port}"}


async def test_other_routes_keep_their_own_headers(hub_factory):
    """The API is not given the page policy (the OpenAPI pages need their own scripts)."""
    hub = hub_factory()
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.get("/health")
    assert resp.status_code == 200
    assert "content-security-policy" not in resp.headers
