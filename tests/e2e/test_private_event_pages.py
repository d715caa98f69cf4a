"""A private event's shell names no title or features; signed-in pages fetch them."""

from __future__ import annotations

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_requests import open_dashboard
from tests.e2e.viewer_support import viewer
from tests.support.client import token
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_signed_in_pages_of_a_private_event_show_its_title_and_panels(
        hub_factory, event, owner_conn):
    """An invited fan sees the private event's title and its request panel; so does the
    DJ's dashboard title. A stranger without a token sees neither."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET title = 'Secret birthday', visibility ="
                             " 'private' WHERE id = $1", ev)
    hub = hub_factory(db=True)
    async with chromium() as browser:
        fan = await viewer(await browser.new_context(), hub, ev, token(org, sub="invited"))
        await fan.page.locator("h1", has_text="Secret birthday").wait_for(timeout=10_000)
        await fan.page.locator("#request-title").wait_for(timeout=10_000)
        assert await fan.page.title() == "Secret birthday · DJ Dash"
        dj = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-priv", "dj"))
        await dj.locator(".event-title", has_text="Secret birthday").wait_for(timeout=10_000)
        stranger = await (await browser.new_context()).new_page()
        await stranger.goto(f"{hub.url}/e/{ev}")
        await stranger.locator("text=Invitation needed").wait_for(timeout=10_000)
        assert "Secret birthday" not in await stranger.content()
        fan.assert_clean()
        assert dj.errors == []
