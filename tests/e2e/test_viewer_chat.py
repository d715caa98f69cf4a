"""Guests on the viewer page: join with a display name, chat, and see each other live."""

from __future__ import annotations

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import chat_texts, join_as_guest, send_chat, until

pytestmark = needs_chromium


async def test_a_guest_joins_with_a_name_and_chats_and_the_other_viewers_see_it(
        hub_factory, event):
    """Two guests join through the form; what one types shows on every page watching
    (a list, so a third page — the DJ dashboard — joins the same checks), once, with the
    sender's display name, and presence counts both."""
    _, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        # Separate contexts: separate people (no shared storage).
        ann = await join_as_guest(await browser.new_context(), hub, ev, "Ann")
        bo = await join_as_guest(await browser.new_context(), hub, ev, "Bo")
        assert "token=" not in ann.page.url  # the guest token stays in memory only
        watchers = [ann, bo]
        for w in watchers:
            await w.page.locator("#viewers", has_text="2 watching").wait_for(timeout=10_000)

        await send_chat(ann.page, "hello from the front row")
        for w in watchers:
            line = w.page.locator("#chat li.msg", has_text="hello from the front row")
            await line.wait_for(timeout=10_000)
            assert (await line.locator(".who").inner_text()) == "Ann"
        await send_chat(bo.page, "hi Ann")
        for w in watchers:
            await until(lambda w=w: _texts_are(w.page, ["hello from the front row", "hi Ann"]))
        # The input is cleared and ready for the next message; no internal ids on screen.
        assert await ann.page.input_value("#chat-text") == ""
        body = await bo.page.locator("body").inner_text()
        assert "guest:" not in body and str(ev) not in body
        for w in watchers:
            w.assert_clean()


async def _texts_are(page, expected: list[str]) -> bool:
    return await chat_texts(page) == expected
