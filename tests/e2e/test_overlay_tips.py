"""The overlay page end to end: a fan tips on the viewer page through (fake) Stripe
Checkout, the signed webhook lands, the OBS overlay shows the alert and moves the goal
bar, acks it, and a rotated link blanks the old overlay for good."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import open_page, until, viewer
from tests.integration.test_overlay_secret import new_link
from tests.integration.test_stripe import deliver, enable
from tests.integration.test_tips import LONG, statuses
from tests.support.client import token
from tests.support.fake_stripe import FakeStripe

pytestmark = needs_chromium


async def test_a_paid_tip_shows_on_the_overlay_moves_the_goal_and_rotation_blanks_it(
        hub_factory: Any, event: Any, owner_conn: Any, stripe_fake: FakeStripe) -> None:
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG, **stripe_fake.env())
    await enable(owner_conn, stripe_fake, org)
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 10000 WHERE id = $1", ev)
    link = await new_link(hub, ev)
    async with chromium() as browser:
        obs_context = await browser.new_context(viewport={"width": 1280, "height": 720})
        obs = await open_page(obs_context, link["url"])
        sockets: list[str] = []
        obs.page.on("websocket", lambda ws: sockets.append(ws.url))
        await obs.page.locator("#status.on").wait_for(timeout=10_000)
        goal = obs.page.locator("#goal")
        await goal.locator(".goal-text", has_text="$0 of $100").wait_for(timeout=10_000)
        # Transparent: OBS composites the page over the stream.
        assert await obs.page.evaluate(
            "[getComputedStyle(document.documentElement).backgroundColor,"
            " getComputedStyle(document.body).backgroundColor]") == ["rgba(0, 0, 0, 0)"] * 2
        # ...and nothing paints the canvas either (a dark color-scheme on the root would):
        # away from the goal bar and the dot, the pixels are fully transparent.
        shot = Image.open(io.BytesIO(await obs.page.screenshot(omit_background=True)))
        assert shot.mode == "RGBA"
        assert {shot.getpixel((x, y))[3] for x in (5, 640, 1200) for y in (60, 400)} == {0}

        # The fan tips $10 on the viewer page; "Stripe" sends them straight back.
        fan = await viewer(await browser.new_context(), hub, ev, token(org, sub="fan-7"))

        async def checkout_page(route: Any) -> None:
            session = stripe_fake.calls_to("/v1/checkout/sessions")[-1].params
            await route.fulfill(status=303, headers={"Location": session["success_url"]})
        await fan.page.route("https://checkout.stripe.test/**", checkout_page)
        await fan.page.fill("#tip-custom", "7.50")
        assert await fan.page.locator("#tip button.tip-go").inner_text() == "Tip $7.50"
        await fan.page.click("#tip button.preset:has-text('$10')")  # clears the custom amount
        assert await fan.page.locator("#tip button.tip-go").inner_text() == "Tip $10.00"
        await fan.page.fill("#tip-name", "Dee")
        await fan.page.fill("#tip-message", "play it loud")
        await fan.page.click("#tip button.tip-go")
        await fan.page.locator("#banner", has_text="Thank you for the tip").wait_for(timeout=15_000)
        assert "paid=" not in fan.page.url  # the marker is removed from the address bar
        [call] = stripe_fake.calls_to("/v1/checkout/sessions")
        assert call.params["line_items"][0]["price_data"]["unit_amount"] == "1000"
        assert call.params["cancel_url"].endswith(f"/e/{ev}?cancelled=tip")
        assert await obs.page.locator("#alert").is_hidden()  # nothing before the payment

        # The signed webhook: the alert shows, then the goal bar moves.
        [session_id] = stripe_fake.sessions
        answer = await deliver(hub, stripe_fake.completed(session_id))
        assert answer.status_code == 200, answer.text
        alert = obs.page.locator("#alert")
        await alert.locator(".amount", has_text="$10.00").wait_for(timeout=10_000)
        assert "Dee tipped!" in await alert.inner_text()
        assert "play it loud" in await alert.inner_text()
        await goal.locator(".goal-text", has_text="$10 of $100").wait_for(timeout=10_000)
        await until(lambda: _fill_is(obs.page, "10%"))
        # Shown for a few seconds, then acked back to the hub and taken down.
        [alert_id] = (await statuses(owner_conn, ev)).keys()
        await until(lambda: _status_is(owner_conn, ev, alert_id, "acked"), timeout=15)
        await alert.wait_for(state="hidden", timeout=5_000)

        # Rotating the link blanks the old page at once, with no reconnect loop.
        await new_link(hub, ev)
        await until(lambda: _blank(obs.page), timeout=10)
        sockets.clear()
        await asyncio.sleep(3)
        assert sockets == [] and await _blank(obs.page)
        obs.assert_clean()
        fan.assert_clean()


async def _fill_is(page: Any, width: str) -> bool:
    return bool(await page.evaluate(
        "(w) => document.querySelector('#goal .fill').style.width === w", width))


async def _status_is(owner_conn: Any, ev: Any, alert_id: str, status: str) -> bool:
    return (await statuses(owner_conn, ev)).get(alert_id) == status


async def _blank(page: Any) -> bool:
    """Nothing left that could paint: no elements in the body, transparent background."""
    return bool(await page.evaluate(
        "() => document.body.children.length === 0"
        " && getComputedStyle(document.body).backgroundColor === 'rgba(0, 0, 0, 0)'"))
