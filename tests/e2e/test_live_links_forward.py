"""Old /live links forward to the page they were for, credential still in the fragment."""

from __future__ import annotations

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import connected, open_page
from tests.integration.test_overlay_secret import new_link, secret_of
from tests.support.client import token
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_old_live_links_open_the_new_pages(hub_factory, event):
    """A fan link opens the viewer page, a DJ link the dashboard, an overlay link the
    overlay; none leaves its credential in the address bar or sends it to the server."""
    org, ev = event
    hub = hub_factory(db=True)
    dj = await staff_token(hub, org, "dj-old-link", "dj")
    secret = secret_of(await new_link(hub, ev))
    async with chromium() as browser:
        context = await browser.new_context()
        requested: list[str] = []
        context.on("request", lambda r: requested.append(r.url))
        fan = await open_page(context, f"{hub.url}/live#token={token(org, sub='old-fan')}"
                                       f"&room=event:{ev}")
        await fan.page.wait_for_url(f"{hub.url}/e/{ev}", timeout=10_000)
        await connected(fan.page)
        staff = await open_page(context, f"{hub.url}/live#token={dj}&room=event:{ev}")
        await staff.page.wait_for_url(f"{hub.url}/dj/{ev}", timeout=10_000)
        await staff.page.locator("#conn-text", has_text="Connected").wait_for(timeout=15_000)
        obs = await open_page(context, f"{hub.url}/live#overlay={secret}&room=event:{ev}")
        await obs.page.wait_for_url(f"{hub.url}/overlay/{secret}", timeout=10_000)
        await obs.page.locator("#status.on").wait_for(timeout=10_000)
        broken = await open_page(context, f"{hub.url}/live#room=org:{org}")
        await broken.page.locator("#note", has_text="This link is incomplete").wait_for()
        assert "#" not in broken.page.url
        assert not [u for u in requested if "token=" in u.split("#")[0] and "/ws" not in u]
        for page in (fan, staff, obs, broken):
            page.assert_clean()
