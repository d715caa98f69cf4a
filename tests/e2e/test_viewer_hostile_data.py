"""Hostile text on the viewer and overlay pages: script and markup in every field they
show (event title, guest names, chat, song titles, decline reasons, karaoke names, tip
names and messages, raw service-shaped data) renders as text; no dialog, no script runs."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import Watched, join_as_guest, open_page, send_chat
from tests.integration.test_overlay_secret import new_link
from tests.integration.test_tips import LONG, pay
from tests.support.client import Client, token
from tests.support.hostile import publish_raw, xss, xss_long
from tests.support.members import staff_token

pytestmark = needs_chromium

# Display names are cut to 40 characters by the hub: a payload that fits.
NAME = '"><img src=x onerror=__pwned=1>guest'


async def shows(page: Any, selector: str, expected: str) -> None:
    """``expected`` appears literally inside ``selector`` (bounded wait)."""
    await page.locator(selector).filter(has_text=expected).first.wait_for(timeout=10_000)


async def nothing_ran(w: Watched) -> None:
    assert await w.page.evaluate("typeof window.__pwned") == "undefined"
    assert await w.page.locator("#app img, #app script, #app iframe").count() == 0
    w.assert_clean()


async def test_script_in_every_field_the_pages_show_stays_text(
        hub_factory: Any, event: Any, owner_conn: Any) -> None:
    org, ev = event
    room = f"event:{ev}"
    await owner_conn.execute("UPDATE events SET title = $2, tip_goal_cents = 5000,"
                             " requests_enabled = true, karaoke_enabled = true WHERE id = $1",
                             ev, xss_long("event-title"))
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        obs = await open_page(await browser.new_context(), link["url"])
        await obs.page.locator("#status.on").wait_for(timeout=10_000)
        guest = await join_as_guest(await browser.new_context(), hub, ev, NAME)
        page = guest.page
        await shows(page, "h1", xss_long("event-title"))

        await send_chat(page, xss_long("chat"))
        await shows(page, "#chat li.msg:not(.pending)", xss_long("chat"))
        await shows(page, "#chat li.msg .who", NAME)
        dj = await Client.open(hub.ws_url, await staff_token(hub, org, "dj-1", "dj"))
        await dj.subscribe(room)
        await page.fill("#request-title", xss_long("title"))
        await page.fill("#request-artist", xss_long("artist"))
        await page.click("#requests form button")
        added = await dj.next_event("requests")
        await shows(page, "#requests .queue li", xss_long("title"))
        await shows(page, "#requests .queue li", f"by {NAME}")
        await shows(page, "#requests .mine-list li", xss_long("artist"))

        fan = await Client.open(hub.ws_url, token(org, sub="fan-2"))
        signed = await fan.call(room, "karaoke.signup",
                                {"singer": xss("singer"), "song": xss_long("song")})
        karaoke = await dj.call(room, "karaoke.next", {"version": signed["version"]})
        assert karaoke["now_singing"]["singer"] == xss("singer")
        await shows(page, "#karaoke .now", xss("singer"))
        await shows(page, "#karaoke .now", xss_long("song"))

        # The DJ declines the guest's request with a hostile reason: the guest reads it.
        await dj.call(room, "requests.decline", {"request_id": added["request"]["id"],
                                                 "version": added["version"],
                                                 "reason": xss_long("reason")})
        await shows(page, "#requests .mine-list li", f"Declined: {xss_long('reason')}")

        # A tip with hostile name and message, on the overlay.
        await pay(hub, room, 700, xss("from"))
        await shows(obs.page, "#alert", f"{xss('from')} tipped!")
        await shows(obs.page, "#alert", f"{xss('from')}!")

        # Raw data shaped like service events, as a performer may publish it: whatever
        # the hub lets through must still render as text.
        performer = await Client.open(hub.ws_url, await staff_token(hub, org, "perf", "performer"))
        if await publish_raw(performer, room, {"type": "chat", "user": xss("c-user"),
                                               "name": xss("c-name"), "text": xss_long("c-text"),
                                               "message_id": xss("c-id"), "time": 1}):
            await shows(page, "#chat li", xss_long("c-text"))
        await publish_raw(performer, room, {"type": "tips.alert_show", "version": 10**6, "alert": {
            "alert_id": xss("a-id"), "amount_cents": xss("a-amount"),
            "from_name": xss("a-from"), "message": xss_long("a-message")}})
        await publish_raw(performer, room, {"type": "viewers", "count": xss("count")})
        await send_chat(page, "end of hostile data")
        await shows(page, "#chat li.msg:not(.pending)", "end of hostile data")
        for w in (guest, obs):
            await nothing_ran(w)
        assert await page.title() == f"{xss_long('event-title')} · DJ Dash"
        for client in (dj, fan, performer):
            await client.close()

