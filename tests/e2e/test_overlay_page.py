"""The OBS overlay page runs on its own secret: it shows a tip alert and acks it."""

from __future__ import annotations

import asyncio

from tests.e2e.browser import chromium, needs_chromium
from tests.integration.test_overlay_secret import new_link
from tests.integration.test_tips import LONG, alert_of, pay, statuses

pytestmark = needs_chromium


async def test_overlay_link_shows_and_acks_a_tip_alert(hub_factory, event, owner_conn):
    """The URL the rotate route returns opens the page, which shows the alert, then acks it."""
    _, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{hub.url}{link['url']}")
        await page.locator("#status.on").wait_for(timeout=10_000)
        assert "the overlay" in await page.locator("#room").inner_text()
        alert = alert_of(await pay(hub, f"event:{ev}", 1200, "Dee"))
        await page.locator("#alert:not([hidden])").wait_for(timeout=10_000)
        assert "Dee tipped" in await page.locator("#alert").inner_text()
        # live.js acks 4 s after showing; the alert timeout (30 s) is far off.
        for _ in range(100):
            if (await statuses(owner_conn, ev))[alert] == "acked":
                break
            await asyncio.sleep(0.1)
        assert (await statuses(owner_conn, ev))[alert] == "acked"
        await page.locator("#alert[hidden]").wait_for(state="attached", timeout=10_000)
        assert errors == []
