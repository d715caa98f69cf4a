"""The DJ dashboard runs the request queue live (real Chromium, hub, Redis and Postgres):
a fan's request appears without a reload, the DJ accepts it and drags it to the top, and
two DJs acting on the same queue version see one change apply and the other explained."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.support.client import Client, token
from tests.support.hubproc import HubProcess
from tests.support.members import staff_token

pytestmark = needs_chromium

CONFLICT = "Someone else changed the queue — this is the current order; try again."


class FrameGate:
    """Sits between a page and the hub's websocket; while held, the hub's frames to the
    page wait (in order), as on a slow network. The page's own frames always go through."""

    def __init__(self) -> None:
        self.held = False
        self.waiting: list[str | bytes] = []
        self.page_ws: Any = None

    async def route(self, ws: Any) -> None:
        self.page_ws = ws
        server = ws.connect_to_server()
        server.on_message(self._from_hub)

    def _from_hub(self, message: str | bytes) -> None:
        if self.held:
            self.waiting.append(message)
        else:
            self.page_ws.send(message)

    async def hold(self) -> None:
        self.held = True

    async def release(self) -> None:
        self.held = False
        for message in self.waiting:
            self.page_ws.send(message)
        self.waiting.clear()


async def open_dashboard(browser: Any, hub: HubProcess, ev: uuid.UUID, tok: str,
                         viewport: dict[str, int] | None = None, gate: FrameGate | None = None,
                         **context: Any) -> Any:
    """A dashboard page signed in with ``tok``, connected; page errors collected on it."""
    ctx = await browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, **context)
    page = await ctx.new_page()
    if gate is not None:
        await page.route_web_socket("**/ws*", gate.route)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    # A policy violation (CSP, Trusted Types) is a console error, not a page error.
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" and (
        "Content Security Policy" in msg.text or "Trusted" in msg.text) else None)
    await page.goto(f"{hub.url}/dj/{ev}#token={tok}")
    await page.locator("#conn-text", has_text="Connected").wait_for(timeout=15_000)
    return page


async def titles(page: Any) -> list[str]:
    titles: list[str] = await page.locator("#queue li .title").all_inner_texts()
    return titles


async def wait_titles(page: Any, expected: list[str]) -> None:
    """Until the dashboard's queue shows exactly ``expected``, in order (bounded)."""
    for _ in range(150):
        if await titles(page) == expected:
            return
        await page.wait_for_timeout(100)
    assert await titles(page) == expected


def row(page: Any, title: str) -> Any:
    return page.locator("#queue li").filter(has=page.locator(".title", has_text=title))


async def fan(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID, sub: str) -> Client:
    client = await Client.open(hub.ws_url, token(org, sub=sub))
    await client.subscribe(f"event:{ev}")
    return client


async def test_a_fans_request_appears_live_and_the_dj_drags_it_to_the_top(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    dj_token = await staff_token(hub, org, "dj-ann", "dj")
    crowd, me = await fan(hub, org, ev, "fan-crowd"), await fan(hub, org, ev, "fan-me")
    for title in ("Alpha", "Bravo"):
        await crowd.call(room, "requests.submit", {"title": title, "artist": "Band"})
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, dj_token)
        await wait_titles(page, ["Alpha", "Bravo"])
        for title in ("Alpha", "Bravo"):
            await row(page, title).get_by_role("button", name="Accept").click()
            await row(page, title).get_by_role("button", name="Accept").wait_for(state="detached")

        # The fan's request shows up without a reload, marked new.
        mine = await me.call(room, "requests.submit", {"title": "Charlie", "artist": "Fan"})
        await wait_titles(page, ["Alpha", "Bravo", "Charlie"])
        assert await row(page, "Charlie").locator(".pill.new").count() == 1
        await row(page, "Charlie").get_by_role("button", name="Accept").click()
        await row(page, "Charlie").locator(".pill.new").wait_for(state="detached")

        # A real drag (HTML5 drag and drop) onto the first row moves it to position 1.
        await row(page, "Charlie").drag_to(row(page, "Alpha"))
        await wait_titles(page, ["Charlie", "Alpha", "Bravo"])
        position = (await me.call(room, "requests.mine"))["requests"][0]["request"]["position"]
        assert position == 1
        assert mine["request"]["id"] == (await me.call(room, "requests.mine")
                                         )["requests"][0]["request"]["id"]

        # The keyboard alternative: "move down" moves it one place and keeps focus on it.
        await row(page, "Charlie").get_by_role("button", name="Move Charlie down").click()
        await wait_titles(page, ["Alpha", "Charlie", "Bravo"])
        assert (await me.call(room, "requests.mine"))["requests"][0]["request"]["position"] == 2
        focused = await page.evaluate("document.activeElement.closest('li')?.dataset.id")
        assert focused == mine["request"]["id"]
        # No internal ids or versions on screen.
        body = await page.locator("body").inner_text()
        assert mine["request"]["id"] not in body and str(ev) not in body

        # "Mark played" only on the song now playing: on a queued row it would quietly take
        # the song out as if played.
        assert await page.locator("#queue").get_by_role("button", name="Played").count() == 0
        assert await page.locator("#queue").get_by_role("button", name="Mark played").count() == 0
        await row(page, "Charlie").get_by_role("button", name="Play now").click()
        await wait_titles(page, ["Alpha", "Bravo"])
        now = page.locator("#now-playing")
        await now.filter(has_text="Charlie").wait_for(timeout=10_000)
        await now.get_by_role("button", name="Mark played").click()
        await now.filter(has_text="Nothing yet").wait_for(timeout=10_000)
        played = (await me.call(room, "requests.mine"))["requests"][0]["request"]
        assert played["status"] == "played"
        assert page.errors == []
    await crowd.close()
    await me.close()


async def test_two_djs_moving_on_one_version_one_applies_the_other_is_told(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    crowd = await fan(hub, org, ev, "fan-crowd")
    for title in ("One", "Two", "Three"):
        await crowd.call(room, "requests.submit", {"title": title, "artist": "X"})
    async with chromium() as browser:
        first = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-a", "dj"))
        gate = FrameGate()
        second = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-b", "dj"),
                                      gate=gate)
        for page in (first, second):
            await wait_titles(page, ["One", "Two", "Three"])
        # The second dashboard's view is held still (its hub frames wait) while the first
        # DJ moves, so both act on the same version, as two DJs pressing at once do.
        await gate.hold()
        await row(first, "Three").get_by_role("button", name="Move Three up").click()
        await wait_titles(first, ["One", "Three", "Two"])
        await row(second, "Two").get_by_role("button", name="Move Two up").click()
        await gate.release()
        conflict = second.locator("#queue-conflict")
        await conflict.wait_for(state="visible", timeout=15_000)
        assert await conflict.inner_text() == CONFLICT
        await wait_titles(second, ["One", "Three", "Two"])
        assert await row(second, "Two").get_attribute("class") == "req conflict"
        # The hub kept the first DJ's order; nothing else changed.
        await wait_titles(first, ["One", "Three", "Two"])
        assert first.errors == [] and second.errors == []
    await crowd.close()
