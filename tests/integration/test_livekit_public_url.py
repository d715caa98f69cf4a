"""Browsers get LIVEKIT_PUBLIC_URL; the hub itself keeps calling LIVEKIT_URL."""

from __future__ import annotations

import httpx

from tests.support.members import staff_token

PUBLIC = "ws://localhost:7880"


async def test_token_carries_the_public_url_and_room_calls_use_the_internal_one(
        hub_factory, livekit, event):
    """The token response names the browser-facing URL; CreateRoom still reaches LIVEKIT_URL."""
    org, ev = event
    hub = hub_factory(db=True, **livekit.env(LIVEKIT_PUBLIC_URL=PUBLIC))
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        dj = {"Authorization": "Bearer " + await staff_token(hub, org, "dj-1", "dj")}
        resp = await http.post(f"/api/events/{ev}/livekit-token", json={"kind": "viewer"},
                               headers=dj)
        assert resp.status_code == 200, resp.text
        assert resp.json()["url"] == PUBLIC
        live = await http.post(f"/api/events/{ev}/live", headers=dj)
    assert live.status_code == 200, live.text
    assert [call.method for call in livekit.calls] == ["CreateRoom"]
