"""Who may use the DJ dashboard: staff tokens only, said in words to anyone else, also
when the hub takes a DJ's role away mid-night (real Chromium, hub, Redis and Postgres)."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_requests import open_dashboard
from tests.support.client import token
from tests.support.hubproc import API_KEY
from tests.support.members import add_member, staff_token

pytestmark = needs_chromium

REFUSED = "This dashboard is for the event's DJs and hosts."


async def test_a_viewer_token_is_refused_in_words_and_never_connects(hub_factory, event):
    org, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        page = await browser.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.goto(f"{hub.url}/dj/{ev}#token={token(org, sub='fan-1')}")
        refused = page.locator("#refused")
        await refused.wait_for()
        assert REFUSED in await refused.inner_text()
        assert await refused.get_attribute("role") == "alert"
        assert "token" not in page.url  # stripped from the address bar at once
        assert await page.locator("#queue, #chat-log").count() == 0
        assert sockets == []

        # No token at all: the same words, plus how to get in.
        await page.goto(f"{hub.url}/dj/{ev}")
        await page.reload()
        assert REFUSED in await page.locator("#refused").inner_text()


async def test_a_dj_demoted_mid_night_loses_the_dashboard_with_a_message(hub_factory, event,
                                                                         owner_dsn):
    org, ev = event
    hub = hub_factory(db=True)
    user = await add_member(owner_dsn, org, "dj-demoted", "dj")
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, token(org, sub="dj-demoted", roles=("dj",)))
        await page.locator("#requests-card").wait_for()
        async with httpx.AsyncClient(base_url=hub.url, headers={"X-API-Key": API_KEY},
                                     timeout=10) as http:
            resp = await http.put(f"/api/orgs/{org}/members/{user}", json={"role": "viewer"})
        assert resp.status_code == 200, resp.text
        refused = page.locator("#refused")
        await refused.wait_for(timeout=10_000)
        text = await refused.inner_text()
        assert "access to this event was removed" in text
        assert await page.locator("#requests-card").count() == 0
        assert page.errors == []


async def test_a_moderator_runs_the_queue_but_is_told_money_is_for_djs(hub_factory, event):
    org, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        mod = await staff_token(hub, org, "mod", "moderator")
        page = await open_dashboard(browser, hub, ev, mod)
        note = page.locator("#money-note")
        await note.filter(has_text="Only the event's DJs").wait_for(timeout=10_000)
        assert await page.locator("#money dd").count() == 0
        # Moderators set blocked words; a DJ is told who does (see the moderation test).
        assert await page.locator("#blocked-words").count() == 1
        assert await page.locator("#event-end").is_hidden()
        assert page.errors == []


async def test_a_reload_keeps_the_dj_signed_in_and_a_refused_link_is_forgotten(hub_factory,
                                                                               event):
    """The token is kept in this tab only (sessionStorage): a reload or a discarded phone
    tab stays signed in, a new tab does not, and a refused sign-in is not brought back."""
    org, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-re", "dj"))
        assert "token" not in page.url
        await page.reload()
        await page.locator("#conn-text", has_text="Connected").wait_for(timeout=15_000)
        assert await page.locator("#requests-card").count() == 1
        assert await page.locator("#refused").count() == 0
        other_tab = await page.context.new_page()  # another tab: nothing shared
        await other_tab.goto(f"{hub.url}/dj/{ev}")
        assert REFUSED in await other_tab.locator("#refused").inner_text()

        # A guest link pasted into the same tab (only the fragment changes) replaces the
        # DJ's, is refused, and a reload doesn't sign anyone back in.
        await page.goto(f"{hub.url}/dj/{ev}#token={token(org, sub='fan-re')}")
        await page.locator("#refused").wait_for()
        await page.reload()
        assert REFUSED in await page.locator("#refused").inner_text()
        assert await page.evaluate("sessionStorage.length") == 0
        assert page.errors == []


async def test_another_orgs_dj_is_refused_in_words_not_shown_an_empty_queue(
        hub_factory, event, owner_conn):
    _, ev = event
    other = uuid.uuid4()
    await owner_conn.execute(
        "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, 'Rival',"
        " $2, 'djdash')", other, f"rival-{other.hex}")
    hub = hub_factory(db=True)
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{hub.url}/dj/{ev}#token={await staff_token(hub, other, 'dj-x', 'dj')}")
        refused = page.locator("#refused")
        await refused.wait_for(timeout=15_000)
        text = await refused.inner_text()
        assert "can't open this event" in text
        assert "isn't in your organization" in text
        assert await page.locator("#conn-text").inner_text() != "Connected"
        assert await page.locator("#queue, #chat-log, #requests-card").count() == 0
