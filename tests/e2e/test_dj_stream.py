"""Going live from the DJ dashboard, up to the handoff to LiveKit (no LiveKit server can run
here): the hub's fake RoomService gets the room, livekit-client is handed the hub's URL and
a publisher token whose grants match the DJ, the camera preview runs on a fake camera, and
without a camera or a video server the page says so calmly (real Chromium and hub)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt

from tests.e2e.browser import ARGS, CHROMIUM, chromium, needs_chromium
from tests.e2e.test_dj_requests import fan, open_dashboard, wait_titles
from tests.support.fake_livekit import FakeLiveKit, egress_webhook_body
from tests.support.members import staff_token

pytestmark = needs_chromium

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def grants_of(ws_url: str, fake: FakeLiveKit) -> dict[str, Any]:
    """The verified claims of the access token livekit-client put in its websocket URL."""
    access = parse_qs(urlparse(ws_url).query)["access_token"][0]
    claims: dict[str, Any] = jwt.decode(access, fake.secret, algorithms=["HS256"],
                                        issuer=fake.key)
    return claims


async def go_live_now(page: Any) -> list[str]:
    """Press "Go live" (the camera already on); the websocket URLs livekit-client opened."""
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url) if "/rtc" in ws.url else None)
    await page.get_by_role("button", name="Go live").click()
    for _ in range(200):
        if opened:
            break
        await asyncio.sleep(0.05)
    return opened


async def test_without_a_camera_nothing_goes_live(hub_factory, event, livekit: FakeLiveKit,
                                                 owner_conn):
    """Headless Chromium has no camera: the DJ reads why, and the event, the fans and the
    video service are left alone (no "The stream is live!" without video)."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    hub = hub_factory(db=True, **livekit.env())
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-live", "dj"))
        opened: list[str] = []
        page.on("websocket", lambda ws: opened.append(ws.url) if "/rtc" in ws.url else None)
        record_why = page.locator("#record-why")
        assert "once the event is live" in await record_why.inner_text()
        assert await page.get_by_role("button", name="Start recording").is_disabled()
        await page.get_by_role("button", name="Start camera").click()
        note = page.locator("#camera-note")
        await note.wait_for(state="visible", timeout=15_000)
        assert "camera" in (await note.inner_text()).lower()
        await page.locator("#stream-status", has_text="camera did not start").wait_for()
        assert await page.get_by_role("button", name="Go live").is_hidden()
        await page.wait_for_timeout(500)
        assert opened == []
        assert [c for c in livekit.calls if c.method == "CreateRoom"] == []
        status = await owner_conn.fetchval("SELECT status FROM events WHERE id = $1", ev)
        assert status == "scheduled"
        assert await page.locator("#event-status").inner_text() == "Not started"
        assert page.errors == []


async def test_a_fake_camera_previews_and_switches_and_a_viewer_cannot_stream(
        hub_factory, event, livekit: FakeLiveKit, owner_conn):
    org, ev = event
    await owner_conn.execute("UPDATE events SET status = 'scheduled' WHERE id = $1", ev)
    hub = hub_factory(db=True, **livekit.env())
    import playwright.async_api as playwright
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS + FAKE_CAMERA)
        try:
            page = await open_dashboard(browser, hub, ev,
                                        await staff_token(hub, org, "dj-cam", "dj"))
            # First press: the camera and its preview only; nothing is live yet.
            await page.get_by_role("button", name="Start camera").click()
            preview = page.locator("#preview")
            await preview.wait_for(state="visible", timeout=15_000)
            assert [c for c in livekit.calls if c.method == "CreateRoom"] == []
            assert await page.locator("#event-status").inner_text() == "Not started"
            opened = await go_live_now(page)
            # The second press started the event (recording may start now).
            await page.locator("#event-status", has_text="Live").wait_for(timeout=10_000)
            assert await page.get_by_role("button", name="Start recording").is_enabled()
            assert opened, "livekit-client never opened its websocket"
            assert opened[0].startswith(livekit.url.replace("http://", "ws://"))
            claims = grants_of(opened[0], livekit)
            video = claims["video"]
            assert video["roomJoin"] is True and video["canPublish"] is True
            created = [c for c in livekit.calls if c.method == "CreateRoom"]
            assert video["room"] == created[-1].body["name"]  # the room the hub created
            assert str(ev) in video["room"] and claims["sub"] == "dj-cam"
            assert claims["exp"] > time.time()
            for _ in range(100):
                if await preview.evaluate("v => v.videoWidth") > 0:
                    break
                await asyncio.sleep(0.1)
            assert await preview.evaluate("v => v.videoWidth") > 0  # frames from the camera
            assert await page.locator("#camera-note").is_hidden()
            await page.get_by_role("button", name="Switch camera").click()
            await page.wait_for_timeout(500)
            assert await preview.evaluate("v => v.videoWidth") > 0
            # No video server answers here: a calm message, not an error dump.
            await page.locator("#stream-status", has_text="can't be reached").wait_for(
                timeout=45_000)
            assert page.errors == []
            # The queue keeps working meanwhile.
            crowd = await fan(hub, org, ev, "fan-s")
            await crowd.call(f"event:{ev}", "requests.submit", {"title": "Still here"})
            await wait_titles(page, ["Still here"])
            await crowd.close()
        finally:
            await browser.close()
    # A moderator sees the button off, with the reason (a viewer never gets this far).
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev,
                                    await staff_token(hub, org, "mod-cam", "moderator"))
        assert await page.get_by_role("button", name="Start camera").is_disabled()
        assert "Only performers, DJs and admins" in await page.locator("#stream-card").inner_text()


