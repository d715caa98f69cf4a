"""Stripe payments through real hub processes, Redis and Postgres, against a local fake
Stripe API that checks every call, with webhooks signed exactly as Stripe signs them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.client import Client, token
from tests.support.fake_stripe import FakeStripe, sign
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import add_member

HubFactory = Callable[..., HubProcess]
Event = tuple[uuid.UUID, uuid.UUID]


@pytest.fixture
def fake(stripe_fake: FakeStripe) -> FakeStripe:
    return stripe_fake  # the shared fixture (tests/integration/conftest.py)


@pytest.fixture
def hub(hub_factory: HubFactory, fake: FakeStripe) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **fake.env())
    return process


async def post(hub: HubProcess, path: str, *, json_body: Any = None, content: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        if content is not None:
            return await http.post(path, content=content, headers=headers or {})
        return await http.post(path, json=json_body, headers=headers or {})


async def deliver(hub: HubProcess, body: str, signature: str | None = None) -> httpx.Response:
    """POST a webhook body with a valid signature (or the one given)."""
    return await post(hub, "/webhooks/stripe", content=body, headers={
        "Stripe-Signature": sign(body) if signature is None else signature,
        "Content-Type": "application/json"})


async def checkout(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID, *, sub: str = "fan-1",
                   **body: Any) -> httpx.Response:
    return await post(hub, f"/api/events/{ev}/checkout", json_body=body, headers={
        "Authorization": f"Bearer {token(org, sub=sub)}"})


async def enable(owner: asyncpg.Connection, fake: FakeStripe, org: uuid.UUID) -> str:
    """The org as if onboarding finished: a connected account with charges enabled."""
    account = fake.add_account(charges_enabled=True)
    await owner.execute("UPDATE organizations SET stripe_account_id = $2, charges_enabled = true"
                        " WHERE id = $1", org, account)
    return account


async def paid_tip(hub: HubProcess, fake: FakeStripe, org: uuid.UUID, ev: uuid.UUID,
                   amount: int = 500) -> dict[str, Any]:
    started = await checkout(hub, org, ev, kind="tip", amount_cents=amount)
    assert started.status_code == 200, started.text
    out: dict[str, Any] = started.json()
    return out


async def until_tips(client: Client, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    return await client.next_event(kind, timeout)


async def no_event(client: Client, kind: str, wait: float = 0.5) -> None:
    """Nothing of type ``kind`` arrives within ``wait`` seconds."""
    with pytest.raises(TimeoutError):
        await client.next_event(kind, wait)


async def overlay(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID) -> Client:
    client = await Client.open(hub.ws_url, token(org, sub="overlay"))
    await client.subscribe(f"event:{ev}")
    return client


async def test_checkout_call_carries_fee_destination_metadata_and_key(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """The session create call is a destination charge with our fee, ids and a stable key."""
    org, ev = event
    account = await enable(owner_conn, fake, org)
    retry_id = str(uuid.uuid4())
    first = await checkout(hub, org, ev, kind="tip", amount_cents=500, message="woo",
                           checkout_id=retry_id)
    again = await checkout(hub, org, ev, kind="tip", amount_cents=500, message="woo",
                           checkout_id=retry_id)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    got = first.json()
    assert got["session_id"] == again.json()["session_id"]  # the retry replayed, not re-created
    assert got["checkout_url"].startswith("https://checkout.stripe.test/")
    assert (got["amount_cents"], got["fee_cents"], got["tip_id"]) == (500, 48, retry_id)
    assert fake.refused == []
    calls = fake.calls_to("/v1/checkout/sessions")
    assert len(calls) == 2 and calls[0].idempotency_key == calls[1].idempotency_key == (
        f"livehub-checkout-{retry_id}")
    pid = calls[0].params["payment_intent_data"]
    assert pid["application_fee_amount"] == "48"  # 17.5 rounds up to 18, + 30
    assert pid["transfer_data"] == {"destination": account}
    meta = {"org_id": str(org), "event_id": str(ev), "checkout_id": retry_id, "kind": "tip",
            "tip_id": retry_id, "user": "fan-1"}
    assert calls[0].params["metadata"] == meta and pid["metadata"] == meta
    assert calls[0].params["line_items"][0]["price_data"]["unit_amount"] == "500"
    tips = await owner_conn.fetch("SELECT status, amount_cents, platform_fee_cents, message,"
                                  " stripe_checkout_session_id FROM tips WHERE event_id = $1", ev)
    assert [tuple(t) for t in tips] == [("pending", 500, 48, "woo", got["session_id"])]
    below = await checkout(hub, org, ev, kind="tip", amount_cents=99)
    assert below.status_code == 400 and "100 cents" in below.text


async def test_payments_refused_until_onboarding_enables_charges(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Onboarding creates one Express account; checkout answers 409 until account.updated."""
    org, ev = event
    refused = await checkout(hub, org, ev, kind="tip", amount_cents=500)
    assert refused.status_code == 409 and "charges are not enabled" in refused.text
    urls = {"return_url": "https://dash.test/done", "refresh_url": "https://dash.test/again"}
    onboard = [await post(hub, f"/api/orgs/{org}/stripe/onboarding", json_body=urls,
                          headers={"X-API-Key": API_KEY}) for _ in range(2)]
    assert [r.status_code for r in onboard] == [200, 200], onboard[0].text
    account = onboard[0].json()["account_id"]
    assert onboard[1].json()["account_id"] == account
    assert onboard[0].json()["url"].startswith("https://connect.stripe.test/setup/")
    created = fake.calls_to("/v1/accounts")
    assert len(created) == 1 and created[0].params["type"] == "express"
    assert created[0].idempotency_key == f"livehub-account-{org}"
    assert len(fake.calls_to("/v1/account_links")) == 2
    assert await owner_conn.fetchval(
        "SELECT stripe_account_id FROM organizations WHERE id = $1", org) == account
    still = await checkout(hub, org, ev, kind="tip", amount_cents=500)
    assert still.status_code == 409
    now = int(time.time())
    fake.accounts[account]["charges_enabled"] = True
    on = await deliver(hub, fake.account_updated(account, charges_enabled=True, created=now))
    late = await deliver(hub, fake.account_updated(account, charges_enabled=False,
                                                   created=now - 60))
    assert on.json()["status"] == late.json()["status"] == "applied", (on.text, late.text)
    flags = await owner_conn.fetchrow(
        "SELECT charges_enabled, payouts_enabled FROM organizations WHERE id = $1", org)
    assert tuple(flags) == (True, True)  # the older event, delivered late, changed nothing
    opened = await checkout(hub, org, ev, kind="tip", amount_cents=500)
    assert opened.status_code == 200, opened.text
    assert fake.refused == []


