"""Pay-per-view from purchase to refund in one story, through the real routes: a real hub,
Postgres and Redis; Stripe and LiveKit are the local fakes in tests/support."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import jwt
import pytest

from tests.integration.test_ppv_revoke import (
    PRICE,
    connect_stripe,
    joined,
    mint,
    post,
    ppv_event,
)
from tests.support.client import token
from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_stripe import FakeStripe, sign
from tests.support.hubproc import HubProcess

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def hub(hub_factory: Any, livekit: FakeLiveKit, stripe_fake: FakeStripe) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **livekit.env(), **stripe_fake.env())
    return process


async def deliver(hub: HubProcess, body: str, signature: str | None = None) -> dict[str, Any]:
    """POST a Stripe webhook, signed unless told otherwise; its JSON answer and status."""
    resp = await post(hub, "/webhooks/stripe", content=body, headers={
        **JSON, "Stripe-Signature": sign(body) if signature is None else signature})
    return {"http": resp.status_code, **resp.json()}


async def access_rows(owner: asyncpg.Connection, ev: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = await owner.fetch("SELECT user_id, stripe_checkout_session_id FROM ppv_access"
                             " WHERE event_id = $1", ev)
    return [tuple(r) for r in rows]


async def test_purchase_token_refund_revoke_and_refusal(
        hub, livekit, stripe_fake, event, owner_conn):
    """Checkout, a signed completion, the access row, a viewer token, the refund, the row
    and the participant gone, then 402 for a new token, even after replayed webhooks."""
    org, ev = event
    user = await ppv_event(owner_conn, ev)
    account = await connect_stripe(owner_conn, stripe_fake, org)
    fan = token(org, sub=str(user))
    stranger = token(uuid.uuid4(), sub=str(user))  # the same user id, another org's token
    assert (await mint(hub, ev, fan)).status_code == 402

    # 1. checkout: a destination charge of the event's price to the org's account.
    started = await post(hub, f"/api/events/{ev}/checkout", body={"kind": "ppv"},
                         headers={"Authorization": f"Bearer {fan}"})
    assert started.status_code == 200, started.text
    session_id = started.json()["session_id"]
    session = stripe_fake.sessions[session_id]
    assert session["amount_total"] == PRICE
    assert session["_payment_intent_data"]["transfer_data"]["destination"] == account
    completed = stripe_fake.completed(session_id)

    # 2. the completion webhook: forged is refused and grants nothing, signed applies.
    forged = await deliver(hub, completed, sign(completed, secret="whsec_not_ours"))
    assert forged["http"] == 400 and await access_rows(owner_conn, ev) == []
    assert (await deliver(hub, completed))["status"] == "applied"

    # 3. the access row, tied to the paid checkout.
    assert await access_rows(owner_conn, ev) == [(user, session_id)]
    assert await owner_conn.fetchval("SELECT status FROM stripe_checkouts WHERE"
                                     " session_id = $1", session_id) == "paid"

    # 4. a viewer token: subscribe only, in the event's room, as the buyer.
    minted = await mint(hub, ev, fan)
    assert minted.status_code == 200, minted.text
    claims = jwt.decode(minted.json()["token"], livekit.secret, algorithms=["HS256"],
                        issuer=livekit.key)
    video = claims["video"]
    assert (video["roomJoin"], video["canSubscribe"], video["canPublish"],
            video["canPublishData"]) == (True, True, False, False)
    assert claims["sub"] == str(user)
    other = await mint(hub, ev, stranger)
    assert other.status_code == 404 and "no such event" in other.text
    room, identity = joined(livekit, minted.json()["token"])

    # 5. the refund webhook.
    refunded = stripe_fake.refunded(session_id)
    assert await deliver(hub, refunded) == {"http": 200, "status": "applied",
                                            "detail": "refunded"}

    # 6. access revoked (row gone, audited) and the participant removed by that identity.
    assert await access_rows(owner_conn, ev) == []
    assert identity not in livekit.participants[room]
    [kick] = [c for c in livekit.calls if c.method == "RemoveParticipant"]
    assert kick.body == {"room": room, "identity": identity}
    assert await owner_conn.fetchval("SELECT count(*) FROM audit_log WHERE organization_id"
                                     " = $1 AND action = 'ppv.revoke'", org) == 1

    # 7. a new token is refused, and replaying either webhook does not bring access back.
    assert (await mint(hub, ev, fan)).status_code == 402
    assert (await deliver(hub, completed))["status"] == "duplicate"
    assert (await deliver(hub, stripe_fake.completed(session_id)))["detail"] == \
        "already refunded"
    assert (await deliver(hub, refunded))["status"] == "duplicate"
    assert await access_rows(owner_conn, ev) == []
    assert (await mint(hub, ev, fan)).status_code == 402
    assert livekit.refused == []
