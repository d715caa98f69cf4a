"""Must-shows 1 and 2 across pages: the viewer page and the DJ dashboard in one room
(real Chromium, hub, Redis and Postgres; no websocket stand-ins)."""

from __future__ import annotations

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_requests import open_dashboard, row, wait_titles
from tests.e2e.viewer_support import join_as_guest, send_chat, until, viewer
from tests.support.client import token
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_a_guests_chat_reaches_another_viewer_and_the_dj_dashboard(hub_factory, event):
    """Must-show 1: a guest viewer chats; it shows on a second viewer's page and on the
    DJ dashboard, once, under the guest's display name."""
    org, ev = event
    hub = hub_factory(db=True)
    dj_token = await staff_token(hub, org, f"dj-{org.hex[:8]}", "dj")
    async with chromium() as browser:
        ann_context = await browser.new_context()
        fetched: list[str] = []
        ann_context.on("request", lambda r: fetched.append(r.url))
        ann = await join_as_guest(ann_context, hub, ev, "Ann")
        bo = await join_as_guest(await browser.new_context(), hub, ev, "Bo")
        dj = await open_dashboard(browser, hub, ev, dj_token)
        await send_chat(ann.page, "hello from the front row")
        await bo.page.locator("#chat li.msg", has_text="hello from the front row").wait_for(
            timeout=10_000)
        line = dj.locator("#chat-log li", has_text="hello from the front row")
        await line.first.wait_for(timeout=10_000)
        assert await line.count() == 1
        assert "Ann" in await line.first.inner_text()
        # No stream on this hub: the fan's page never downloaded the video SDK.
        assert any("/static/app/viewer.page.js" in u for u in fetched)
        assert not [u for u in fetched if "livekit-client" in u]
        ann.assert_clean()
        bo.assert_clean()
        assert dj.errors == []


async def test_a_fans_request_on_the_viewer_page_is_run_from_the_dashboard(hub_factory, event):
    """Must-show 2: a fan requests a song on the viewer page; it appears on the DJ
    dashboard without a reload; the DJ accepts it and drags it to the top, and the fan's
    page shows the new position."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    dj_token = await staff_token(hub, org, f"dj-{org.hex[:8]}", "dj")
    async with chromium() as browser:
        dj = await open_dashboard(browser, hub, ev, dj_token)
        crowd = await viewer(await browser.new_context(), hub, ev, token(org, sub="crowd"))
        fan = await viewer(await browser.new_context(), hub, ev, token(org, sub="maya"))
        for title in ("Alpha", "Bravo"):  # two songs the DJ has already lined up
            await crowd.page.fill("#request-title", title)
            await crowd.page.click("#requests form button[type=submit]")
            await row(dj, title).wait_for(timeout=10_000)
            await row(dj, title).get_by_role("button", name="Accept").click()
            await row(dj, title).get_by_role("button", name="Accept").wait_for(state="detached")

        await fan.page.fill("#request-title", "Mr. Brightside")
        await fan.page.fill("#request-artist", "The Killers")
        await fan.page.click("#requests form button[type=submit]")
        await wait_titles(dj, ["Alpha", "Bravo", "Mr. Brightside"])
        mine = fan.page.get_by_role("list", name="Your requests").locator(
            "li", has_text="Mr. Brightside")
        await mine.filter(has_text="#3 in line").wait_for(timeout=10_000)

        await row(dj, "Mr. Brightside").get_by_role("button", name="Accept").click()
        await row(dj, "Mr. Brightside").locator(".pill.new").wait_for(state="detached")
        await row(dj, "Mr. Brightside").drag_to(row(dj, "Alpha"))
        await wait_titles(dj, ["Mr. Brightside", "Alpha", "Bravo"])
        await mine.filter(has_text="#1 in line").wait_for(timeout=10_000)
        queue = fan.page.get_by_role("list", name="Request queue")
        await until(lambda: _first_is(queue, "Mr. Brightside"))
        assert room not in await fan.page.locator("body").inner_text()
        fan.assert_clean()
        crowd.assert_clean()
        assert dj.errors == []


async def _first_is(queue, title: str) -> bool:
    items = await queue.locator("li").all_inner_texts()
    return bool(items) and title in items[0]
