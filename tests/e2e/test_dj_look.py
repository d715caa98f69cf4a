"""The DJ dashboard on a busy night, at desktop and phone sizes: axe-core finds no serious
or critical violations, nothing scrolls sideways at 390 px, and screenshots are written
for a person to look at (real Chromium, hub, Redis and Postgres)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg

from hub.auth import mint_token
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.checks import (
    DESKTOP,
    PHONE,
    audit_context,
    axe_violations,
    shoot,
    sideways_overflow,
)
from tests.e2e.test_dj_requests import wait_titles
from tests.support.client import Client, api_call
from tests.support.hubproc import SECRET, HubProcess
from tests.support.ledger import ledger_row
from tests.support.members import staff_token

pytestmark = needs_chromium


def plain(field: str) -> str:
    """Friendly sample text per field (the hostile test passes script instead)."""
    return {"title": "Mr. Brightside", "artist": "The Killers", "note": "For Sam's birthday!",
            "name": "Priya", "singer": "Jo", "song": "Dancing Queen", "chat": "This set is fire",
            "from_name": "Marco", "message": "Play something by Robyn next"}.get(field, field)


async def fill_night(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID,
                     mark: Callable[[str], str] = plain) -> list[Client]:
    """Requests, a karaoke signup, chat and a paid tip whose user text is ``mark(field)``;
    returns the fans' open sockets (close them after)."""
    room = f"event:{ev}"
    fans = []
    for n, field in enumerate(("name", "name2")):
        tok = mint_token(SECRET, sub=f"fan-{n}", org=str(org), roles=["viewer"],
                         name=mark(field) if n == 0 else "Lee")
        fan = await Client.open(hub.ws_url, tok)
        await fan.subscribe(room)
        fans.append(fan)
    await fans[0].call(room, "requests.submit", {"title": mark("title"), "artist": mark("artist"),
                                                 "note": mark("note")})
    await fans[1].call(room, "requests.submit", {"title": "Dreams", "artist": "Fleetwood Mac"})
    await fans[0].call(room, "karaoke.signup", {"singer": mark("singer"), "song": mark("song")})
    await fans[1].call(room, "karaoke.signup", {"singer": "Lee", "song": "Valerie"})
    await fans[0].send({"type": "chat", "room": room, "text": mark("chat"),
                        "client_msg_id": str(uuid.uuid4())})
    assert (await fans[0].recv("chat_sent"))["status"] == "visible"
    await pay_tip(hub, ev, 1500, mark("from_name"), mark("message"))
    return fans


async def pay_tip(hub: HubProcess, ev: uuid.UUID, cents: int, name: str, message: str) -> None:
    """A tip paid as the server confirms one (ledger row first)."""
    room, tip = f"event:{ev}", uuid.uuid4()
    await ledger_row(hub, room, "tip", tip, cents, f"pi_{tip.hex}")
    resp = await api_call(hub.url, room, "tips.paid", {
        "tip_id": str(tip), "amount_cents": cents, "payment_id": f"pi_{tip.hex}",
        "platform_fee_cents": cents // 10, "from_name": name, "message": message})
    assert resp.status_code == 200, resp.text


async def test_busy_night_passes_axe_fits_a_phone_and_is_photographed(
        hub_factory, event, owner_conn: asyncpg.Connection):
    org, ev = event
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 5000 WHERE id = $1", ev)
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT="120")
    fans = await fill_night(hub, org, ev)
    dj_token = await staff_token(hub, org, "dj-look", "dj")
    async with chromium() as browser:
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            ctx = await audit_context(browser, viewport)
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            await page.goto(f"{hub.url}/dj/{ev}#token={dj_token}")
            assert "#token" not in page.url and "token=" not in page.url  # stripped at once
            await wait_titles(page, ["Mr. Brightside", "Dreams"])
            await page.locator("#tip-feed li", has_text="Marco").wait_for(timeout=10_000)
            await page.locator("#money-gross", has_text="$15.00").wait_for(timeout=10_000)
            await page.locator("#chat-log li", has_text="This set is fire").wait_for()
            assert "$15.00 of $50.00" in await page.locator("#goal-text").inner_text()
            assert "Priya" in await page.locator("#queue").inner_text()
            assert await sideways_overflow(page) == 0, name
            # One page scroll: no column with a scroll area of its own that cuts off Karaoke.
            assert await page.evaluate("""[...document.querySelectorAll('.col')]
                .filter(c => c.scrollHeight > c.clientHeight + 1).length""") == 0, name
            await page.get_by_role("button", name="Next singer").scroll_into_view_if_needed()
            assert await page.get_by_role("button", name="Next singer").is_visible()
            await page.evaluate("window.scrollTo(0, 0)")
            # A disabled button reads as off, not as a dimmed accent button (streaming is not
            # set up on this hub, so Start camera is off).
            looks = await page.evaluate("""['#start-camera', '#queue li button[data-act=accept]']
                .map(s => getComputedStyle(document.querySelector(s)).backgroundColor)""")
            assert await page.locator("#start-camera").is_disabled()
            assert looks[0] != looks[1], looks
            assert await axe_violations(page) == [], name
            await shoot(page, f"dj-{name}")
            # The decline dialog, too (opened over the page).
            await page.locator("#queue li").first.get_by_role("button", name="Decline").click()
            await page.locator("#decline-dialog").wait_for()
            assert await axe_violations(page) == [], f"{name} dialog"
            await shoot(page, f"dj-{name}-decline")
            if name == "phone":  # a tip while the dashboard is open: feed, goal, money
                await pay_tip(hub, ev, 1200, "Nia", "Encore!")
                await page.locator("#tip-feed li", has_text="Encore!").wait_for(timeout=10_000)
                assert (await page.locator("#tip-feed li").first.inner_text()).startswith(
                    "$12.00")  # newest first
                await page.locator("#goal-text", has_text="$27.00 of $50.00").wait_for()
                await page.locator("#money-gross", has_text="$27.00").wait_for(timeout=10_000)
                await page.locator(".toast", has_text="$12.00 tip from Nia").wait_for()
            assert errors == []
            await ctx.close()
    for fan in fans:
        await fan.close()
