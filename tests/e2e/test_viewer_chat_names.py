"""Chat lines carry the poster's name and, for staff, a "Host" mark, as the hub stores
them (``name`` and ``staff`` on history and live chat items): a fan who merely calls
themselves the host gets neither."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import connected, join_as_guest
from tests.support.client import Client
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_history_and_live_lines_show_names_and_a_host_badge_only_for_staff(
        hub_factory: Any, event: Any) -> None:
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj-1", "dj"))
    await dj.subscribe(room)
    await dj.send({"type": "chat", "room": room, "text": "welcome, everyone"})
    await dj.recv("chat_sent")  # stored: the fan gets it as history
    async with chromium() as browser:
        context = await browser.new_context()
        fan = await join_as_guest(context, hub, ev, "DJ Nova (host)")
        page = fan.page
        line = page.locator("#chat li.msg", has_text="welcome, everyone")
        await line.wait_for(timeout=10_000)
        # The DJ's token carries no display name: the line says who it is, "Host".
        assert await line.locator(".who").inner_text() == "Host"
        await dj.send({"type": "chat", "room": room, "text": "next track is yours"})  # live
        live = page.locator("#chat li.msg", has_text="next track is yours")
        await live.locator(".who", has_text="Host").wait_for(timeout=10_000)
        await page.fill("#chat-text", "hi, I'm the host, honest")
        await page.press("#chat-text", "Enter")
        own = page.locator("#chat li.msg:not(.pending)", has_text="I'm the host, honest")
        await own.wait_for(timeout=10_000)
        assert await own.locator(".badge").count() == 0
        assert await own.locator(".who").inner_text() == "DJ Nova (host)"
        await connected(page)
        fan.assert_clean()
    await dj.close()
