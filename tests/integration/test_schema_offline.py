"""/schema serves Swagger UI and the OpenAPI JSON from the hub itself, no CDN."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx


class _Links(HTMLParser):
    """Every src= and href= in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


async def test_swagger_page_loads_every_asset_from_the_hub(hub_factory):
    """/schema and /schema/swagger name only same-origin assets, and each one is served."""
    hub = hub_factory(redis=False)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for page in ("/schema", "/schema/swagger"):
            resp = await http.get(page)
            assert resp.status_code == 200, page
            assert "SwaggerUIBundle" in resp.text
            urls = [u for u in _links(resp.text) if not u.startswith("data:")]
            assert len(urls) >= 3, urls  # bundle, preset, css
            for url in urls:
                absolute = urljoin(hub.url + page, url)
                assert urlsplit(absolute).netloc == urlsplit(hub.url).netloc, url
                asset = await http.get(absolute)
                assert asset.status_code == 200, url
                assert len(asset.content) > 1000, url


async def test_openapi_json_lists_the_http_api(hub_factory):
    """/schema/openapi.json is the machine-readable schema with the routes in the README."""
    hub = hub_factory(redis=False)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.get("/schema/openapi.json")
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    assert {"/ready", "/api/rooms/{room}/publish", "/webhooks/livekit"} <= set(paths)
