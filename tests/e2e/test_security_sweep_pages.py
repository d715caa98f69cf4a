"""Security sweep, the pages' part (issue #13): every SQL and script payload, planted in
every text field, shows literally on the viewer page, the DJ dashboard and the OBS overlay
in real Chromium, and none runs (``window.__pwned`` stays undefined, no dialog, no element
with an event handler, no ``javascript:`` link); nor does markup put where the pages read
their credential (the overlay link's path, a ``#token=`` fragment)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from rooms.principal import display_name
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_requests import open_dashboard
from tests.e2e.viewer_support import Watched, open_page, until, viewer
from tests.integration.test_overlay_secret import new_link
from tests.support.client import Client
from tests.support.hubproc import API_KEY
from tests.support.injection import PAYLOADS, SCRIPT, Planted, artist, plant
from tests.support.members import staff_token

pytestmark = needs_chromium

TITLE = "'; DROP TABLE events; --<script>window.__pwned=1</script>"
SHOTS = Path(os.environ.get("SWEEP_SHOTS", tempfile.gettempdir())) / "security-sweep"

# Anything a payload would have added if parsed as markup.
INJECTED = ("[onerror], [onload], [onmouseover], iframe, script:not([src]):not([type]),"
            " a[href^='javascript:'], #app img, main img, #app svg[onload]")


async def texts(page: Any, selector: str) -> str:
    return str(await page.locator(selector).first.inner_text())


async def shows_all(page: Any, selector: str, wanted: list[str]) -> None:
    """Every string in ``wanted`` is in ``selector``'s text (bounded wait)."""
    async def present() -> bool:
        shown = await texts(page, selector)
        return all(w in shown for w in wanted)
    try:
        await until(present, timeout=15)
    except AssertionError:
        shown = await texts(page, selector)
        raise AssertionError((selector, [w for w in wanted if w not in shown], shown)) from None


async def nothing_ran(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert await page.evaluate("typeof window.__pwned") == "undefined", name
    assert await page.locator(INJECTED).count() == 0, name


async def overlay_shows_every_tip(obs: Watched, dj: Client, planted: Planted) -> list[str]:
    """Step through the alerts (the DJ takes each down once the overlay shows it): the
    names the overlay showed, as text."""
    seen: list[str] = []
    while True:
        state = await dj.call(planted.room, "tips.state")
        showing = state["showing"]
        if showing is None:
            return seen
        name = showing["from_name"]
        await obs.page.locator("#alert", has_text=f"{name} tipped!").wait_for(timeout=10_000)
        assert showing["message"] in await texts(obs.page, "#alert")
        seen.append(name)
        if len(seen) == 1:
            await nothing_ran(obs.page, "overlay")
        await dj.call(planted.room, "tips.ack", {"alert_id": showing["alert_id"]})


async def test_every_payload_shows_as_text_on_every_page(hub_factory: Any, event: Any) -> None:
    org, ev = event
    hub = hub_factory(db=True, HUB_GUEST_TOKENS_PER_MINUTE="1000", HUB_TIP_ALERT_TIMEOUT="120")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        renamed = await http.patch(f"/api/events/{ev}", json={"title": TITLE},
                                   headers={"X-API-Key": API_KEY})
        assert renamed.status_code == 200, renamed.text
    dj_token = await staff_token(hub, org, "dj", "dj")
    dj = await Client.open(hub.ws_url, dj_token)
    planted = await plant(hub, org, ev, dj)
    link = await new_link(hub, ev)
    names = [display_name(p) for p in PAYLOADS]
    async with chromium() as browser:
        # The viewer page, as the guest named with a script payload: their own request was
        # declined with a payload as the reason, which only they see.
        guest = SCRIPT[0]
        fan = await viewer(await browser.new_context(), hub, ev, planted.guests[guest])
        page = fan.page
        assert TITLE in await texts(page, "h1")
        await shows_all(page, "#chat", list(PAYLOADS) + names)
        await shows_all(page, "#requests .queue", list(PAYLOADS))
        await shows_all(page, "#requests .mine-list", [f"Declined: {guest}"])
        await shows_all(page, "#karaoke", [PAYLOADS[0]])
        await nothing_ran(page, "viewer")
        fan.assert_clean()

        dash = await open_dashboard(browser, hub, ev, dj_token)
        assert TITLE in await texts(dash, "h1")
        await shows_all(dash, "#queue", list(PAYLOADS) + names
                        + [artist(i, p) for i, p in enumerate(PAYLOADS)])
        await shows_all(dash, "#chat-log", list(PAYLOADS) + names)
        await shows_all(dash, "#karaoke-card", [PAYLOADS[0]])
        await shows_all(dash, "#tip-feed", list(PAYLOADS))
        await nothing_ran(dash, "dj")
        assert dash.errors == []

        obs = await open_page(await browser.new_context(), link["url"])
        await obs.page.locator("#status.on").wait_for(timeout=10_000)
        assert sorted(await overlay_shows_every_tip(obs, dj, planted)) == sorted(PAYLOADS)
        obs.assert_clean()
        for w in (page, dash, obs.page):
            assert await w.evaluate("typeof window.__pwned") == "undefined"

        # Markup where the pages read their credential: the overlay's path, the fragment.
        context = await browser.new_context()
        for path in (f"/overlay/{quote(SCRIPT[1])}", f"/e/{ev}#token={quote(SCRIPT[3])}",
                     f"/dj/{ev}#token={quote(SCRIPT[1])}", f"/e/{ev}#token={SCRIPT[0]}"):
            hostile = await open_page(context, hub.url + path)
            await hostile.page.wait_for_load_state("networkidle")
            await nothing_ran(hostile.page, "credential")
            assert hostile.dialogs == [], path
    await dj.close()
    print(f"pages: {len(PAYLOADS)} payloads shown as text on /e, /dj and /overlay; none ran;"
          f" screenshots in {SHOTS}")
