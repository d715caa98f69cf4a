"""Pay-per-view revocation reaches the participant LiveKit saw join, and a refunded fan
gets no new token: real hub, Postgres and Redis; local fake Stripe and LiveKit."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.support.client import token
from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_stripe import FakeStripe, sign
from tests.support.hubproc import API_KEY, HubProcess

PRICE = 900


@pytest.fixture
def hub(hub_factory: Any, livekit: FakeLiveKit, stripe_fake: FakeStripe) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **livekit.env(), **stripe_fake.env())
    return process


async def post(hub: HubProcess, path: str, *, body: Any = None, content: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        if content is not None:
            return await http.post(path, content=content, headers=headers or {})
        return await http.post(path, json=body, headers=headers or {})


async def mint(hub: HubProcess, ev: uuid.UUID, bearer: str) -> httpx.Response:
    return await post(hub, f"/api/events/{ev}/livekit-token", body={"kind": "viewer"},
                      headers={"Authorization": f"Bearer {bearer}"})


def joined(fake: FakeLiveKit, lk_token: str) -> tuple[str, str]:
    """Join LiveKit as the token says (room, identity): what the fake server now holds."""
    claims = jwt.decode(lk_token, fake.secret, algorithms=["HS256"], issuer=fake.key)
    room, identity = claims["video"]["room"], claims["sub"]
    fake.participants.setdefault(room, set()).add(identity)
    return room, identity


async def ppv_event(owner: asyncpg.Connection, ev: uuid.UUID) -> uuid.UUID:
    """Make the event pay-per-view; a fan with a users row."""
    await owner.execute("UPDATE events SET ppv_price_cents = $2 WHERE id = $1", ev, PRICE)
    user = uuid.uuid4()
    await owner.execute("INSERT INTO users (id, display_name) VALUES ($1, 'fan')", user)
    return user


async def connect_stripe(owner: asyncpg.Connection, stripe: FakeStripe, org: uuid.UUID) -> str:
    """The org's connected account, able to take charges; its id."""
    account = stripe.add_account(charges_enabled=True)
    await owner.execute("UPDATE organizations SET stripe_account_id = $2,"
                        " charges_enabled = true WHERE id = $1", org, account)
    return account


async def test_revoke_removes_the_identity_in_the_minted_token(hub, livekit, event, owner_conn):
    """A fan whose sub is a uuid spelled another way (upper case, braces): the revoke kicks
    exactly the identity LiveKit saw join."""
    org, ev = event
    user = await ppv_event(owner_conn, ev)
    await owner_conn.execute(
        "INSERT INTO ppv_access (organization_id, event_id, user_id) VALUES ($1, $2, $3)",
        org, ev, user)
    identities = []
    for sub in (str(user).upper(), "{" + str(user) + "}", user.hex):
        resp = await mint(hub, ev, token(org, sub=sub))
        assert resp.status_code == 200, resp.text
        room, identity = joined(livekit, resp.json()["token"])
        assert resp.json()["identity"] == identity
        identities.append(identity)
    assert set(identities) == {str(user)}  # one canonical identity per user
    resp = await post(hub, f"/api/events/{ev}/ppv/revoke", body={"user_id": str(user)},
                      headers={"X-API-Key": API_KEY})
    assert resp.status_code == 204, resp.text
    assert livekit.participants[room] == set() and livekit.refused == []
    assert (await mint(hub, ev, token(org, sub=str(user).upper()))).status_code == 402


async def test_refunded_fan_gets_no_new_token(hub, livekit, stripe_fake, event, owner_conn):
    """Purchase -> a token; Stripe refund -> kicked, and the next mint is refused (402)."""
    org, ev = event
    user = await ppv_event(owner_conn, ev)
    await connect_stripe(owner_conn, stripe_fake, org)
    fan = token(org, sub=str(user))
    assert (await mint(hub, ev, fan)).status_code == 402  # not bought yet
    started = await post(hub, f"/api/events/{ev}/checkout", body={"kind": "ppv"},
                         headers={"Authorization": f"Bearer {fan}"})
    assert started.status_code == 200, started.text
    session = started.json()["session_id"]
    body = stripe_fake.completed(session)
    paid = await post(hub, "/webhooks/stripe", content=body, headers={
        "Stripe-Signature": sign(body), "Content-Type": "application/json"})
    assert paid.json()["status"] == "applied", paid.text
    resp = await mint(hub, ev, fan)
    assert resp.status_code == 200, resp.text
    room, identity = joined(livekit, resp.json()["token"])
    body = stripe_fake.refunded(session)
    refunded = await post(hub, "/webhooks/stripe", content=body, headers={
        "Stripe-Signature": sign(body), "Content-Type": "application/json"})
    assert refunded.json() == {"status": "applied", "detail": "refunded"}, refunded.text
    assert identity not in livekit.participants[room]
    again = await mint(hub, ev, fan)
    assert again.status_code == 402, again.text
    # Access granted by hand again without a new purchase: the refunded checkout still
    # keeps the token endpoint shut for this session's grant.
    await owner_conn.execute(
        "INSERT INTO ppv_access (organization_id, event_id, user_id,"
        " stripe_checkout_session_id) VALUES ($1, $2, $3, $4)", org, ev, user, session)
    assert (await mint(hub, ev, fan)).status_code == 402
