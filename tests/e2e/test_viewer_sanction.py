"""A banned or muted viewer's page says they can no longer post (and until when) and
turns the chat input off — from the sanction room event, and from the hub's 4422."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import send_chat, viewer
from tests.support.client import Client, token
from tests.support.members import staff_token

pytestmark = needs_chromium


async def test_a_banned_viewer_is_told_and_their_input_is_off(
        hub_factory: Any, event: Any) -> None:
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    mod = await Client.open(hub.ws_url, await staff_token(hub, org, "mod-1", "moderator"))
    await mod.subscribe(room)
    # Muted before the page opens: the page learns it from the refusal of its first message.
    await mod.call(room, "moderation.mute", {"user": "quiet", "minutes": 10, "reason": "cool off"})
    async with chromium() as browser:
        troll = await viewer(await browser.new_context(), hub, ev, token(org, sub="troll"))
        quiet = await viewer(await browser.new_context(), hub, ev, token(org, sub="quiet"))
        other = await viewer(await browser.new_context(), hub, ev, token(org, sub="fine"))

        await mod.call(room, "moderation.ban", {"user": "troll", "minutes": 30, "reason": "spam"})
        note = troll.page.locator("#chat-note")
        await note.filter(has_text="can no longer post until").wait_for(timeout=10_000)
        assert await troll.page.is_disabled("#chat-text")
        assert await troll.page.is_disabled("#chat form button")
        assert "removed from the chat" in await note.inner_text()
        # A ban stops requests too (no calls at all), with the reason on the form.
        assert await troll.page.is_disabled("#requests form button")
        # Nobody else is affected.
        assert not await other.page.is_disabled("#chat-text")

        await send_chat(quiet.page, "can I talk?")
        refused = quiet.page.locator("#chat-note", has_text="can no longer post")
        await refused.wait_for(timeout=10_000)
        assert await quiet.page.is_disabled("#chat-text")
        assert "not sent" in await quiet.page.locator("#chat li.failed").inner_text()

        # Lifted: the input comes back.
        await mod.call(room, "moderation.lift", {"user": "troll"})
        await troll.page.wait_for_function(
            "() => !document.querySelector('#chat-text').disabled", timeout=10_000)
        for w in (troll, quiet, other):
            w.assert_clean()
    await mod.close()
