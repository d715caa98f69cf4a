"""The viewer page follows the event's lifecycle live: "starts soon", then live, then
ended — with the inputs that can no longer work turned off and the reason shown."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import viewer
from tests.support.client import Client, token
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_the_page_follows_scheduled_live_and_ended(hub_factory: Any, event: Any,
                                                         owner_conn: Any) -> None:
    org, ev = event
    room = f"event:{ev}"
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    hub = hub_factory(db=True)
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj-1", "dj"))
    async with chromium() as browser:
        w = await viewer(await browser.new_context(), hub, ev, token(org, sub="fan-1"))
        placeholder = w.page.locator(".player .placeholder")
        assert "starts soon" in await placeholder.inner_text()
        assert await w.page.locator("#event-status").inner_text() == "Starts soon"

        await dj.call(room, "event.status", {"status": "live"})
        await w.page.locator("#event-status", has_text="Live").wait_for(timeout=10_000)
        await placeholder.filter(has_text="We're live").wait_for(timeout=10_000)
        assert not await w.page.is_disabled("#chat-text")

        await dj.call(room, "event.status", {"status": "ended"})
        await placeholder.filter(has_text="This event has ended").wait_for(timeout=10_000)
        assert await w.page.locator("#event-status").inner_text() == "Ended"
        assert await w.page.is_disabled("#chat-text")
        assert "ended" in await w.page.locator("#chat-note").inner_text()
        assert await w.page.is_disabled("#requests form button")
        assert await w.page.is_disabled("#tip button.tip-go")
        w.assert_clean()
    await dj.close()
