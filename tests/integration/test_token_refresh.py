"""POST /api/tokens/refresh through a real hub process with Redis and Postgres: a page swaps
its still valid token for a fresh one with the same claims, within HUB_MAX_SESSION."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, SECRET, HubProcess
from tests.support.members import add_member, staff_token

MAX_TTL = 3600
SESSION = 7200
GRACE = 1800  # HUB_REFRESH_GRACE's default


@pytest.fixture
def hub(hub_factory: Any) -> HubProcess:
    process: HubProcess = hub_factory(db=True, HUB_MAX_TOKEN_TTL=str(MAX_TTL),
                                      HUB_MAX_SESSION=str(SESSION))
    return process


async def refresh(hub: HubProcess, bearer: str | None, **kwargs: Any) -> httpx.Response:
    headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await http.post("/api/tokens/refresh", headers=headers, **kwargs)


def claims_of(tok: str) -> dict[str, Any]:
    """The claims of a token the hub signed (verifies the signature with the hub's key)."""
    claims: dict[str, Any] = jwt.decode(tok, SECRET, algorithms=["HS256"])
    return claims


def signed(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def test_refresh_keeps_the_claims_and_the_lifetime(hub, org):
    """A DJ's token comes back with the same sub, org, roles and name, the same lifetime,
    auth_time = the first token's iat, and swaps in on the DJ's socket."""
    await add_member(hub.database_url, org, "dj-1", "dj")
    now = int(time.time())
    first = signed({"sub": "dj-1", "org": str(org), "roles": ["dj"], "name": "DJ Ann",
                    "iat": now - 100, "exp": now + 500})
    resp = await refresh(hub, first)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    new = claims_of(body["token"])
    assert (new["sub"], new["org"], new["roles"], new["name"]) == ("dj-1", str(org), ["dj"],
                                                                   "DJ Ann")
    assert new["exp"] - new["iat"] == 600 and abs(new["iat"] - time.time()) <= 2
    assert new["auth_time"] == now - 100
    assert body == {"token": body["token"], "sub": "dj-1", "org": str(org), "roles": ["dj"],
                    "name": "DJ Ann", "expires_at": new["exp"] * 1000,
                    "session_expires_at": (now - 100 + SESSION) * 1000}
    # A chain: the second refresh keeps the first sign-in's auth_time.
    again = claims_of((await refresh(hub, body["token"])).json()["token"])
    assert again["auth_time"] == now - 100 and again["exp"] - again["iat"] == 600
    client = await Client.open(hub.ws_url, first)  # the hub takes it as the same DJ
    await client.send({"type": "refresh", "token": body["token"], "id": 1})
    assert (await client.recv("refreshed"))["roles"] == ["dj"]
    await client.close()


async def test_refreshed_token_swaps_in_band_on_an_open_socket(hub, org):
    """The page's flow: the new token goes into a `refresh` frame and the socket lives on."""
    old = token(org, sub="fan-1", ttl=60)
    client = await Client.open(hub.ws_url, old)
    fresh = (await refresh(hub, old)).json()["token"]
    await client.send({"type": "refresh", "token": fresh, "id": 7})
    answer = await client.recv("refreshed")
    assert answer == {"type": "refreshed", "id": 7, "roles": ["viewer"],
                      "exp": claims_of(fresh)["exp"]}
    await client.close()


async def test_guest_name_and_event_claims_are_carried(hub, org):
    """A guest's display name and an event claim survive; other claims do not."""
    ev = uuid.uuid4()
    now = int(time.time())
    guest = signed({"sub": "guest:abc", "org": str(org), "roles": ["viewer"], "iat": now,
                    "exp": now + 300, "name": "<b>Bo</b>", "event": str(ev).upper(),
                    "admin": True, "scope": "everything"})
    new = claims_of((await refresh(hub, guest)).json()["token"])
    assert new["name"] == "<b>Bo</b>" and new["event"] == str(ev)
    assert set(new) == {"sub", "org", "roles", "name", "event", "iat", "exp", "auth_time"}


async def test_removed_dj_comes_back_as_viewer(hub, org):
    """Staff roles are re-confirmed: after the membership is removed, the refreshed token
    is a viewer's (never the DJ's again), and a demoted admin keeps only what is confirmed."""
    dj = await staff_token(hub, org, "dj-gone", "dj")
    user = await add_member(hub.database_url, org, "dj-gone", "dj")
    assert (await refresh(hub, dj)).json()["roles"] == ["dj"]
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        gone = await http.delete(f"/api/orgs/{org}/members/{user}",
                                 headers={"X-API-Key": API_KEY})
    assert gone.status_code in (200, 204), gone.text
    body = (await refresh(hub, dj)).json()
    assert body["roles"] == ["viewer"] and claims_of(body["token"])["roles"] == ["viewer"]
    # A token claiming a role on top of one its membership confirms keeps just that one.
    await add_member(hub.database_url, org, "mod-1", "moderator")
    both = token(org, sub="mod-1", roles=("moderator", "admin"))
    assert (await refresh(hub, both)).json()["roles"] == ["moderator"]


def _unsigned(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_bad_bearers_are_refused(hub, org):
    """Missing, forged, alg=none, other algorithms, expired, too long-lived, garbage, not
    a bearer: 401 with our own short reason (nothing of the input echoed), no token."""
    now = int(time.time())
    good = {"sub": "fan-1", "org": str(org), "roles": ["admin"], "iat": now, "exp": now + 60}
    cases = {
        "none": {},
        "basic": {"Authorization": f"Basic {token(org)}"},
        "forged": jwt.encode(good, "not-the-secret-0123456789-0123456789", algorithm="HS256"),
        "alg none": _unsigned(good),
        "HS512": jwt.encode(good, SECRET, algorithm="HS512"),
        "expired past the grace": signed({**good, "iat": now - GRACE - 120,
                                           "exp": now - GRACE - 60}),
        "year 3000": signed({**good, "exp": 32503680000}),
        "garbage": "<script>alert(1)</script>" * 20,
        "bad auth_time": signed({**good, "auth_time": "yesterday"}),
        "bad event": signed({**good, "event": "<img src=x>"}),
    }
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for case, bearer in cases.items():
            headers = bearer if isinstance(bearer, dict) else {
                "Authorization": f"Bearer {bearer}"}
            resp = await http.post("/api/tokens/refresh", headers=headers)
            assert resp.status_code == 401, (case, resp.text)
            body = resp.json()
            detail = body["detail"]
            assert "<script" not in detail and "<img" not in detail and len(detail) < 100, case
            assert "token" not in body, case


async def test_overlay_secret_is_not_a_token(hub, org):
    """An overlay link's secret has no exp and cannot be refreshed: 401 saying so."""
    resp = await refresh(hub, "A" * 43)
    assert resp.status_code == 401
    assert "overlay" in resp.json()["detail"]


async def test_another_orgs_claims_stay_as_they_are(hub, org):
    """A body asking for another org, sub or roles is ignored: the claims come from the
    presented token only."""
    other = uuid.uuid4()
    mine = token(org, sub="fan-1")
    resp = await refresh(hub, mine, json={"org": str(other), "sub": "admin-1",
                                          "roles": ["admin"], "ttl": 10 ** 9})
    new = claims_of(resp.json()["token"])
    assert (new["org"], new["sub"], new["roles"]) == (str(org), "fan-1", ["viewer"])
    assert new["exp"] - new["iat"] == 3600
    # A token of the other org is refreshed for that org, and authorizes nothing here.
    theirs = claims_of((await refresh(hub, token(other, sub="fan-1"))).json()["token"])
    assert theirs["org"] == str(other)


async def test_the_session_cap_ends_the_chain(hub_factory, org):
    """A chain of refreshes ends HUB_MAX_SESSION after the sign-in: the refreshed exp stops
    at the session's end, and past it the refresh is 401 "sign in again"."""
    hub = hub_factory(db=True, HUB_MAX_SESSION="4")
    first = token(org, sub="fan-1", ttl=3600)
    signed_in = claims_of(first)["iat"]
    body = (await refresh(hub, first)).json()
    new = claims_of(body["token"])
    assert new["exp"] <= signed_in + 4 and new["auth_time"] == signed_in
    assert body["session_expires_at"] == (signed_in + 4) * 1000
    await asyncio.sleep(max(0.0, signed_in + 4.2 - time.time()))
    # The original token is still valid on its own, but its session is over.
    over = await refresh(hub, first)
    assert over.status_code == 401 and "sign in again" in over.json()["detail"]
    # auth_time cannot be pushed forward by claiming a later one than iat... (ours only)
    now = int(time.time())
    stale = signed({"sub": "fan-1", "org": str(org), "roles": ["viewer"], "iat": now,
                    "exp": now + 60, "auth_time": now - 10})
    assert (await refresh(hub, stale)).status_code == 401
    later = signed({"sub": "fan-1", "org": str(org), "roles": ["viewer"], "iat": now - 10,
                    "exp": now + 60, "auth_time": now + 1000})
    assert (await refresh(hub, later)).status_code == 401  # anchored at iat, not later


async def test_refreshes_are_rate_limited_per_sub(hub, org):
    """Past 10 a minute for one sub: 429 with Retry-After; another sub is unaffected."""
    tok = token(org, sub="busy")
    codes = [(await refresh(hub, tok)).status_code for _ in range(10)]
    assert codes == [200] * 10
    limited = await refresh(hub, tok)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert (await refresh(hub, token(org, sub="calm"))).status_code == 200


async def test_a_token_expired_within_the_grace_is_renewed_by_refresh_only(hub_factory, org):
    """A laptop asleep past exp: refresh renews a token up to HUB_REFRESH_GRACE after its
    exp, still capped by the session. Past the grace, past the session, forged, or on any
    other route or the websocket, an expired token gets nothing."""
    hub = hub_factory(db=True, HUB_MAX_SESSION=str(SESSION), HUB_REFRESH_GRACE="600")
    now = int(time.time())
    base = {"sub": "fan-1", "org": str(org), "roles": ["viewer"], "name": "Ann"}
    asleep = signed({**base, "iat": now - 900, "exp": now - 300})  # 5 min past exp
    resp = await refresh(hub, asleep)
    assert resp.status_code == 200, resp.text
    new = claims_of(resp.json()["token"])
    assert (new["sub"], new["name"], new["auth_time"]) == ("fan-1", "Ann", now - 900)
    assert new["exp"] - new["iat"] == 600 and new["exp"] > time.time()
    # The grace is for this route only: the websocket and the rest refuse the same token.
    with pytest.raises(ConnectionClosed) as closed:
        client = await Client.open(hub.ws_url, asleep)
        await asyncio.wait_for(client.ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        other = await http.get(f"/api/events/{uuid.uuid4()}",
                               headers={"Authorization": f"Bearer {asleep}"})
        assert other.status_code == 401, other.text
    # Attacker cases: past the grace; within it but the session is over; forged; nbf.
    cases = {
        "past the grace": signed({**base, "iat": now - 1300, "exp": now - 700}),
        "session over": signed({**base, "iat": now - SESSION - 10, "exp": now - 60}),
        "old sign-in": signed({**base, "iat": now - 900, "exp": now - 60,
                               "auth_time": now - SESSION - 1}),
        "forged": jwt.encode({**base, "iat": now - 900, "exp": now - 60},
                             "not-the-secret-0123456789-0123456789", algorithm="HS256"),
        "not yet valid": signed({**base, "iat": now, "exp": now - 60, "nbf": now + 300}),
        "exp not a number": signed({**base, "iat": now, "exp": "soon"}),
    }
    for case, bearer in cases.items():
        got = await refresh(hub, bearer)
        assert got.status_code == 401 and "token" not in got.json(), (case, got.text)
