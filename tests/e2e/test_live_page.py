"""The live room page in headless Chromium, against a real hub, Redis and Postgres."""

from __future__ import annotations

from tests.e2e.browser import chromium, needs_chromium
from tests.support.client import Client, api_call, token
from tests.support.ledger import ledger_row
from tests.support.members import add_member

pytestmark = needs_chromium


async def test_fan_request_reaches_the_dj_page_and_the_dj_can_play_it(hub_factory, event,
                                                                       tmp_path, owner_dsn):
    """A fan submits a request in the page; the DJ's page shows it live and plays it."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    await add_member(owner_dsn, org, "DJ Nova", "dj")
    async with chromium() as browser:
        dj = await browser.new_page(viewport={"width": 1300, "height": 760})
        fan = await browser.new_page(viewport={"width": 1300, "height": 760})
        errors: list[str] = []
        for page in (dj, fan):
            page.on("pageerror", lambda exc: errors.append(str(exc)))
        await dj.goto(f"{hub.url}/live#token={token(org, sub='DJ Nova', roles=('dj',))}"
                      f"&room={room}")
        await fan.goto(f"{hub.url}/live#token={token(org, sub='maya')}&room={room}")
        for page in (dj, fan):
            await page.locator("#status.on").wait_for(timeout=10_000)
        await fan.fill("#request-title", "Mr. Brightside")
        await fan.fill("#request-artist", "The Killers")
        await fan.click("#request-form button")
        row = dj.locator("#requests li", has_text="Mr. Brightside")
        await row.wait_for(timeout=10_000)
        assert "by maya" in await row.inner_text()
        await fan.fill("#chat-text", "this crowd is wild")
        await fan.press("#chat-text", "Enter")
        await dj.locator("#chat li", has_text="this crowd is wild").wait_for(timeout=10_000)
        await row.locator("button[data-act=play_now]").click()
        await fan.locator("#now-playing", has_text="Mr. Brightside").wait_for(timeout=10_000)
        tipper = await Client.open(hub.ws_url, token(org, sub="priya"))
        await tipper.close()
        await ledger_row(hub, room, "tip", "00000000-0000-4000-8000-00000000c0de", 2500,
                         "pi_e2e")
        resp = await api_call(hub.url, room, "tips.paid", {
            "tip_id": "00000000-0000-4000-8000-00000000c0de", "amount_cents": 2500,
            "payment_id": "pi_e2e", "from_name": "Priya", "message": "encore!"})
        assert resp.status_code == 200, resp.text
        await dj.locator("#alert", has_text="$25.00").wait_for(timeout=10_000)
        await dj.screenshot(path=str(tmp_path / "live-dj.png"))  # for a human to look at
        assert errors == []
