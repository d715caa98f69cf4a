"""The viewer's player: livekit-client is handed the hub's LiveKit URL and a viewer-grant
token for the event's room; pay-per-view shows a pay button first, and after paying
(fake Stripe, signed webhook) the player starts. No LiveKit server runs here: the page
must then say calmly that the stream is unavailable, never dump an error."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.checks import shoot
from tests.e2e.viewer_support import Watched, jwt_claims, viewer
from tests.integration.test_livekit import add_user
from tests.integration.test_stripe import deliver, enable
from tests.support.client import token
from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_stripe import FakeStripe

pytestmark = needs_chromium


def lk_sockets(page: Any) -> list[str]:
    """URLs of the websockets the page opens to LiveKit (its signal connection)."""
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url) if "/rtc" in ws.url else None)
    return urls


async def first(urls: list[str], timeout: float = 15.0) -> str:
    for _ in range(int(timeout * 10)):
        if urls:
            return urls[0]
        await asyncio.sleep(0.1)
    raise AssertionError("livekit-client opened no websocket")


def assert_viewer_grant(url: str, livekit: FakeLiveKit, ev: Any, sub: str) -> None:
    assert urlsplit(url).netloc == urlsplit(livekit.url).netloc  # the hub's LiveKit URL
    [jwt] = parse_qs(urlsplit(url).query)["access_token"]
    claims = jwt_claims(jwt)
    video = claims["video"]
    assert video["roomJoin"] is True and video["canSubscribe"] is True
    assert video["canPublish"] is False and not video.get("canPublishData")
    assert str(ev) in video["room"] and claims["sub"] == sub


async def test_the_player_gets_the_livekit_url_and_a_viewer_grant(
        hub_factory: Any, event: Any, livekit: FakeLiveKit) -> None:
    org, ev = event
    hub = hub_factory(db=True, **livekit.env())
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        w = Watched(await context.new_page())
        page = w.page
        urls = lk_sockets(page)
        await page.goto(f"{hub.url}/e/{ev}#token={token(org, sub='fan-1')}")
        assert_viewer_grant(await first(urls), livekit, ev, "fan-1")
        placeholder = page.locator(".player .placeholder")
        await placeholder.filter(has_text="isn't available right now").wait_for(timeout=15_000)
        text = await placeholder.inner_text()
        assert "Error" not in text and "1006" not in text and "undefined" not in text
        # Vertical video (9:16) on a phone: the frame takes the video's shape and fits the
        # screen whole. A canvas stream stands in for the performer's camera.
        await page.evaluate("""() => {
            const c = document.createElement('canvas'); c.width = 360; c.height = 640;
            const g = c.getContext('2d'); g.fillStyle = '#3a6'; g.fillRect(0, 0, 360, 640);
            document.querySelector('.player video').srcObject = c.captureStream(5);
        }""")
        await page.locator(".player.portrait").wait_for(timeout=10_000)
        box = await page.locator(".player").bounding_box()
        assert box is not None and box["height"] <= 844 * 0.8 and box["width"] <= 390
        assert abs(box["width"] / box["height"] - 9 / 16) < 0.02
        await shoot(page, "viewer-vertical-phone")
        w.assert_clean()


async def test_pay_per_view_shows_the_pay_button_first_then_plays_once_paid(
        hub_factory: Any, event: Any, livekit: FakeLiveKit, stripe_fake: FakeStripe,
        owner_conn: Any) -> None:
    org, ev = event
    hub = hub_factory(db=True, **livekit.env(), **stripe_fake.env())
    await enable(owner_conn, stripe_fake, org)
    await owner_conn.execute("UPDATE events SET ppv_price_cents = 500 WHERE id = $1", ev)
    user = await add_user(owner_conn)
    async with chromium() as browser:
        # Without a ticket link there is no guest form: the page explains how to get in.
        anon = await viewer(await browser.new_context(), hub, ev)
        await anon.page.locator("#ppv-info", has_text="ticket link").wait_for(timeout=10_000)
        assert await anon.page.locator("#guest-form").count() == 0

        fan = await viewer(await browser.new_context(), hub, ev, token(org, sub=str(user)))
        urls = lk_sockets(fan.page)
        pay = fan.page.locator("#ppv button.pay-go")
        await pay.wait_for(timeout=10_000)
        assert "$5.00" in await pay.inner_text()
        assert urls == []  # no player before paying

        async def checkout_page(route: Any) -> None:
            session = stripe_fake.calls_to("/v1/checkout/sessions")[-1].params
            await route.fulfill(status=303, headers={"Location": session["success_url"]})
        await fan.page.route("https://checkout.stripe.test/**", checkout_page)
        await pay.click()
        await fan.page.locator("#banner", has_text="payment is being confirmed").wait_for(
            timeout=15_000)
        [call] = stripe_fake.calls_to("/v1/checkout/sessions")
        assert call.params["metadata"]["kind"] == "ppv"
        assert "paid=" not in fan.page.url and "token=" not in fan.page.url
        # Still signed in after the round trip: the token came back from this tab's storage.
        await fan.page.locator("#connection", has_text="Connected").wait_for(timeout=10_000)
        # The Checkout stash is used up; only this tab's remembered sign-in stays.
        assert await fan.page.evaluate("Object.keys(sessionStorage)") == [
            f"livehub:credential:e:{ev}"]

        [session_id] = stripe_fake.sessions
        answer = await deliver(hub, stripe_fake.completed(session_id))
        assert answer.status_code == 200, answer.text
        assert_viewer_grant(await first(urls, timeout=40), livekit, ev, str(user))
        fan.assert_clean()
