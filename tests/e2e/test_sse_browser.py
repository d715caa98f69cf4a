"""Must-show 6: a browser's EventSource resumes with Last-Event-ID after its hub dies and
misses nothing. Headless Chromium, a page on the hub's origin under its CSP, real hubs."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import httpx

from tests.e2e.browser import chromium, needs_chromium
from tests.integration.test_sse import publish_many
from tests.integration.test_tips import HubFactory
from tests.support.client import token
from tests.support.hubproc import API_KEY, HubProcess

pytestmark = needs_chromium

# Runs in the page: a plain EventSource, recording what it is handed.
OPEN = """(url) => {
  window.got = []; window.subscribed = []; window.opens = 0; window.errors = 0;
  const es = new EventSource(url);
  es.addEventListener("subscribed", (e) => window.subscribed.push(JSON.parse(e.data)));
  es.addEventListener("message", (e) => {
    const frame = JSON.parse(e.data);
    window.got.push([frame.data.n, e.lastEventId]);
  });
  es.onopen = () => { window.opens += 1; };
  es.onerror = () => { window.errors += 1; };
  window.es = es;
}"""


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def _until(page: Any, condition: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` from here: the page's CSP forbids the eval that
    ``wait_for_function`` needs for an expression."""
    check = f"() => {condition}"
    for _ in range(int(timeout / 0.05)):
        if await page.evaluate(check):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {condition}: got"
                         f" {await page.evaluate('() => [window.subscribed, window.got]')}")


async def test_event_source_resumes_after_its_hub_is_killed(hub_factory: HubFactory) -> None:
    """Messages 1-5 live, 6-10 published on another node while the page's hub is down
    (SIGKILL, then back on the same port), 11-15 after: EventSource reconnects by itself
    with Last-Event-ID, and the page gets all 15 once each, in order."""
    node: HubProcess = hub_factory()
    other = hub_factory()
    org, ev = uuid.uuid4(), uuid.uuid4()
    room = f"event:{ev}"
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        resp = await http.put(f"/api/events/{ev}", json={"org": str(org)},
                              headers={"X-API-Key": API_KEY})
        assert resp.status_code == 204
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Any page of the hub's origin, served with the hub's strict CSP (connect-src 'self').
        shown = await page.goto(f"{node.url}/static/live.css")
        assert shown is not None
        assert "connect-src 'self'" in (await shown.all_headers())["content-security-policy"]
        await page.evaluate(OPEN, f"/sse/rooms/{room}?token={token(org)}")
        await _until(page, "window.subscribed.length === 1")
        first = await page.evaluate("window.subscribed[0]")
        assert first["recovered"] is False
        epoch = first["epoch"]

        await publish_many(node, room, [{"n": n} for n in range(1, 6)])
        await _until(page, "window.got.length === 5")

        restarting = asyncio.create_task(asyncio.to_thread(node.restart, 1.0, True))
        for _ in range(200):
            if await asyncio.to_thread(_refuses, node.port):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the hub did not go down")
        await publish_many(other, room, [{"n": n} for n in range(6, 11)])
        await restarting

        await _until(page, "window.subscribed.length === 2 && window.got.length === 10", 30)
        again = await page.evaluate("window.subscribed[1]")
        assert again["recovered"] is True and again["epoch"] == epoch
        await publish_many(node, room, [{"n": n} for n in range(11, 16)])
        await _until(page, "window.got.length >= 15")
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        got = await page.evaluate("window.got")
        assert got == [[n, f"{epoch}:{n}"] for n in range(1, 16)]
        assert await page.evaluate("window.opens") >= 2
        assert await page.evaluate("window.errors") >= 1  # it did lose the connection
        assert await page.evaluate("window.es.readyState") == 1  # open
        assert errors == []
