"""Every fan gets every queue event (each vote is one). A fan's page asks the hub for its
own requests (requests.mine, karaoke.mine: a database transaction each) only when an
event touches its own songs, never for other fans' votes and signups."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import until
from tests.support.client import Client, token

pytestmark = needs_chromium


class Calls:
    """The room-service methods a page sends over its websocket, counted by name."""

    def __init__(self, page: Any) -> None:
        self.sent: list[str] = []
        page.on("websocket", lambda ws: ws.on("framesent", self._frame))

    def _frame(self, payload: Any) -> None:
        self.sent.append(payload if isinstance(payload, str) else payload.decode(errors="replace"))

    def count(self, method: str) -> int:
        return sum(f'"{method}"' in frame for frame in self.sent)


async def test_other_fans_votes_and_signups_cost_no_query_but_my_own_songs_do(
        hub_factory: Any, event: Any, owner_conn: Any) -> None:
    org, ev = event
    room = f"event:{ev}"
    await owner_conn.execute("UPDATE events SET requests_enabled = true, karaoke_enabled = true"
                             " WHERE id = $1", ev)
    hub = hub_factory(db=True)
    async with chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        calls = Calls(page)
        await page.goto(f"{hub.url}/e/{ev}#token={token(org, sub='fan-a')}")
        await page.locator("#connection", has_text="Connected").wait_for(timeout=15_000)
        await until(lambda: _settled(calls))  # one of each, on subscribe
        others = [await Client.open(hub.ws_url, token(org, sub=f"fan-{n}")) for n in "bcd"]
        b, c, d = others
        added = await b.call(room, "requests.submit", {"title": "Their song"})
        await c.call(room, "requests.vote", {"request_id": added["request"]["id"]})
        await d.call(room, "karaoke.signup", {"singer": "Dee", "song": "Their anthem"})
        await page.locator("#requests .queue li", has_text="Their song").wait_for(timeout=10_000)
        await page.locator("#requests .queue li .vote", has_text="2").wait_for(timeout=10_000)
        await asyncio.sleep(2.8)  # longer than the page's jitter
        assert (calls.count("requests.mine"), calls.count("karaoke.mine")) == (1, 1), calls.sent

        # My own request: asked for once it is in, and again when someone votes on it.
        await page.fill("#request-title", "My song")
        await page.click("#requests form button")
        await page.locator("#requests .mine-list li", has_text="My song").wait_for(timeout=10_000)
        await asyncio.sleep(2.8)
        before = calls.count("requests.mine")
        merged = await c.call(room, "requests.submit", {"title": "My song"})  # c's vote on it
        assert merged["request"]["requester"] == "fan-a" and merged["request"]["votes"] == 2
        await until(lambda: _more(calls, before), timeout=5)
        assert calls.count("karaoke.mine") == 1
        await page.locator("#requests .mine-list li", has_text="#2 in line").wait_for(timeout=5_000)

        # Others' votes lift another song over mine: my place moves on the page, read from
        # the broadcast queue, with no query.
        await asyncio.sleep(2.8)
        before = calls.count("requests.mine")
        third = await d.call(room, "requests.submit", {"title": "Third song"})
        for fan in (b, c):
            await fan.call(room, "requests.vote", {"request_id": third["request"]["id"]})
        await page.locator("#requests .mine-list li", has_text="#3 in line").wait_for(timeout=5_000)
        await asyncio.sleep(2.8)
        assert calls.count("requests.mine") == before
        for client in others:
            await client.close()


async def _settled(calls: Calls) -> bool:
    return calls.count("requests.mine") == 1 and calls.count("karaoke.mine") == 1


async def _more(calls: Calls, before: int) -> bool:
    return calls.count("requests.mine") > before

