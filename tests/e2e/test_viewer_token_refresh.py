"""The viewer page renews its token before it expires (POST /api/tokens/refresh with the
token it holds in memory) and stays connected."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import jwt_claims, send_chat, viewer
from tests.support.client import token

pytestmark = needs_chromium


async def test_the_page_refreshes_its_token_before_expiry_and_keeps_chatting(
        hub_factory: Any, event: Any) -> None:
    org, ev = event
    hub = hub_factory(db=True)
    short = token(org, sub="ann", ttl=20)  # a short token is renewed halfway: in ~10 s
    async with chromium() as browser:
        context = await browser.new_context()
        refreshes: list[Any] = []
        context.on("response", lambda r: refreshes.append(r)
                   if r.url.endswith("/api/tokens/refresh") else None)
        w = await viewer(context, hub, ev, short)
        await w.page.wait_for_event("response", lambda r: r.url.endswith("/api/tokens/refresh"),
                                    timeout=30_000)
        [answer] = refreshes
        assert answer.status == 200 and answer.request.method == "POST"
        assert answer.request.headers["authorization"] == f"Bearer {short}"
        fresh = jwt_claims((await answer.json())["token"])
        assert fresh["sub"] == "ann" and fresh["exp"] > jwt_claims(short)["exp"]
        await send_chat(w.page, "still here")
        await w.page.locator("#chat li.msg:not(.pending)", has_text="still here").wait_for(
            timeout=10_000)
        assert await w.page.locator("#connection", has_text="Connected").count() == 1
        w.assert_clean()
