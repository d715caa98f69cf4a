"""The viewer page across a hub restart: it reconnects by itself, shows what was said
while it was away, shows nothing twice, and delivers a message typed offline once."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import chat_texts, send_chat, until, viewer
from tests.support.client import Client, token

pytestmark = needs_chromium


async def chat(client: Client, room: str, text: str) -> None:
    await client.send({"type": "chat", "room": room, "text": text, "id": 1})
    assert (await client.recv("chat_sent"))["status"] == "visible"


async def test_the_page_rides_out_a_hub_restart_without_losing_or_repeating_chat(
        hub_factory: Any, event: Any, owner_conn: Any) -> None:
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    async with chromium() as browser:
        ann = await viewer(await browser.new_context(), hub, ev, token(org, sub="ann"))
        bo = await viewer(await browser.new_context(), hub, ev, token(org, sub="bo"))
        mc = await Client.open(hub.ws_url, token(org, sub="mc"))
        await mc.subscribe(room)
        await chat(mc, room, "before the break")
        for w in (ann, bo):
            await w.page.locator("#chat li.msg", has_text="before the break").wait_for(
                timeout=10_000)
        await mc.close()

        # Down for 3 s: both pages say so politely; Ann types anyway.
        restart = asyncio.create_task(asyncio.to_thread(hub.restart, down_seconds=3))
        for w in (ann, bo):
            await w.page.locator("#connection", has_text="Reconnecting").wait_for(timeout=10_000)
        banner = await ann.page.locator("#banner").inner_text()
        assert "1006" not in banner and "closed" not in banner.lower()
        assert not await ann.page.is_disabled("#chat-text")  # typing offline is allowed
        await send_chat(ann.page, "typed while offline")
        pending = ann.page.locator("#chat li.pending", has_text="typed while offline")
        assert "sending…" in await pending.inner_text()
        await restart

        # Said during the gap, before the pages are back.
        mc = await Client.open(hub.ws_url, token(org, sub="mc"))
        await mc.subscribe(room)
        await chat(mc, room, "during the gap")
        await chat(mc, room, "still in the gap")
        await mc.close()

        want = ["before the break", "during the gap", "still in the gap", "typed while offline"]
        for w in (ann, bo):
            await w.page.locator("#connection", has_text="Connected").wait_for(timeout=30_000)
            await until(lambda w=w: _same_set(w.page, want), timeout=15)
        await pending.wait_for(state="detached", timeout=10_000)
        await asyncio.sleep(1.5)  # a late duplicate would show up by now
        for w in (ann, bo):
            texts = await chat_texts(w.page)
            assert sorted(texts) == sorted(want), texts
            w.assert_clean()
        stored = await owner_conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE event_id = $1 AND body = $2",
            ev, "typed while offline")
        assert stored == 1


async def _same_set(page: Any, want: list[str]) -> bool:
    return sorted(await chat_texts(page)) == sorted(want)
