"""A room event that overtakes the subscribe snapshot stays on the page (real hub, Chromium)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.support.client import Client, token
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_a_stale_requests_snapshot_does_not_hide_a_newer_request(hub_factory, event):
    """The hub's snapshot arriving after a newer ``requests`` event does not roll it back."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    held: list[str] = []  # the first requests snapshot, delivered late
    holding = asyncio.Event()

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] == "snapshot" and frame["service"] == "requests" and not held:
                held.append(str(message))
                holding.set()
                return
            ws.send(message)
            data = frame.get("data")
            if frame["type"] == "message" and isinstance(data, dict) \
                    and data.get("type") == "requests" and held:
                ws.send(held[0])  # now the snapshot is older than what the page shows

        server.on_message(from_server)

    async with chromium() as browser:
        page = await browser.new_page()
        await page.route_web_socket(re.compile(r"/ws\?"), route)
        dj = await staff_token(hub, org, "dj", "dj")
        await page.goto(f"{hub.url}/live#token={dj}"
                        f"&room={room}")
        await page.locator("#viewers", has_text="1 here").wait_for(timeout=10_000)
        await asyncio.wait_for(holding.wait(), 10)  # subscribed; its snapshot is held back
        fan = await Client.open(hub.ws_url, token(org, sub="maya"))
        await fan.call(room, "requests.submit", {"title": "Dancing Queen", "artist": "ABBA"})
        # Frames keep their order: once this chat line shows, the late snapshot was applied.
        await fan.send({"type": "chat", "room": room, "text": "after the snapshot",
                        "client_msg_id": str(uuid.uuid4())})
        await page.locator("#chat li", has_text="after the snapshot").wait_for(timeout=10_000)
        assert await page.locator("#requests li", has_text="Dancing Queen").count() == 1
        assert await page.locator("#requests-version").inner_text() == "v1"
        await fan.close()