async def test_paid_checkout_marks_tip_alerts_room_and_moves_goal(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """A signed checkout.session.completed: tip paid, alert and goal progress over the socket."""
    org, ev = event
    await enable(owner_conn, fake, org)
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 10000 WHERE id = $1", ev)
    screen = await overlay(hub, org, ev)
    tip = await paid_tip(hub, fake, org, ev, amount=1500)
    sent = time.monotonic()
    answer = await deliver(hub, fake.completed(tip["session_id"]))
    assert answer.status_code == 200 and answer.json()["status"] == "applied", answer.text
    goal = await until_tips(screen, "tips.goal")
    queued = await until_tips(screen, "tips.alert_queued")
    assert time.monotonic() - sent < 2.0
    assert (goal["paid_cents"], goal["goal_cents"]) == (1500, 10000)
    assert queued["alert"]["tip_id"] == tip["tip_id"]
    assert queued["alert"]["amount_cents"] == 1500
    row = await owner_conn.fetchrow(
        "SELECT status, stripe_payment_intent_id FROM tips WHERE id = $1",
        uuid.UUID(tip["tip_id"]))
    assert tuple(row) == ("paid", fake.payment_intent(tip["session_id"]))
    await screen.close()


async def test_fifty_concurrent_deliveries_pay_once(
        hub_factory: HubFactory, fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """50 concurrent deliveries of one event over two processes: one tip paid, one alert."""
    org, ev = event
    hubs = [hub_factory(db=True, **fake.env()) for _ in range(2)]
    await enable(owner_conn, fake, org)
    screen = await overlay(hubs[0], org, ev)
    tip = await paid_tip(hubs[0], fake, org, ev)
    body = fake.completed(tip["session_id"])
    signature = sign(body)
    answers = await asyncio.wait_for(asyncio.gather(
        *(deliver(hubs[i % 2], body, signature) for i in range(50))), 60)
    assert [a.status_code for a in answers] == [200] * 50
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["applied"] + ["duplicate"] * 49
    await until_tips(screen, "tips.alert_queued")
    await no_event(screen, "tips.alert_queued", 1.0)
    counts = await owner_conn.fetchrow(
        "SELECT (SELECT count(*) FROM tips WHERE event_id = $1 AND status = 'paid') AS paid,"
        " (SELECT count(*) FROM tip_alerts WHERE event_id = $1) AS alerts,"
        " (SELECT count(*) FROM webhook_events WHERE organization_id = $2) AS seen", ev, org)
    assert tuple(counts) == (1, 1, 1)
    await screen.close()


async def test_refused_webhooks_write_nothing(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Forged, tampered, stale and wrong-mode deliveries get 400 and change nothing."""
    org, ev = event
    await enable(owner_conn, fake, org)
    screen = await overlay(hub, org, ev)
    tip = await paid_tip(hub, fake, org, ev)
    good = fake.completed(tip["session_id"])
    tampered = good.replace('"amount_total": 500', '"amount_total": 50000')
    assert tampered != good
    cases = {
        "forged": (good, sign(good, secret="whsec_not_the_real_one")),
        "tampered": (tampered, sign(good)),
        "stale": (good, sign(good, timestamp=int(time.time()) - 301)),
        "livemode": (fake.completed(tip["session_id"], livemode=True), None),
        "unsigned": (good, ""),
    }
    for name, (body, signature) in cases.items():
        answer = await deliver(hub, body, signature)
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["status"] == "refused", name
    await no_event(screen, "tips.goal")
    state = await owner_conn.fetchrow(
        "SELECT (SELECT count(*) FROM webhook_events WHERE organization_id = $1) AS seen,"
        " (SELECT status FROM tips WHERE id = $2) AS tip,"
        " (SELECT status FROM stripe_checkouts WHERE id = $2) AS checkout,"
        " (SELECT count(*) FROM tip_alerts WHERE event_id = $3) AS alerts",
        org, uuid.UUID(tip["tip_id"]), ev)
    assert tuple(state) == (0, "pending", "open", 0)
    await screen.close()


async def test_refund_reverses_goal_credit_and_request_bump(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """charge.refunded takes the tip out of the goal and the bump off the request."""
    org, ev = event
    await enable(owner_conn, fake, org)
    screen = await overlay(hub, org, ev)
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    submitted = await fan.call(f"event:{ev}", "requests.submit",
                               {"title": "Dancing Queen", "artist": "ABBA", "amount_cents": 700})
    request_id = submitted["request"]["id"]
    tip = await paid_tip(hub, fake, org, ev, amount=800)
    bump = await checkout(hub, org, ev, kind="request", amount_cents=700, request_id=request_id)
    assert bump.status_code == 200, bump.text
    assert fake.calls_to("/v1/checkout/sessions")[-1].params["metadata"]["request_id"] == (
        request_id)
    for session in (tip["session_id"], bump.json()["session_id"]):
        assert (await deliver(hub, fake.completed(session))).json()["status"] == "applied"
    assert (await until_tips(screen, "tips.goal"))["paid_cents"] == 800
    paid = await screen.next_event("requests")
    while paid["op"] != "paid":
        paid = await screen.next_event("requests")
    assert (paid["request"]["id"], paid["request"]["paid_cents"]) == (request_id, 700)
    for session in (tip["session_id"], bump.json()["session_id"]):
        answer = await deliver(hub, fake.refunded(session))
        assert answer.json() == {"status": "applied", "detail": "refunded"}, answer.text
    assert (await until_tips(screen, "tips.goal"))["paid_cents"] == 0
    back = await screen.next_event("requests")
    while back["op"] != "refunded":
        back = await screen.next_event("requests")
    assert (back["request"]["paid_cents"], back["request"]["payment"]) == (0, "refunded")
    rows = await owner_conn.fetchrow(
        "SELECT (SELECT status FROM tips WHERE id = $1) AS tip,"
        " (SELECT paid_cents FROM song_requests WHERE id = $2) AS bump",
        uuid.UUID(tip["tip_id"]), uuid.UUID(request_id))
    assert tuple(rows) == ("refunded", 0)
    await fan.close()
    await screen.close()


async def test_refund_before_completion_makes_completion_a_no_op(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """A refund delivered before its completion wins: no credit, no alert, ever."""
    org, ev = event
    await enable(owner_conn, fake, org)
    screen = await overlay(hub, org, ev)
    tip = await paid_tip(hub, fake, org, ev)
    early = await deliver(hub, fake.refunded(tip["session_id"]))
    assert early.json()["detail"] == "refunded before payment", early.text
    late = await deliver(hub, fake.completed(tip["session_id"]))
    assert late.json() == {"status": "applied", "detail": "already refunded"}, late.text
    await no_event(screen, "tips.alert_queued")
    row = await owner_conn.fetchrow(
        "SELECT t.status, (SELECT count(*) FROM tip_alerts a WHERE a.tip_id = t.id)"
        " FROM tips t WHERE t.id = $1", uuid.UUID(tip["tip_id"]))
    assert tuple(row) == ("refunded", 0)
    await screen.close()


async def test_refund_api_reverses_transfer_and_fee(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """POST /api/tips/{id}/refund refunds the destination charge with transfer and fee."""
    org, ev = event
    await enable(owner_conn, fake, org)
    tip = await paid_tip(hub, fake, org, ev)
    path = f"/api/tips/{tip['tip_id']}/refund"
    unpaid = await post(hub, path, headers={"X-API-Key": API_KEY})
    assert unpaid.status_code == 409, unpaid.text
    await deliver(hub, fake.completed(tip["session_id"]))
    assert (await post(hub, path)).status_code == 401  # the server API key is required
    done = await post(hub, path, headers={"X-API-Key": API_KEY})
    assert done.status_code == 200 and done.json()["refund_id"].startswith("re_"), done.text
    [call] = fake.calls_to("/v1/refunds")
    assert call.params["payment_intent"] == fake.payment_intent(tip["session_id"])
    assert (call.params["reverse_transfer"], call.params["refund_application_fee"]) == (
        "true", "true")
    assert call.idempotency_key == f"livehub-refund-{tip['tip_id']}"
    assert fake.refused == []


async def test_unconfigured_stripe_answers_503_and_hub_runs(
        hub_factory: HubFactory, event: Event) -> None:
    """Without Stripe settings the payment routes answer 503 and the hub stays ready."""
    org, ev = event
    bare = hub_factory(db=True)
    started = await checkout(bare, org, ev, kind="tip", amount_cents=500)
    hook = await deliver(bare, json.dumps({"id": "evt_x"}))
    assert (started.status_code, hook.status_code) == (503, 503)
    assert "STRIPE_SECRET_KEY" in started.text
    async with httpx.AsyncClient(base_url=bare.url, timeout=10) as http:
        assert (await http.get("/ready")).status_code == 200


async def test_checkout_follows_the_events_features_and_lifecycle(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Tips off refuses a tip checkout, requests off a paid request, and an ended or
    cancelled event any checkout (409 naming why); nothing reaches Stripe."""
    org, ev = event
    await enable(owner_conn, fake, org)
    await owner_conn.execute("UPDATE events SET tips_enabled = false WHERE id = $1", ev)
    off = await checkout(hub, org, ev, kind="tip", amount_cents=500)
    assert (off.status_code, off.json()["detail"]) == (409, "tips are off for this event")
    await owner_conn.execute(
        "UPDATE events SET tips_enabled = true, status = 'ended' WHERE id = $1", ev)
    ended = await checkout(hub, org, ev, kind="tip", amount_cents=500)
    assert (ended.status_code, ended.json()["detail"]) == (409, "the event is ended")
    assert fake.calls_to("/v1/checkout/sessions") == []


async def test_tip_checkout_obeys_bans_and_blocked_words(
        hub: HubProcess, fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection,
        owner_dsn: str) -> None:
    """Money buys no way around moderation: a banned fan cannot tip (403); a blocked word
    in the message or name is refused (422) in reject mode, and dropped with the payment
    kept in hold mode (the overlay then shows "Someone", no message)."""
    org, ev = event
    await enable(owner_conn, fake, org)
    await add_member(owner_dsn, org, "boss", "admin")
    room = f"event:{ev}"
    admin = await Client.open(hub.ws_url, token(org, sub="boss", roles=("admin",)))
    await admin.call(room, "moderation.ban", {"user": "troll", "minutes": 30})
    refused = await checkout(hub, org, ev, sub="troll", kind="tip", amount_cents=500,
                             message="hi")
    assert refused.status_code == 403 and "banned" in refused.json()["detail"]
    await admin.call(room, "moderation.blocked_words", {"words": ["Crypto"], "action": "reject"})
    in_message = await checkout(hub, org, ev, kind="tip", amount_cents=500,
                                message="buy CRYPTO now", from_name="Ann")
    in_name = await checkout(hub, org, ev, kind="tip", amount_cents=500, from_name="crypto king")
    assert (in_message.status_code, in_name.status_code) == (422, 422)
    assert in_message.json()["detail"].startswith("message contains a blocked word")
    assert in_name.json()["detail"].startswith("from_name contains a blocked word")
    assert fake.calls_to("/v1/checkout/sessions") == []
    assert await owner_conn.fetchval("SELECT count(*) FROM tips WHERE event_id = $1", ev) == 0
    clean = await checkout(hub, org, ev, kind="tip", amount_cents=500, message="cryptography!",
                           from_name="Ann")
    assert clean.status_code == 200, clean.text  # whole words only, as in chat
    await admin.call(room, "moderation.blocked_words", {"words": ["crypto"], "action": "hold"})
    held = await checkout(hub, org, ev, kind="tip", amount_cents=700, message="crypto!",
                          from_name="Ann")
    assert held.status_code == 200, held.text
    row = await owner_conn.fetchrow("SELECT amount_cents, message, from_name FROM tips"
                                    " WHERE id = $1", uuid.UUID(held.json()["tip_id"]))
    assert tuple(row) == (700, None, None)
    screen = await overlay(hub, org, ev)
    assert (await deliver(hub, fake.completed(held.json()["session_id"]))).status_code == 200
    alert = (await until_tips(screen, "tips.alert_queued"))["alert"]
    assert (alert["amount_cents"], alert["from_name"], alert["message"]) == (700, None, None)
    await screen.close()
    await admin.close()


async def test_checkout_returns_only_to_the_hubs_own_sites(
        hub_factory: HubFactory, fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """success_url/cancel_url: a path on the hub (made absolute on its public URL) or a URL
    on its own hosts; any other site, a scheme-relative or backslash trick, javascript:,
    or userinfo is 422 and nothing reaches Stripe. A forged Host header proves nothing."""
    org, ev = event
    await enable(owner_conn, fake, org)
    hub = hub_factory(db=True, HUB_PUBLIC_URL="https://hub.example",
                      HUB_PRODUCT_HOSTS="tips.example=tipjar", **fake.env())
    hostile = ["https://evil.example/thanks", "//evil.example/x", "/\\evil.example",
               "javascript:alert(1)", "https://tips.example@evil.example/",
               "https://evil.example/?https://tips.example/", "https://tips.example.evil.example/",
               f"{hub.url}/e/{ev}", "/e/x\nSet-Cookie: a=b"]
    for field in ("success_url", "cancel_url"):
        for url in hostile:
            got = await checkout(hub, org, ev, kind="tip", amount_cents=500, **{field: url})
            assert got.status_code == 422, (field, url, got.text)
            assert got.json()["detail"].startswith(f"{field} must be a path on this hub")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        forged = await http.post(f"/api/events/{ev}/checkout", json={
            "kind": "tip", "amount_cents": 500, "success_url": "http://evil.example/"},
            headers={"Authorization": f"Bearer {token(org, sub='fan-1')}",
                     "Host": "evil.example"})
    assert forged.status_code == 422, forged.text
    assert fake.calls_to("/v1/checkout/sessions") == []
    ok = [("/e/x?paid=tip", "https://tips.example/e/x?cancelled=tip",
           "https://hub.example/e/x?paid=tip", "https://tips.example/e/x?cancelled=tip"),
          ("https://hub.example/done", None, "https://hub.example/done",
           "https://hub.example/done"),
          (None, None, "https://hub.example", "https://hub.example")]
    for success, cancel, sent_success, sent_cancel in ok:
        body = {k: v for k, v in (("success_url", success), ("cancel_url", cancel)) if v}
        got = await checkout(hub, org, ev, kind="tip", amount_cents=500, **body)
        assert got.status_code == 200, got.text
        params = fake.calls_to("/v1/checkout/sessions")[-1].params
        assert (params["success_url"], params["cancel_url"]) == (sent_success, sent_cancel)
    # A development hub (no public URL, no product hosts): the host it was reached at.
    dev = hub_factory(db=True, **fake.env())
    here = await checkout(dev, org, ev, kind="tip", amount_cents=500,
                          success_url=f"{dev.url}/e/{ev}?paid=tip", cancel_url="/e/x")
    assert here.status_code == 200, here.text
    params = fake.calls_to("/v1/checkout/sessions")[-1].params
    assert (params["success_url"], params["cancel_url"]) == (f"{dev.url}/e/{ev}?paid=tip",
                                                             f"{dev.url}/e/x")
    away = await checkout(dev, org, ev, kind="tip", amount_cents=500,
                          success_url="https://evil.example/")
    assert away.status_code == 422, away.text
