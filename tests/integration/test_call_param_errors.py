"""Bad `call` params get a short 4402 that names the problem, never a 10 KB echo."""

from __future__ import annotations

from tests.support.client import Client, token


async def test_huge_unknown_param_name_is_not_echoed(hub_factory, event):
    """A 10 KB unknown field name: 4402, a reason under 200 characters; the socket stays."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    name = "x" * 10_000
    err = await fan.call(room, "requests.submit", {"title": "Song", name: 1},
                         expect_error=True)
    assert err["code"] == 4402 and len(err["reason"]) < 200, len(err["reason"])
    assert "unknown field" in err["reason"]
    ok = await fan.call(room, "requests.submit", {"title": "Song"})
    assert ok["request"]["title"] == "Song"
    await fan.close()
