"""Chat lines carry the poster's name and, for staff, a "Host" badge. The hub adds
``name`` and ``staff`` to chat items (history and live); until every hub does, this test
adds them to the hub's real frames on their way to the page, and checks what a fan sees:
the name (as text), the badge only where the hub said ``staff``, never for a fan who
merely calls themselves the host."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import connected, join_as_guest
from tests.support.client import Client
from tests.support.members import staff_token

pytestmark = needs_chromium
STAFF = {"name": "DJ Nova", "staff": True}


def with_staff(value: Any) -> Any:
    """``value`` with every chat item posted by dj-1 marked as the hub would mark it."""
    if isinstance(value, list):
        return [with_staff(v) for v in value]
    if isinstance(value, dict):
        out = {k: with_staff(v) for k, v in value.items()}
        if out.get("user") == "dj-1" and "message_id" in out:
            out.update(STAFF)
        return out
    return value


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

        async def relay(ws: Any) -> None:
            server = ws.connect_to_server()
            server.on_message(lambda m: ws.send(
                json.dumps(with_staff(json.loads(m))) if isinstance(m, str) else m))
        await context.route_web_socket(lambda url: url.startswith(hub.ws_url.split("?")[0]),
                                       relay)
        fan = await join_as_guest(context, hub, ev, "DJ Nova (host)")
        page = fan.page
        line = page.locator("#chat li.msg", has_text="welcome, everyone")
        await line.wait_for(timeout=10_000)
        assert await line.locator(".who").inner_text() == "DJ Nova"
        assert await line.locator(".badge.host").inner_text() == "Host"
        await dj.send({"type": "chat", "room": room, "text": "next track is yours"})  # live
        live = page.locator("#chat li.msg", has_text="next track is yours")
        await live.locator(".badge.host").wait_for(timeout=10_000)
        await page.fill("#chat-text", "hi, I'm the host, honest")
        await page.press("#chat-text", "Enter")
        own = page.locator("#chat li.msg:not(.pending)", has_text="I'm the host, honest")
        await own.wait_for(timeout=10_000)
        assert await own.locator(".badge").count() == 0
        await connected(page)
        fan.assert_clean()
    await dj.close()
