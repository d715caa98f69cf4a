"""A night replayed through Stripe: the ledger, the tips goal, the request queue and
pay-per-view access agree to the cent. Real hub processes, Redis and Postgres; fake
Stripe and LiveKit; webhooks signed as Stripe signs them, out of order and twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.test_stripe import checkout, deliver, enable
from tests.support.client import Client, api_call, token
from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_stripe import FakeStripe, sign
from tests.support.hubproc import API_KEY, HubProcess

Event = tuple[uuid.UUID, uuid.UUID]
PPV_PRICE = 1000


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    stripe = await asyncio.wait_for(FakeStripe().start(), 10)
    yield stripe
    await stripe.stop()


async def started(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID, *, sub: str = "fan-1",
                  **body: Any) -> dict[str, Any]:
    resp = await checkout(hub, org, ev, sub=sub, **body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def applied(hub: HubProcess, body: str, detail: str | None = None) -> None:
    """Deliver a signed event; it must apply (with ``detail``, when given)."""
    answer = await asyncio.wait_for(deliver(hub, body), 15)
    assert answer.status_code == 200 and answer.json()["status"] == "applied", answer.text
    if detail is not None:
        assert answer.json()["detail"] == detail, answer.text


async def duplicate(hub: HubProcess, body: str) -> None:
    answer = await asyncio.wait_for(deliver(hub, body, sign(body)), 15)
    assert answer.json()["status"] == "duplicate", answer.text


async def mint(hub: HubProcess, ev: uuid.UUID, bearer: str) -> int:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.post(f"/api/events/{ev}/livekit-token", json={"kind": "viewer"},
                               headers={"Authorization": f"Bearer {bearer}"})
    return resp.status_code


async def test_a_night_replayed_agrees_to_the_cent(
        hub_factory: Any, fake: FakeStripe, livekit: FakeLiveKit, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """Tips, two bumps, a PPV purchase, partial and full refunds, webhooks out of order and
    twice: ledger totals, goal, ranking and pay-per-view access all match."""
    org, ev = event
    hubs = [hub_factory(db=True, **fake.env(), **livekit.env()) for _ in range(2)]
    await enable(owner_conn, fake, org)
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 10000, ppv_price_cents = $2"
                             " WHERE id = $1", ev, PPV_PRICE)
    viewer = uuid.uuid4()
    await owner_conn.execute("INSERT INTO users (id, display_name) VALUES ($1, 'v')", viewer)
    room = f"event:{ev}"
    fans = [await Client.open(hubs[n % 2].ws_url, token(org, sub=f"fan-{n}")) for n in range(3)]
    old = await fans[0].call(room, "requests.submit", {"title": "Old Song", "artist": "A"})
    one = await fans[1].call(room, "requests.submit", {"title": "Bumped", "artist": "B"})
    two = await fans[2].call(room, "requests.submit", {"title": "Refunded", "artist": "C"})
    ids = [r["request"]["id"] for r in (old, one, two)]

    tip1 = await started(hubs[0], org, ev, kind="tip", amount_cents=1500, from_name="Ann")
    tip2 = await started(hubs[1], org, ev, kind="tip", amount_cents=800, from_name="Bob")
    tip3 = await started(hubs[0], org, ev, kind="tip", amount_cents=2500, from_name="Cat")
    bump1 = await started(hubs[1], org, ev, kind="request", amount_cents=700, request_id=ids[1])
    bump2 = await started(hubs[0], org, ev, kind="request", amount_cents=1200,
                          request_id=ids[2])
    ppv = await started(hubs[1], org, ev, sub=str(viewer), kind="ppv")
    assert ppv["amount_cents"] == PPV_PRICE
    assert await mint(hubs[0], ev, token(org, sub=str(viewer))) == 402  # not paid yet

    # Tip 1: a partial refund (300) arrives before its completion; the completion credits
    # what is left.
    await applied(hubs[0], fake.refunded(tip1["session_id"], 300), "partially refunded")
    await applied(hubs[1], fake.completed(tip1["session_id"]), "paid")
    # Tip 2: completed, delivered twice.
    paid2 = fake.completed(tip2["session_id"])
    await applied(hubs[0], paid2, "paid")
    await duplicate(hubs[1], paid2)
    # Tip 3: completed, then a partial refund of 1000 (refunds not listed), delivered twice.
    await applied(hubs[1], fake.completed(tip3["session_id"]), "paid")
    part3 = fake.refunded(tip3["session_id"], 1000, listed=False)
    await applied(hubs[0], part3, "partially refunded")
    await duplicate(hubs[1], part3)
    # Bumps: both paid; bump 2 refunded 200 then the rest, delivered newest first, twice.
    await applied(hubs[0], fake.completed(bump1["session_id"]), "paid")
    await applied(hubs[1], fake.completed(bump2["session_id"]), "paid")
    first_part = fake.refunded(bump2["session_id"], 200)
    rest = fake.refunded(bump2["session_id"])
    await applied(hubs[0], rest, "refunded")
    await applied(hubs[1], first_part, "already refunded")
    await duplicate(hubs[0], rest)
    # Pay-per-view: completed twice over two nodes.
    paid_ppv = fake.completed(ppv["session_id"])
    await applied(hubs[1], paid_ppv, "paid")
    await duplicate(hubs[0], paid_ppv)

    # The server API cannot credit what the ledger does not hold.
    forged = await api_call(hubs[0].url, room, "tips.paid", {
        "tip_id": str(uuid.uuid4()), "amount_cents": 5000, "payment_id": "pi_made_up"})
    assert forged.status_code == 400 and forged.json()["code"] == 4422, forged.text
    assert "no ledger payment" in forged.json()["reason"]
    unpaid = await started(hubs[0], org, ev, kind="tip", amount_cents=600)  # never paid
    pending = await api_call(hubs[0].url, room, "tips.paid", {
        "tip_id": unpaid["tip_id"], "amount_cents": 600,
        "payment_id": fake.payment_intent(unpaid["session_id"])})
    assert pending.status_code == 400 and pending.json()["code"] == 4422, pending.text
    bump = await api_call(hubs[1].url, room, "requests.payment_confirmed", {
        "request_id": ids[0], "amount_cents": 9900, "payment_id": "pi_made_up"})
    assert bump.status_code == 400 and bump.json()["code"] == 4422, bump.text

    # Fees: 3.5% rounded half up + 30c: 1500 -> 83, 800 -> 58, 2500 -> 118, 700 -> 55,
    # 1200 -> 72, 1000 -> 65 (451). Fee refunds pro rata: tip 1 83*300/1500 = 16.6 -> 17,
    # tip 3 118*1000/2500 = 47.2 -> 47, bump 2 all 72 (12 + 60): 136.
    gross, fees, refunds = 1500 + 800 + 2500 + 700 + 1200 + 1000, 451 - 136, 300 + 1000 + 1200
    async with httpx.AsyncClient(base_url=hubs[0].url, timeout=10) as http:
        money = (await http.get(f"/api/events/{ev}/money",
                                headers={"X-API-Key": API_KEY})).json()
    assert money == {"event_id": str(ev), "currency": "usd", "gross_cents": gross,
                     "fees_cents": fees, "refunds_cents": refunds,
                     "net_cents": gross - fees - refunds, "manual_cents": 0,
                     "payments": 6, "refunds": 4}
    rows = await owner_conn.fetch(
        "SELECT kind, sum(amount_cents)::bigint AS cents, count(*) AS n FROM ledger_entries"
        " WHERE event_id = $1 GROUP BY kind", ev)
    assert {r["kind"]: (r["cents"], r["n"]) for r in rows} == {
        "payment": (gross, 6), "platform_fee": (-451, 6), "refund": (-refunds, 4),
        "fee_refund": (136, 4)}

    # The goal: 1500 - 300 + 800 + 2500 - 1000, as the ledger says for the paid tips.
    goal = 1200 + 800 + 1500
    watcher = await Client.open(hubs[1].ws_url, token(org, sub="late"))
    state = await watcher.call(room, "tips.state")
    assert (state["paid_cents"], state["goal_cents"]) == (goal, 10000)
    assert len(state["waiting"]) + (state["showing"] is not None) == 3  # partial: still on
    ledger_goal = await owner_conn.fetchval(
        "SELECT sum(amount_cents)::bigint FROM ledger_entries WHERE event_id = $1"
        " AND target = 'tip' AND kind IN ('payment', 'refund')", ev)
    assert ledger_goal == goal

    # The queue: the bump that still counts first, the refunded one back by age.
    mine = await fans[1].call(room, "requests.mine")
    assert mine["requests"][0]["request"]["paid_cents"] == 700
    queue = (await fans[2].call(room, "requests.mine"))["requests"][0]["request"]
    assert (queue["paid_cents"], queue["payment"], queue["position"]) == (0, "refunded", 3)
    assert mine["requests"][0]["request"]["position"] == 1
    by_ledger = {str(r["target_id"]): r["cents"] for r in await owner_conn.fetch(
        "SELECT target_id, sum(amount_cents)::bigint AS cents FROM ledger_entries"
        " WHERE event_id = $1 AND target = 'bump' AND kind IN ('payment', 'refund')"
        " GROUP BY target_id", ev)}
    stored = {str(r["id"]): r["paid_cents"] for r in await owner_conn.fetch(
        "SELECT id, paid_cents FROM song_requests WHERE event_id = $1 AND paid_cents > 0"
        " OR id = $2", ev, uuid.UUID(ids[2]))}
    assert by_ledger == stored == {ids[1]: 700, ids[2]: 0}

    # Pay-per-view: the purchase counts in the ledger, so the viewer gets a token.
    assert await mint(hubs[0], ev, token(org, sub=str(viewer))) == 200
    for c in (*fans, watcher):
        await c.close()
