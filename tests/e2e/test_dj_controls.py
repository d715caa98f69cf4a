"""The DJ dashboard's other controls, against a real hub: the karaoke rotation (next, hold,
release, skip), the overlay link, ending the event behind a confirm, staying signed in
past the first token's expiry, recording without streaming, and pausing while the hub is
away (real Chromium, Redis, Postgres)."""

from __future__ import annotations

import asyncio

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_requests import fan, open_dashboard
from tests.support.client import token
from tests.support.members import add_member, staff_token

pytestmark = needs_chromium


async def karaoke_names(page) -> list[str]:
    names: list[str] = await page.locator("#karaoke-queue li b").all_inner_texts()
    return names


async def test_karaoke_next_hold_release_and_skip(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    singers = [await fan(hub, org, ev, f"singer-{n}") for n in range(3)]
    for n, (client, song) in enumerate(zip(singers, ("Valerie", "Jolene", "Wannabe"),
                                           strict=True)):
        await client.call(room, "karaoke.signup", {"singer": f"S{n}", "song": song})
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "host", "dj"))
        card = page.locator("#karaoke-card")
        await card.locator("#next-up", has_text="S0 — Valerie").wait_for(timeout=10_000)
        await page.get_by_role("button", name="Next singer").click()
        await page.locator("#now-singing", has_text="S0").wait_for(timeout=10_000)
        assert await karaoke_names(page) == ["S1", "S2"]

        # Hold S1: passed over (S2 is next up), keeps the place; release brings it back.
        s1 = page.locator("#karaoke-queue li", has_text="S1")
        await s1.get_by_role("button", name="Hold").click()
        await page.locator("#next-up", has_text="S2").wait_for(timeout=10_000)
        assert "on hold" in await s1.inner_text()
        assert await karaoke_names(page) == ["S1", "S2"]  # the place is kept
        await s1.get_by_role("button", name="Release").click()
        await page.locator("#next-up", has_text="S1").wait_for(timeout=10_000)

        # Skip the singer on stage: nobody is singing, the queue is unchanged.
        await page.locator("#now-singing").get_by_role("button", name="Skip").click()
        await page.locator("#now-singing", has_text="Nobody singing").wait_for(timeout=10_000)
        assert await karaoke_names(page) == ["S1", "S2"]
        assert page.errors == []
    for client in singers:
        await client.close()


async def test_overlay_link_starting_and_ending_the_event_behind_a_confirm(
        hub_factory, event, owner_conn):
    org, ev = event
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    hub = hub_factory(db=True)
    watcher = await fan(hub, org, ev, "watcher")
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-o", "dj"),
                                    permissions=["clipboard-read", "clipboard-write"])
        card = page.locator("#overlay-card")
        # Making a link is behind a confirm that says what it breaks; Cancel makes none.
        await card.get_by_role("button", name="Make an overlay link").click()
        confirm = page.locator("#confirm-overlay")
        assert "tip alerts disappear from OBS until you paste the new link" in (
            await confirm.inner_text())
        await confirm.get_by_role("button", name="Cancel").click()
        await confirm.wait_for(state="detached")
        assert await page.locator("#overlay-url").count() == 0
        await card.get_by_role("button", name="Make an overlay link").click()
        await confirm.get_by_role("button", name="Make a new link").click()
        field = page.locator("#overlay-url")
        await field.wait_for(timeout=10_000)
        # Masked on screen: a shared screen or a photo of the decks doesn't leak it.
        assert set(await field.input_value()) == {"•"}
        assert "?sound=1" in await card.inner_text()
        await card.get_by_role("button", name="Copy").click()
        first = await page.evaluate("navigator.clipboard.readText()")
        assert first.startswith(hub.url) and "overlay" in first
        await card.get_by_role("button", name="Show").click()
        assert await field.input_value() == first
        await card.get_by_role("button", name="Hide").click()
        assert set(await field.input_value()) == {"•"}
        await card.get_by_role("button", name="Make a new overlay link").click()
        await confirm.get_by_role("button", name="Make a new link").click()
        for _ in range(100):
            await card.get_by_role("button", name="Copy").click()
            if await page.evaluate("navigator.clipboard.readText()") != first:
                break
            await asyncio.sleep(0.05)
        assert await page.evaluate("navigator.clipboard.readText()") != first

        # A scheduled event starts with one press; ending needs a confirm.
        assert await page.locator("#event-status").inner_text() == "Not started"
        await page.get_by_role("button", name="Start the event").click()
        assert (await watcher.next_event("event_status"))["status"] == "live"
        await page.locator("#event-status", has_text="Live").wait_for(timeout=10_000)
        assert await page.locator("#event-live").is_hidden()
        # Cancel changes nothing.
        await page.get_by_role("button", name="End the event").click()
        confirm = page.locator("#confirm-end")
        await confirm.get_by_role("button", name="Cancel").click()
        await confirm.wait_for(state="detached")
        await page.get_by_role("button", name="End the event").click()
        await confirm.get_by_role("button", name="End the event").click()
        status = await watcher.next_event("event_status")
        assert status["status"] == "ended"
        await page.locator("#event-status", has_text="Ended").wait_for(timeout=10_000)
        assert "over" in await page.locator("#event-help").inner_text()
        assert await page.locator("#event-end").is_hidden()
        assert page.errors == []
    await watcher.close()