async def webhook(hub: Any, fake: FakeLiveKit, body: str) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.post("/webhooks/livekit", content=body, headers={
            "Authorization": fake.sign_webhook(body),
            "Content-Type": "application/webhook+json"})
    assert resp.status_code == 200, resp.text


async def test_recording_start_and_stop_show_each_state_and_a_failure_says_why(
        hub_factory, event, livekit: FakeLiveKit):
    org, ev = event
    lk_room = f"event-{ev}"
    hub = hub_factory(db=True, **livekit.env())
    async with chromium() as browser:
        page = await open_dashboard(browser, hub, ev, await staff_token(hub, org, "dj-rec", "dj"))
        state = page.locator("#recording-state")
        await page.get_by_role("button", name="Start recording").click()
        await state.filter(has_text="Starting the recording").wait_for(timeout=10_000)
        # The page says "Starting" at the click; the hub's call to LiveKit may land just after.
        for _ in range(100):
            if livekit.egress_calls("StartRoomCompositeEgress"):
                break
            await asyncio.sleep(0.1)
        (start,) = livekit.egress_calls("StartRoomCompositeEgress")
        assert start.body["room_name"] == lk_room
        egress_id = next(iter(livekit.egresses))
        await webhook(hub, livekit, egress_webhook_body("egress_started", lk_room, egress_id,
                                                        "EGRESS_ACTIVE"))
        # Recording, with the elapsed time ticking.
        await state.filter(has_text="Recording ·").wait_for(timeout=10_000)
        first = await state.inner_text()
        for _ in range(50):  # it ticks each second (more slowly on a loaded machine)
            if await state.inner_text() != first:
                break
            await page.wait_for_timeout(100)
        assert await state.inner_text() != first
        assert await page.get_by_role("button", name="Start recording").is_hidden()

        await page.get_by_role("button", name="Stop recording").click()
        await state.filter(has_text="Stopping the recording").wait_for(timeout=10_000)
        assert [c.body for c in livekit.egress_calls("StopEgress")] == [{"egress_id": egress_id}]
        await webhook(hub, livekit, egress_webhook_body("egress_ended", lk_room, egress_id,
                                                        "EGRESS_COMPLETE"))
        await state.filter(has_text="Recording stopped").wait_for(timeout=10_000)

        # LiveKit refusing the next start: the DJ reads that it failed and why.
        livekit.egress_error = (503, "unavailable", "no egress workers free")
        await page.get_by_role("button", name="Start recording").click()
        await state.filter(has_text="failed").wait_for(timeout=15_000)
        # The hub's reason, not LiveKit's internals.
        shown = await state.inner_text()
        assert "the video service refused the recording" in shown
        assert "no egress workers free" not in shown
        assert await page.get_by_role("button", name="Start recording").is_visible()
        assert page.errors == []
