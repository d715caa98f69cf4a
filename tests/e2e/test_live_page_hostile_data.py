"""Hostile room data on the live page: shown as text, never run (real Chromium, hub, DBs)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.support.client import Client, api_call, token
from tests.support.ledger import ledger_row
from tests.support.members import staff_token

pytestmark = needs_chromium

TITLE = "livehub · live room"


def xss(tag: str) -> str:
    """Markup that, if parsed, sets ``window.__pwned`` and the title; ``tag`` names the field.

    It opens with ``">`` to break out of an attribute, and stays under 60 characters so it
    fits the shortest user-controlled field (a karaoke singer's name).
    """
    return f"\"><img src=x onerror=__pwned=document.title='{tag}'>"


def xss_long(tag: str) -> str:
    """:func:`xss` plus a ``<script>`` block, for fields with room for both."""
    return f"{xss(tag)}<script>__pwned=document.title='{tag}-s'</script>"


async def publish_raw(client: Client, room: str, data: dict[str, Any]) -> bool:
    """Publish as a performer; True if the hub took it (it may refuse service-shaped data)."""
    await client.send({"type": "publish", "room": room, "data": data, "id": 1})
    while True:
        frame = await client.recv()
        if frame["type"] in {"published", "error"}:
            return frame["type"] == "published"


async def text_of(page: Any, selector: str, expected: str) -> str:
    """The element's text once it contains ``expected`` (bounded wait)."""
    locator = page.locator(selector).filter(has_text=expected).first
    await locator.wait_for(timeout=10_000)
    text: str = await locator.inner_text()
    return text


async def assert_nothing_ran(page: Any) -> None:
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await page.title() == TITLE
    # Data never becomes elements: no images or scripts inside what the page renders.
    assert await page.locator("main img, main script, #alert img, #alert script").count() == 0


async def test_script_in_every_rendered_field_is_shown_as_text_and_never_runs(
        hub_factory, event, tmp_path):
    """Script in user fields and in raw service-shaped data never runs on an admin's page."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT="120")  # the alert stays up to be read
    async with chromium() as browser:
        admin = await browser.new_page(viewport={"width": 1300, "height": 760})
        errors: list[str] = []
        admin.on("pageerror", lambda exc: errors.append(str(exc)))
        admin_token = await staff_token(hub, org, "Ada", "admin")
        await admin.goto(f"{hub.url}/live#token={admin_token}"
                         f"&room={room}")
        await admin.locator("#viewers", has_text="1 here").wait_for(timeout=10_000)  # subscribed

        # 1. Legitimate service calls whose fields are user-controlled.
        fan = await Client.open(hub.ws_url, token(org, sub=xss("requester")))
        await fan.call(room, "requests.submit",
                       {"title": xss_long("title"), "artist": xss_long("artist")})
        await fan.call(room, "karaoke.signup", {"singer": xss("singer"),
                                                "song": xss_long("song")})
        await fan.send({"type": "chat", "room": room, "text": xss_long("chat"),
                        "client_msg_id": str(uuid.uuid4())})
        assert (await fan.recv("chat_sent"))["status"] == "visible"
        xss_tip = uuid.uuid4()
        await ledger_row(hub, room, "tip", xss_tip, 700, "pi_xss")
        resp = await api_call(hub.url, room, "tips.paid", {
            "tip_id": str(xss_tip), "amount_cents": 700, "payment_id": "pi_xss",
            "from_name": xss("from_name"), "message": xss_long("message")})
        assert resp.status_code == 200, resp.text

        row = await text_of(admin, "#requests li", xss_long("title"))
        assert xss_long("artist") in row and f"by {xss('requester')}" in row
        assert xss_long("song") in await text_of(admin, "#karaoke li", xss("singer"))
        assert xss(
            "requester") in await text_of(admin, "#chat li", xss_long("chat"))
        alert = await text_of(admin, "#alert", xss_long("message"))
        assert "$7.00" in alert and xss("from_name") in alert
        await admin.screenshot(path=str(tmp_path / "live-user-fields.png"))
        await assert_nothing_ran(admin)

        # 2. Raw data shaped like service events, as a performer may publish it. The hub
        # may refuse these; whatever it lets through must still render as text.
        performer = await Client.open(hub.ws_url, await staff_token(hub, org, "perf", "performer"))
        big = 10**6  # newer than any real queue version, so the page applies it
        shown: list[tuple[str, str]] = []  # (selector, text) the page must show literally
        raw_requests = {
            "type": "requests", "op": "added", "version": big, "request": {},
            "now_playing": {"id": xss("np-id"), "title": xss_long("np-title"),
                            "artist": xss_long("np-artist")},
            "queue": [{"id": xss("r-id"), "title": xss_long("r-title"),
                       "artist": xss_long("r-artist"), "requester": xss_long("r-requester"),
                       "paid_cents": xss("r-paid"), "votes": xss("r-votes")}]}
        if await publish_raw(performer, room, raw_requests):
            shown += [("#now-playing", xss_long("np-title")),
                      ("#now-playing", xss_long("np-artist")),
                      ("#requests li", xss_long("r-title")), ("#requests li", xss("r-votes")),
                      ("#requests li", xss_long("r-requester"))]
        raw_karaoke = {
            "type": "karaoke", "version": big, "held": [], "settings": {},
            "now_singing": {"singer": xss("ns-singer"), "song": xss_long("ns-song")},
            "next_up": {"singer": xss("next-singer")},
            "queue": [{"signup_id": xss("k-id"), "singer": xss("k-singer"),
                       "song": xss_long("k-song"), "round": xss("k-round"),
                       "held": xss("k-held"), "wait_seconds": xss("k-wait")}]}
        if await publish_raw(performer, room, raw_karaoke):
            shown += [("#now-singing", xss("ns-singer")), ("#next-up", xss("next-singer")),
                      ("#karaoke li", xss_long("k-song")), ("#karaoke li", xss("k-round"))]
        if await publish_raw(performer, room, {"type": "chat", "user": xss("c-user"),
                                               "text": xss_long("c-text"),
                                               "message_id": xss("c-id")}):
            shown += [("#chat li", xss("c-user")), ("#chat li", xss_long("c-text"))]
        if await publish_raw(performer, room, {"type": "sanction", "user": xss("s-user"),
                                               "kind": xss("s-kind")}):
            shown += [("#chat li", f"{xss('s-user')}: {xss('s-kind')}")]
        await publish_raw(performer, room, {"type": "tips.goal", "paid_cents": xss("g-paid"),
                                            "goal_cents": xss("g-goal"), "version": big})
        if await publish_raw(performer, room, {
                "type": "tips.alert_show", "version": big,
                "alert": {"alert_id": xss("a-id"), "amount_cents": xss("a-amount"),
                          "from_name": xss("a-from"), "message": xss_long("a-message")}}):
            shown += [("#alert", xss("a-from")), ("#alert", xss_long("a-message"))]
        # An id that is no selector-safe string must not break the lookup (it matches nothing).
        await publish_raw(performer, room, {"type": "chat_removed", "message_id": xss("x-id")})
        # A chat message sent after all of them: once it shows, the rest were handled.
        await fan.send({"type": "chat", "room": room, "text": "end of hostile data",
                        "client_msg_id": str(uuid.uuid4())})
        await text_of(admin, "#chat li", "end of hostile data")
        await admin.screenshot(path=str(tmp_path / "live-hostile.png"))  # for a human to look at
        await assert_nothing_ran(admin)
        # Long unbroken strings wrap: no panel is pushed off the screen.
        for panel in ("#chat-panel", "#requests-panel", "#karaoke-panel"):
            box = await admin.locator(panel).bounding_box()
            assert box is not None and box["x"] + box["width"] <= 1300, (panel, box)
        for selector, expected in shown:
            assert expected in await text_of(admin, selector, expected)
        assert errors == []
        for client in (fan, performer):
            await client.close()
