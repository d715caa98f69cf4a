"""The viewer and overlay pages at desktop and phone sizes: no serious or critical axe
violations, no sideways scrolling at 390 px, and screenshots for a person to look at."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.checks import (
    DESKTOP,
    PHONE,
    SHOTS,
    audit_context,
    axe_violations,
    shoot,
    sideways_overflow,
)
from tests.e2e.viewer_support import Watched, connected, send_chat
from tests.integration.test_overlay_secret import new_link
from tests.integration.test_tips import LONG, pay
from tests.support.client import Client, token

pytestmark = needs_chromium
SIZES = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


async def audited(page: Any, name: str, viewport: dict[str, int]) -> None:
    violations = await axe_violations(page)
    assert violations == [], violations
    if viewport == PHONE:
        assert await sideways_overflow(page) == 0
    await shoot(page, name)


async def covered(page: Any, selector: str) -> list[str]:
    """The elements matching ``selector`` that a visible toast overlaps on screen."""
    found: list[str] = await page.evaluate("""(selector) => {
      const boxes = [...document.querySelectorAll('.toast')].map((t) => t.getBoundingClientRect());
      const hit = (a, b) => a.left < b.right && b.left < a.right
        && a.top < b.bottom && b.top < a.bottom;
      return [...document.querySelectorAll(selector)].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight && boxes.some((b) => hit(b, r));
      }).map((e) => e.textContent);
    }""", selector)
    return found


@pytest.mark.parametrize("viewport", SIZES)
async def test_viewer_page_is_accessible_and_fits(
        hub_factory: Any, event: Any, owner_conn: Any, viewport: dict[str, int]) -> None:
    org, ev = event
    room = f"event:{ev}"
    size = "desktop" if viewport == DESKTOP else "phone"
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 20000 WHERE id = $1", ev)
    hub = hub_factory(db=True)
    async with chromium() as browser:
        context = await audit_context(browser, viewport)
        # Before sign-in: the guest form.
        w = Watched(await context.new_page())
        await w.page.goto(f"{hub.url}/e/{ev}")
        await w.page.locator("#guest-form").wait_for(timeout=10_000)
        await audited(w.page, f"viewer-guest-{size}", viewport)

        # Signed in, with a busy room: chat, requests (one declined), karaoke, tips.
        fan = await Client.open(hub.ws_url, token(org, sub="fan-2"))
        await fan.subscribe(room)
        await fan.call(room, "requests.submit", {"title": "Dancing Queen", "artist": "ABBA"})
        await fan.call(room, "karaoke.signup", {"singer": "Priya", "song": "Valerie"})
        await pay(hub, room, 2500, "Sam")
        page = await context.new_page()
        w = Watched(page)
        await page.goto(f"{hub.url}/e/{ev}#token={token(org, sub='ann')}")
        await connected(page)
        for text in ("Hi everyone!", "This set is amazing — a long message that has to wrap"
                     " neatly on a phone screen without pushing anything sideways."):
            await send_chat(page, text)
        await page.fill("#request-title", "Mr. Brightside")
        await page.click("#requests form button")
        await page.locator("#requests .mine-list li", has_text="in line").wait_for(timeout=10_000)
        await page.fill("#karaoke-singer", "Ann")
        await page.fill("#karaoke-song", "Africa")
        await page.click("#karaoke form button")
        await page.locator("#karaoke .mine-list li", has_text="Africa").wait_for(timeout=10_000)
        # The toasts this raised don't cover the form in use, nor the queue's vote buttons.
        await page.locator(".toast", has_text="signed up").wait_for(timeout=5_000)
        assert await covered(page, "#karaoke form button, #requests .queue .vote") == []
        await page.screenshot(path=str(SHOTS / f"viewer-toasts-{size}.png"))  # what the fan sees
        await page.locator("#tip .goal-text", has_text="$25 of $200").wait_for(timeout=10_000)
        await page.wait_for_timeout(600)  # toasts settle
        await audited(page, f"viewer-{size}", viewport)
        w.assert_clean()
        await fan.close()


@pytest.mark.parametrize("viewport", SIZES)
async def test_overlay_page_is_accessible_and_fits(
        hub_factory: Any, event: Any, owner_conn: Any, viewport: dict[str, int]) -> None:
    _, ev = event
    size = "desktop" if viewport == DESKTOP else "phone"
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 10000 WHERE id = $1", ev)
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        context = await audit_context(browser, viewport)
        w = Watched(await context.new_page())
        await w.page.emulate_media(reduced_motion="reduce")  # a still frame for the screenshot
        await w.page.goto(link["url"])
        await w.page.locator("#status.on").wait_for(timeout=10_000)
        await pay(hub, f"event:{ev}", 4200, "Ada Lovelace")
        await w.page.locator("#alert", has_text="Ada Lovelace tipped!").wait_for(timeout=10_000)
        await w.page.locator("#goal", has_text="$42 of $100").wait_for(timeout=10_000)
        await w.page.wait_for_timeout(600)
        await audited(w.page, f"overlay-{size}", viewport)
        w.assert_clean()
