"""A tip the DJ doesn't want on the broadcast: "Hide from stream" on the dashboard takes the
alert off a real overlay page at once, and a waiting one never comes up at all (real
Chromium, hub, Redis and Postgres)."""

from __future__ import annotations

import time

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_look import pay_tip
from tests.e2e.test_dj_requests import open_dashboard
from tests.e2e.viewer_support import open_page
from tests.integration.test_overlay_secret import new_link
from tests.integration.test_tips import LONG
from tests.support.members import staff_token

pytestmark = needs_chromium

SHOW_MS = 5000  # the overlay acks an alert by itself after this long (overlay.page.js)


async def test_hide_from_stream_takes_a_tip_off_the_overlay_at_once(hub_factory, event,
                                                                   owner_conn):
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        obs = await open_page(await browser.new_context(), link["url"])
        await obs.page.locator("#status.on").wait_for(timeout=10_000)
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-t", "dj"))
        await pay_tip(hub, ev, 500, "Slur McSlurface", "something awful")
        alert = obs.page.locator("#alert")
        await alert.locator(".message", has_text="something awful").wait_for(timeout=10_000)
        shown_at = time.monotonic()
        await pay_tip(hub, ev, 700, "Also Bad", "worse still")
        feed = page.locator("#tip-feed li")
        first = feed.filter(has_text="something awful")
        waiting = feed.filter(has_text="worse still")
        await first.locator(".onair", has_text="On the stream now").wait_for(timeout=10_000)
        await waiting.locator(".onair", has_text="Waiting to show").wait_for(timeout=10_000)

        # The waiting one first: out of the queue at once, so it never shows.
        await waiting.get_by_role("button", name="Hide from stream: $7.00 tip from Also Bad"
                                  ).click()
        await waiting.locator(".onair").wait_for(state="hidden", timeout=10_000)
        pressed = time.monotonic()
        await first.get_by_role(
            "button", name="Hide from stream: $5.00 tip from Slur McSlurface").click()
        await alert.wait_for(state="hidden", timeout=4_000)
        assert time.monotonic() - shown_at < SHOW_MS / 1000  # the DJ's press, not the timer
        # Nothing is showing or waiting, the overlay is empty, and the hidden tip was never
        # on screen.
        onair = feed.locator(".onair:visible")
        for _ in range(100):
            if await onair.count() == 0:
                break
            await page.wait_for_timeout(50)
        assert await onair.count() == 0
        assert time.monotonic() - pressed < SHOW_MS / 1000
        assert await feed.locator("button.hide-tip:visible").count() == 0
        assert await alert.is_hidden()
        never_shown = await owner_conn.fetchval(
            "SELECT a.shown_at IS NULL AND a.status = 'acked' FROM tip_alerts a JOIN tips t"
            " ON t.id = a.tip_id WHERE t.message = 'worse still'")
        assert never_shown is True
        obs.assert_clean()
        assert page.errors == []

        # A moderator may take tips off the stream too.
        mod = await open_dashboard(browser, hub, ev,
                                   await staff_token(hub, org, "mod-t", "moderator"))
        await pay_tip(hub, ev, 300, "Ok", "fine message")
        button = mod.locator("#tip-feed li", has_text="fine message").get_by_role(
            "button", name="Hide from stream: $3.00 tip from Ok")
        await alert.locator(".message", has_text="fine message").wait_for(timeout=10_000)
        await button.click(timeout=10_000)
        await alert.wait_for(state="hidden", timeout=4_000)
        assert mod.errors == []
