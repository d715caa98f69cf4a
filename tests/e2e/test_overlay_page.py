"""The OBS overlay page runs on its own secret: alerts one at a time in the hub's order
(the priority lane first), each acked after it was shown; a bad secret shows nothing."""

from __future__ import annotations

import asyncio

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import open_page, until
from tests.integration.test_overlay_secret import new_link
from tests.integration.test_tips import LONG, alert_of, pay, statuses

pytestmark = needs_chromium


async def test_overlay_shows_alerts_one_at_a_time_in_the_hubs_order_and_acks_each(
        hub_factory, event, owner_conn):
    org, ev = event
    room = f"event:{ev}"
    await owner_conn.execute("UPDATE organizations SET tip_priority_cents = 5000 WHERE id = $1",
                             org)
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        obs = await open_page(await browser.new_context(), link["url"])
        await obs.page.locator("#status.on").wait_for(timeout=10_000)
        seen: list[str] = []
        await obs.page.expose_function("__seen", lambda text: seen.append(text))
        await obs.page.evaluate("""() => new MutationObserver(() => {
            const a = document.querySelector('#alert');
            if (a && !a.hidden && a.querySelector('.who')) window.__seen(a.innerText);
          }).observe(document.querySelector('#alert'), {childList: true, subtree: true,
                                                          attributes: true})""")
        small = alert_of(await pay(hub, room, 300, "Ann"))  # showing at once
        await obs.page.locator("#alert", has_text="Ann tipped!").wait_for(timeout=10_000)
        medium = alert_of(await pay(hub, room, 800, "Bo"))  # waits
        big = alert_of(await pay(hub, room, 9000, "Cy"))  # waits, priority lane: before Bo
        for alert in (small, big, medium):
            await until(lambda a=alert: _acked(owner_conn, ev, a), timeout=20)
        await asyncio.sleep(0.5)
        order = [s.split("tipped!")[0].split("\n")[-1].strip() for s in seen]
        deduped = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
        assert deduped == ["Ann", "Cy", "Bo"], seen
        obs.assert_clean()


async def _acked(owner_conn, ev, alert: str) -> bool:
    return (await statuses(owner_conn, ev)).get(alert) == "acked"


async def test_an_unknown_secret_gets_an_empty_transparent_page(hub_factory, event):
    _, ev = event
    hub = hub_factory(db=True)
    await new_link(hub, ev)  # the event has a secret; it is not this one
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        resp = await page.goto(f"{hub.url}/overlay/not-the-secret")
        assert resp is not None and resp.status == 200
        await asyncio.sleep(1.5)
        assert sockets == []  # nothing to connect to: no event in the page's config
        assert await page.evaluate("document.querySelector('#app').children.length") == 0
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == \
            "rgba(0, 0, 0, 0)"


COUNT_TONES = """
  window.__tones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones++;
    return start.apply(this, args);
  };
"""


async def test_the_chime_plays_only_with_sound_1_in_the_link(hub_factory, event):
    """Silent by default (OBS mixes the stream's own audio); ``?sound=1`` adds a WebAudio
    chime per alert, with no audio files."""
    _, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        context = await browser.new_context()
        await context.add_init_script(COUNT_TONES)
        quiet = await open_page(context, link["url"])
        loud = await open_page(context, f"{link['url']}?sound=1")
        for w in (quiet, loud):
            await w.page.locator("#status.on").wait_for(timeout=10_000)
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        await pay(hub, f"event:{ev}", 500, "Dee")
        for w in (quiet, loud):
            await w.page.locator("#alert", has_text="Dee tipped!").wait_for(timeout=10_000)
        await until(lambda: _tones(loud.page, lambda n: n > 0))
        assert await quiet.page.evaluate("window.__tones") == 0
        assert requests == []  # no sound files (nor anything else) fetched
        for w in (quiet, loud):
            w.assert_clean()


async def _tones(page, check) -> bool:
    return bool(check(await page.evaluate("window.__tones")))
