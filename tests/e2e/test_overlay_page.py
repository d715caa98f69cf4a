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


async def _dot(page) -> tuple[str, str]:
    """The status dot's state class and its painted opacity."""
    return tuple(await page.evaluate(
        "() => { const d = document.querySelector('#status');"
        " return [d.className, getComputedStyle(d).opacity]; }"))


async def test_the_dot_paints_only_while_disconnected_and_never_with_dot_0(hub_factory, event):
    """On air all night, a green dot is a blemish: connected, it paints nothing; while the
    hub is away it shows amber, so the streamer sees why alerts stopped. ``?dot=0``: never."""
    _, ev = event
    hub = hub_factory(db=True)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        context = await browser.new_context()
        plain = await open_page(context, link["url"])
        hidden = await open_page(context, f"{link['url']}?dot=0")
        for w in (plain, hidden):
            await w.page.locator("#status.on").wait_for(state="attached", timeout=10_000)
            assert await _dot(w.page) == ("dot on", "0")
        restart = asyncio.create_task(asyncio.to_thread(hub.restart, down_seconds=3))
        await plain.page.locator("#status.wait").wait_for(state="attached", timeout=10_000)
        assert await _dot(plain.page) == ("dot wait", "1")
        assert (await _dot(hidden.page))[1] == "0"
        await restart
        await plain.page.locator("#status.on").wait_for(state="attached", timeout=20_000)
        assert await _dot(plain.page) == ("dot on", "0")
        for w in (plain, hidden):
            w.assert_clean()


async def test_a_dead_link_stays_blank_on_air_but_says_why_in_the_console(hub_factory, event):
    _, ev = event
    hub = hub_factory(db=True)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        context = await browser.new_context()
        unknown = await context.new_page()
        notes: list[str] = []
        unknown.on("console", lambda m: notes.append(m.text) if m.type == "warning" else None)
        await unknown.goto(f"{hub.url}/overlay/not-the-secret")
        await until(lambda: _said(notes, "not valid"))
        assert await unknown.evaluate("document.querySelector('#app').children.length") == 0

        rotated = await open_page(context, link["url"])
        said: list[str] = []
        rotated.page.on("console", lambda m: said.append(m.text) if m.type == "warning" else None)
        await rotated.page.locator("#status.on").wait_for(state="attached", timeout=10_000)
        await new_link(hub, ev)
        await until(lambda: _said(said, "replaced"))
        assert await rotated.page.evaluate("document.body.children.length") == 0


async def _said(notes: list[str], words: str) -> bool:
    return any(words in n for n in notes)
