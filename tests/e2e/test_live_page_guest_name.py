"""A guest's display name on the live page: shown as text beside their chat, never run
(real Chromium, hub, DBs)."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_live_page_hostile_data import assert_nothing_ran, text_of
from tests.support.client import Client
from tests.support.members import staff_token

pytestmark = needs_chromium

NAME = "\"><img src=x onerror=__pwned=1>"  # fits the 40-character name limit


async def test_guest_name_is_text_on_the_page(hub_factory, event):
    """A guest named with markup chats and requests a song; the DJ's page shows the name as
    typed beside both, and runs nothing."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        minted = await asyncio.wait_for(http.post(f"/api/events/{ev}/guest",
                                                  json={"display_name": NAME}), 10)
    assert minted.status_code == 201, minted.text
    assert minted.json()["name"] == NAME
    async with chromium() as browser:
        page = await browser.new_page()
        dj = await staff_token(hub, org, "dj-1", "dj")
        await page.goto(f"{hub.url}/live#token={dj}&room={room}")
        await page.locator("#viewers", has_text="1 here").wait_for(timeout=10_000)
        guest = await Client.open(hub.ws_url, minted.json()["token"])
        try:
            await guest.subscribe(room)
            await guest.send({"type": "chat", "room": room, "text": "hello from a guest"})
            line = await text_of(page, "#chat li", "hello from a guest")
            await guest.call(room, "requests.submit", {"title": "Guest song"})
            queued = await text_of(page, "#requests li", "Guest song")
        finally:
            await guest.close()
        assert NAME in line and f"by {NAME}" in queued
        await assert_nothing_ran(page)
