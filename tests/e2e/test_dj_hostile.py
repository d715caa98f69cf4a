"""Hostile text on the DJ dashboard: script and markup in song titles, artists, notes,
names, karaoke songs, chat, tip names and messages, the event title and a sanctioned
user's name render as text and never run (real Chromium, hub, Redis and Postgres)."""

from __future__ import annotations

import asyncpg

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_look import fill_night
from tests.e2e.test_dj_requests import open_dashboard
from tests.support.hostile import xss, xss_long
from tests.support.members import staff_token

pytestmark = needs_chromium

SHORT = {"singer", "from_name"}  # fields with tight length limits get the short payload
NAME = "<img src=x onerror=__pwned=1>&amp;<b>"  # display names are cut at 40 characters


def mark(field: str) -> str:
    if field == "name":
        return NAME
    return xss(field) if field in SHORT else xss_long(field)


async def test_script_in_every_text_the_dashboard_shows_renders_as_text(
        hub_factory, event, owner_conn: asyncpg.Connection):
    org, ev = event
    await owner_conn.execute("UPDATE events SET title = $2, visibility = 'public' WHERE id = $1",
                             ev, xss_long("event"))
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT="120")
    fans = await fill_night(hub, org, ev, mark)
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-x", "dj"))
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        queue = page.locator("#queue li").filter(has_text=xss_long("title"))
        await queue.wait_for(timeout=10_000)
        shown = await queue.inner_text()
        for field in ("title", "artist", "note"):
            assert xss_long(field) in shown, field
        assert NAME in shown  # the requester's display name
        karaoke = await page.locator("#karaoke-card").inner_text()
        assert xss("singer") in karaoke and xss_long("song") in karaoke
        chat = page.locator("#chat-log li").filter(has_text=xss_long("chat"))
        await chat.wait_for(timeout=10_000)
        assert NAME in await chat.inner_text()
        tip = page.locator("#tip-feed li").filter(has_text=xss_long("message"))
        await tip.wait_for(timeout=10_000)
        assert xss("from_name") in await tip.inner_text()
        assert xss_long("event") in await page.locator("h1").inner_text()

        # A sanction names the user by their display name, as text.
        await chat.get_by_role("button", name=f"Mute {NAME}").click()
        await page.locator("#sanction-dialog").get_by_role("button", name="Mute").click()
        await page.locator("#chat-log li.system").wait_for(timeout=10_000)
        assert NAME in await page.locator("#chat-log li.system").inner_text()
        # The decline dialog quotes the title as text.
        await queue.get_by_role("button", name="Decline").click()
        assert xss_long("title") in await page.locator("#decline-dialog").inner_text()

        assert await page.evaluate("typeof window.__pwned") == "undefined"
        assert await page.title() == f"{xss_long('event')} · DJ Dash"  # literal, untouched
        assert await page.locator("main img, main script, dialog img, dialog script").count() == 0
        assert dialogs == [] and page.errors == []
    for fan in fans:
        await fan.close()