async def test_a_short_token_is_refreshed_and_the_dj_keeps_working(hub_factory, event,
                                                                   owner_dsn):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    await add_member(owner_dsn, org, "dj-short", "dj")
    short = token(org, sub="dj-short", roles=("dj",), ttl=6)
    crowd = await fan(hub, org, ev, "fan-r")
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, short)
        refreshes: list[int] = []
        page.on("response", lambda r: refreshes.append(r.status)
                if r.url.endswith("/api/tokens/refresh") else None)
        await asyncio.sleep(8)  # past the first token's exp (the hub closes at exp unrefreshed)
        assert 200 in refreshes
        await crowd.call(room, "requests.submit", {"title": "After expiry"})
        item = page.locator("#queue li", has_text="After expiry")
        await item.wait_for(timeout=10_000)
        await item.get_by_role("button", name="Accept").click()
        await item.locator(".pill.new").wait_for(state="detached", timeout=10_000)
        assert await page.locator("#conn-text").inner_text() == "Connected"
        assert page.errors == []
    await crowd.close()


async def test_recording_without_streaming_is_explained(hub_factory, event):
    """A hub without LiveKit cannot record: the button is off and says why, before a press."""
    org, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-rec", "dj"))
        assert await page.get_by_role("button", name="Start recording").is_disabled()
        assert "needs streaming" in await page.locator("#record-why").inner_text()
        assert page.errors == []


async def test_controls_pause_while_the_hub_is_away_and_come_back_with_it(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    crowd = await fan(hub, org, ev, "fan-away")
    await crowd.call(room, "requests.submit", {"title": "Hold on"})
    await crowd.close()
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-away", "dj"))
        accept = page.locator("#queue li", has_text="Hold on").get_by_role("button", name="Accept")
        await accept.wait_for(timeout=10_000)
        restart = asyncio.create_task(asyncio.to_thread(hub.restart, down_seconds=3, kill=True))
        banner = page.locator("#offline")
        await banner.wait_for(state="visible", timeout=10_000)
        assert "paused" in await banner.inner_text()
        assert await accept.is_disabled()
        assert await page.locator("#conn-text").inner_text() == "Reconnecting…"
        await restart
        await page.locator("#conn-text", has_text="Connected").wait_for(timeout=30_000)
        await banner.wait_for(state="hidden")
        accept = page.locator("#queue li", has_text="Hold on").get_by_role("button", name="Accept")
        assert await accept.is_enabled()
        await accept.click()
        await page.locator("#queue li", has_text="Hold on").locator(".pill.new").wait_for(
            state="detached", timeout=10_000)
        assert page.errors == []
