"""Moderation from the DJ dashboard reaches the room: a deleted message and a ban arrive on
a viewer's socket, a held message is approved into the chat, slow mode is set, and a
declined request's reason reaches its fan (real Chromium, hub, Redis and Postgres)."""

from __future__ import annotations

import time
import uuid

from hub.auth import mint_token
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_dj_requests import open_dashboard, row, wait_titles
from tests.support.client import Client
from tests.support.hubproc import SECRET
from tests.support.members import staff_token

pytestmark = needs_chromium


async def viewer(hub, org, ev, sub: str, name: str) -> Client:
    client = await Client.open(hub.ws_url, mint_token(SECRET, sub=sub, org=str(org),
                                                      roles=["viewer"], name=name))
    await client.subscribe(f"event:{ev}")
    return client


async def say(client: Client, room: str, text: str) -> dict:
    await client.send({"type": "chat", "room": room, "text": text,
                       "client_msg_id": str(uuid.uuid4())})
    return await client.recv("chat_sent")


async def test_delete_and_ban_from_the_dashboard_reach_a_viewers_socket(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    troll, watcher = (await viewer(hub, org, ev, "troll", "Trolly"),
                      await viewer(hub, org, ev, "watcher", "Wat"))
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-m", "dj"))
        sent = await say(troll, room, "buy followers at spam.example")
        line = page.locator("#chat-log li", has_text="buy followers")
        await line.wait_for(timeout=10_000)
        assert "Trolly" in await line.inner_text()

        await line.get_by_role("button", name="Delete message from Trolly").click()
        removed = await watcher.next_event("chat_removed")
        assert removed["message_id"] == sent["message_id"]
        await line.wait_for(state="detached")

        await say(troll, room, "you can't stop me")
        line = page.locator("#chat-log li", has_text="can't stop me")
        await line.get_by_role("button", name="Ban Trolly").click()
        dialog = page.locator("#sanction-dialog")
        await dialog.get_by_label("For how long").select_option("240")
        await dialog.get_by_label("Reason").fill("spam")
        await dialog.get_by_role("button", name="Ban").click()
        sanction = await watcher.next_event("sanction")
        assert sanction["user"] == "troll" and sanction["kind"] == "ban"
        assert 230 * 60_000 < sanction["until"] - time.time() * 1000 <= 240 * 60_000
        await page.locator("#chat-log li.system", has_text="Trolly was banned for 240 min"
                           ).wait_for(timeout=10_000)
        refused = await troll.call(room, "requests.submit", {"title": "x"}, expect_error=True)
        assert refused["code"] == 4422

        # A mis-tapped ban is undone: Lift on the list of muted and banned users.
        listed = page.locator("#sanctioned li", has_text="Trolly")
        assert "banned" in await listed.inner_text()
        await listed.get_by_role("button", name="Lift ban for Trolly").click()
        lifted = await watcher.next_event("sanction")
        assert lifted["user"] == "troll" and lifted["kind"] == "lift"
        await page.locator("#chat-log li.system", has_text="Trolly can chat again"
                           ).wait_for(timeout=10_000)
        await page.locator("#sanctioned-box").wait_for(state="hidden")
        assert await page.get_by_role("button", name="Lift ban for Trolly").count() == 0
        assert (await say(troll, room, "sorry, I'll behave"))["status"] == "visible"

        # Slow mode reaches the room too.
        await page.locator("#slow-mode").select_option("30")
        assert (await watcher.next_event("chat_settings"))["slow_mode_seconds"] == 30
        # A value set elsewhere that the list lacks is shown, not a blank select.
        admin = await Client.open(hub.ws_url, await staff_token(hub, org, "admin-s", "admin"))
        await admin.subscribe(room)
        await admin.call(room, "moderation.slow_mode", {"seconds": 20})
        slow = page.locator("#slow-mode")
        for _ in range(100):
            if await slow.input_value() == "20":
                break
            await page.wait_for_timeout(50)
        assert await slow.input_value() == "20"
        assert await slow.locator("option:checked").inner_text() == "20 s"
        await admin.close()
        assert page.errors == []
    await troll.close()
    await watcher.close()


async def test_a_held_message_is_approved_into_the_chat(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    fan, watcher = (await viewer(hub, org, ev, "fan-h", "Hana"),
                    await viewer(hub, org, ev, "watcher", "Wat"))
    admin = await Client.open(hub.ws_url, await staff_token(hub, org, "admin-w", "admin"))
    await admin.subscribe(room)
    await admin.call(room, "moderation.blocked_words", {"words": ["cheese"], "action": "hold"})
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-h", "dj"))
        # A DJ is told who sets blocked words instead of getting a control that fails.
        assert "moderators and admins" in await page.locator("#blocked-dj").inner_text()
        assert (await say(fan, room, "I love cheese"))["status"] == "held"
        assert await page.locator("#held-count-top").is_hidden()
        await page.locator("#held-refresh").click()
        # A badge by the Chat title says a message waits.
        await page.locator("#held-count-top", has_text="1 held").wait_for(timeout=10_000)
        held = page.locator("#held li", has_text="I love cheese")
        await held.wait_for(timeout=10_000)
        await held.get_by_role("button", name="Approve").click()
        chat = await watcher.next_event("chat")
        assert chat["text"] == "I love cheese"
        await page.locator("#chat-log li", has_text="I love cheese").wait_for(timeout=10_000)
        await held.wait_for(state="detached")
        await page.locator("#held-count-top").wait_for(state="hidden")
        assert page.errors == []
    for client in (fan, watcher, admin):
        await client.close()


async def test_a_declined_requests_reason_reaches_its_fan(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True)
    fan = await viewer(hub, org, ev, "fan-d", "Dee")
    await fan.call(room, "requests.submit", {"title": "Baby Shark", "artist": "Pinkfong"})
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-d", "dj"))
        await wait_titles(page, ["Baby Shark"])
        await row(page, "Baby Shark").get_by_role("button", name="Decline").click()
        dialog = page.locator("#decline-dialog")
        await dialog.get_by_label("Your own words").fill("Not at a wedding, sorry")
        await dialog.get_by_role("button", name="Decline").click()
        await wait_titles(page, [])
        mine = (await fan.call(room, "requests.mine"))["requests"][0]["request"]
        assert mine["status"] == "declined"
        assert mine["decline_reason"] == "Not at a wedding, sorry"
        assert page.errors == []
    await fan.close()
