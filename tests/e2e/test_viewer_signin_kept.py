"""The viewer keeps a fan signed in where a browser drops the page: a reload (or a phone
discarding the tab) and the Back button on Stripe Checkout. A crafted ``?paid=`` link
thanks nobody, a refused subscription says so, and links from the server are checked
before the page follows them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import Watched, connected, open_page, viewer
from tests.integration.test_stripe import enable
from tests.support.client import token
from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_stripe import FakeStripe

pytestmark = needs_chromium


async def private(owner_conn: Any, ev: uuid.UUID) -> None:
    """A private event: without a token the page asks for an invitation."""
    await owner_conn.execute("UPDATE events SET visibility = 'private' WHERE id = $1", ev)


async def test_a_reload_keeps_the_fan_signed_in_and_the_token_out_of_the_address_bar(
        hub_factory: Any, event: Any, owner_conn: Any) -> None:
    org, ev = event
    await private(owner_conn, ev)
    hub = hub_factory(db=True)
    async with chromium() as browser:
        context = await browser.new_context()
        w = await viewer(context, hub, ev, token(org, sub="fan-r"))
        assert "#" not in w.page.url and "token" not in w.page.url
        await w.page.reload()
        await connected(w.page)
        assert await w.page.locator("text=Invitation needed").count() == 0
        assert await w.page.locator("#chat-text").is_enabled()
        # Another tab of the same browser has no such memory: the sign-in is per tab.
        other = await open_page(context, f"{hub.url}/e/{ev}")
        await other.page.locator("text=Invitation needed").wait_for(timeout=10_000)
        w.assert_clean()


async def test_back_from_checkout_keeps_the_fan_signed_in_with_no_thanks(
        hub_factory: Any, event: Any, owner_conn: Any, stripe_fake: FakeStripe) -> None:
    org, ev = event
    await private(owner_conn, ev)
    await enable(owner_conn, stripe_fake, org)
    hub = hub_factory(db=True, **stripe_fake.env())
    async with chromium() as browser:
        context = await browser.new_context()
        w = await viewer(context, hub, ev, token(org, sub="fan-b"))
        # The fan only looks at Checkout, then presses the browser's Back button.
        await w.page.route("https://checkout.stripe.test/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="<title>Checkout</title>Pay here"))
        await w.page.click("#tip button.tip-go")
        await w.page.wait_for_url("https://checkout.stripe.test/**", timeout=15_000)
        await w.page.go_back()
        await connected(w.page)
        assert await w.page.locator("text=Invitation needed").count() == 0
        assert await w.page.locator("text=Thank you").count() == 0
        # ...and the page is still usable after a further reload (the stash was used once,
        # the remembered sign-in carries on).
        await w.page.reload()
        await connected(w.page)
        w.assert_clean()


async def test_a_crafted_paid_link_thanks_nobody(hub_factory: Any, event: Any) -> None:
    org, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        context = await browser.new_context()
        w = await open_page(context, f"{hub.url}/e/{ev}?paid=tip#token={token(org, sub='fan-c')}")
        await connected(w.page)
        await asyncio.sleep(0.5)
        assert await w.page.locator("text=Thank you").count() == 0
        assert "paid=" not in w.page.url
        w.assert_clean()


async def test_a_token_for_another_event_is_refused_plainly_and_not_remembered(
        hub_factory: Any, event: Any) -> None:
    _, ev = event
    hub = hub_factory(db=True)
    stranger = token(uuid.uuid4(), sub="fan-x")  # another organization's token
    async with chromium() as browser:
        w = await open_page(await browser.new_context(), f"{hub.url}/e/{ev}#token={stranger}")
        banner = w.page.locator("#banner.error")
        await banner.wait_for(timeout=15_000)
        text = await banner.inner_text()
        assert "link" in text or "could not be found" in text, text
        assert await w.page.locator("#chat-text").is_disabled()
        assert await w.page.locator("#connection").is_hidden()  # no "Connected" on a refusal
        assert await w.page.evaluate(f"sessionStorage.getItem('livehub:credential:e:{ev}')") is None
        w.assert_clean()


async def test_links_from_the_server_are_checked_before_use(
        hub_factory: Any, event: Any, owner_conn: Any, stripe_fake: FakeStripe) -> None:
    """A checkout URL that isn't https (http only on a plain-http page) is not followed."""
    org, ev = event
    await enable(owner_conn, stripe_fake, org)
    hub = hub_factory(db=True, **stripe_fake.env())
    async with chromium() as browser:
        w = await viewer(await browser.new_context(), hub, ev, token(org, sub="fan-u"))
        await w.page.route("**/checkout", lambda route: route.fulfill(
            status=200, content_type="application/json",
            body='{"checkout_url": "javascript:window.__pwned=1", "session_id": "cs_1"}'))
        await w.page.click("#tip button.tip-go")
        await w.page.locator("#tip .note", has_text="could not be opened").wait_for(timeout=10_000)
        assert await w.page.evaluate("typeof window.__pwned") == "undefined"
        assert w.page.url.startswith(hub.url)
        w.assert_clean()


async def test_a_livekit_url_that_is_not_wss_or_https_is_not_used(
        hub_factory: Any, event: Any, livekit: FakeLiveKit) -> None:
    org, ev = event
    hub = hub_factory(db=True, **livekit.env())
    async with chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        w = Watched(page)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.route("**/livekit-token", lambda route: route.fulfill(
            status=200, content_type="application/json",
            body='{"url": "file:///etc/passwd", "token": "x.y.z"}'))
        await page.goto(f"{hub.url}/e/{ev}#token={token(org, sub='fan-l')}")
        await page.locator(".player .placeholder", has_text="video isn't available").wait_for(
            timeout=15_000)
        assert [url for url in sockets if "/rtc" in url] == []  # livekit-client never ran
        w.assert_clean()
