"""Issue #13: webhook storms. Stripe retries, duplicates and reorders deliveries; a storm of
them against real hub processes, Postgres and Redis (fake Stripe, events signed as Stripe
signs them) must leave exactly one effect per payment, in Postgres and in the room."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx

from tests.integration.test_stripe import HubFactory, checkout, deliver, enable, overlay
from tests.support.client import Client, token
from tests.support.fake_stripe import FakeStripe, sign
from tests.support.hubproc import HubProcess

Event = tuple[uuid.UUID, uuid.UUID]
GOAL = 100_000


async def started(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID, **body: Any) -> dict[str, Any]:
    resp = await checkout(hub, org, ev, **body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def storm(hubs: list[HubProcess], bodies: list[str]) -> list[httpx.Response]:
    """Deliver every body at once, spread over the hubs; every answer is 200."""
    async with httpx.AsyncClient(timeout=60) as http:
        async def one(i: int, body: str) -> httpx.Response:
            return await http.post(f"{hubs[i % len(hubs)].url}/webhooks/stripe", content=body,
                                   headers={"Stripe-Signature": sign(body),
                                            "Content-Type": "application/json"})
        answers = await asyncio.wait_for(asyncio.gather(
            *(one(i, b) for i, b in enumerate(bodies))), 120)
    assert [a.status_code for a in answers] == [200] * len(bodies), [
        a.text for a in answers if a.status_code != 200]
    return list(answers)


async def room_events(client: Client, quiet: float = 1.5) -> list[dict[str, Any]]:
    """Every room event the client gets until the room is quiet for ``quiet`` seconds."""
    out: list[dict[str, Any]] = []
    while True:
        try:
            frame = await client.recv("message", quiet)
        except TimeoutError:
            return out
        out.append(frame["data"])


async def test_a_hundred_duplicate_deliveries_pay_a_tip_once(
        hub_factory: HubFactory, stripe_fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """100 concurrent deliveries of one checkout.session.completed over two processes: one
    applied, 99 duplicates; one paid tip row, one ledger payment, one alert broadcast, the
    goal moved once."""
    org, ev = event
    hubs = [hub_factory(db=True, **stripe_fake.env()) for _ in range(2)]
    await enable(owner_conn, stripe_fake, org)
    await owner_conn.execute("UPDATE events SET tip_goal_cents = $2 WHERE id = $1", ev, GOAL)
    screen = await overlay(hubs[1], org, ev)
    tip = await started(hubs[0], org, ev, kind="tip", amount_cents=1234)
    body = stripe_fake.completed(tip["session_id"])
    answers = await storm(hubs, [body] * 100)
    assert Counter(a.json()["status"] for a in answers) == {"applied": 1, "duplicate": 99}
    kinds = Counter(e.get("type") for e in await room_events(screen))
    assert (kinds["tips.alert_queued"], kinds["tips.goal"]) == (1, 1), kinds
    tip_id = uuid.UUID(tip["tip_id"])
    rows = await owner_conn.fetchrow(
        "SELECT (SELECT count(*) FROM tips WHERE event_id = $1 AND status = 'paid') AS paid,"
        " (SELECT count(*) FROM tip_alerts WHERE tip_id = $2) AS alerts,"
        " (SELECT count(*) FROM ledger_entries WHERE event_id = $1 AND kind = 'payment')"
        "  AS payments,"
        " (SELECT count(*) FROM webhook_events WHERE organization_id = $3) AS claims",
        ev, tip_id, org)
    assert rows is not None and tuple(rows) == (1, 1, 1, 1)
    state = await screen.call(f"event:{ev}", "tips.state")
    assert (state["paid_cents"], state["goal_cents"]) == (1234, GOAL)
    print(f"duplicates: 100 deliveries -> applied 1, alerts {kinds['tips.alert_queued']},"
          f" goal {state['paid_cents']}")
    await screen.close()


async def test_refunds_racing_their_completions_leave_the_goal_exact(
        hub_factory: HubFactory, stripe_fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """Eight tips: full refunds, partial refunds and plain completions, each refund sent
    ahead of its completion and all of them (twice each) at once over two processes. The
    goal is the ledger's sum to the cent; refunded tips end refunded with no alert waiting,
    the others paid with exactly one alert each, and the room's events agree."""
    org, ev = event
    fake = stripe_fake
    hubs = [hub_factory(db=True, **fake.env()) for _ in range(2)]
    await enable(owner_conn, fake, org)
    await owner_conn.execute("UPDATE events SET tip_goal_cents = $2 WHERE id = $1", ev, GOAL)
    screen = await overlay(hubs[0], org, ev)
    # (amount, refunded first: None = no refund, 0 = all of it, n = n cents)
    plan = [(1000, 0), (1500, 0), (2000, 0), (1200, 300), (2500, 1000), (900, 1), (700, None),
            (1100, None)]
    tips = [await started(hubs[i % 2], org, ev, kind="tip", amount_cents=amount)
            for i, (amount, _) in enumerate(plan)]
    bodies: list[str] = []
    for tip, (_, refund) in zip(tips, plan, strict=True):
        if refund is not None:
            bodies.append(fake.refunded(tip["session_id"], refund or None))
        bodies.append(fake.completed(tip["session_id"]))
    answers = await storm(hubs, bodies + bodies)
    assert Counter(a.json()["status"] for a in answers) == {"applied": len(bodies),
                                                            "duplicate": len(bodies)}
    expected_goal = sum(a - r for a, r in plan if r != 0 and r is not None) + sum(
        a for a, r in plan if r is None)
    events = await room_events(screen)
    statuses = {str(r["id"]): r["status"] for r in await owner_conn.fetch(
        "SELECT id, status FROM tips WHERE event_id = $1", ev)}
    assert [statuses[t["tip_id"]] for t in tips] == [
        "refunded" if r == 0 else "paid" for _, r in plan]
    state = await screen.call(f"event:{ev}", "tips.state")
    on_screen = {a["tip_id"] for a in state["waiting"]} | (
        {state["showing"]["tip_id"]} if state["showing"] else set())
    done = {e["alert_id"] for e in events if e.get("type") == "tips.alert_done"}
    live = {e["alert"]["tip_id"] for e in events if e.get("type") == "tips.alert_queued"
            and e["alert"]["alert_id"] not in done}
    paid = {t["tip_id"] for t, (_, r) in zip(tips, plan, strict=True) if r != 0}
    showing = {state["showing"]["tip_id"]} if state["showing"] else set()
    # A refund takes a waiting alert off; one already on screen stays until it ends
    # (rooms.services.tips_store): that one alone may belong to a refunded tip.
    assert on_screen == live and paid <= on_screen and on_screen - paid <= showing
    queued = Counter(e["alert"]["tip_id"] for e in events if e.get("type") == "tips.alert_queued")
    assert max(queued.values()) == 1  # never two alerts for one tip
    goals = [e["paid_cents"] for e in events if e.get("type") == "tips.goal"]
    ledger = await owner_conn.fetchval(
        "SELECT sum(amount_cents)::bigint FROM ledger_entries WHERE event_id = $1"
        " AND target = 'tip' AND kind IN ('payment', 'refund')", ev)
    assert (state["paid_cents"], goals[-1], ledger) == (expected_goal,) * 3
    print(f"refund races: {len(answers)} deliveries -> goal {state['paid_cents']}"
          f" (expected {expected_goal}), alerts of paid tips {len(paid & on_screen)}"
          f" (expected {len(paid)}), refunded still showing {len(on_screen - paid)}")
    await screen.close()


async def test_duplicate_bump_deliveries_credit_each_request_once(
        hub_factory: HubFactory, stripe_fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """Three paid song-request bumps, each completion delivered 15 times at once over two
    processes: each request's paid_cents is its amount, one ledger payment and one `paid`
    queue event per bump."""
    org, ev = event
    hubs = [hub_factory(db=True, **stripe_fake.env()) for _ in range(2)]
    await enable(owner_conn, stripe_fake, org)
    room = f"event:{ev}"
    fans = [await Client.open(hubs[n % 2].ws_url, token(org, sub=f"fan-{n}")) for n in range(3)]
    amounts = [500, 800, 1300]
    ids = []
    for n, fan in enumerate(fans):
        submitted = await fan.call(room, "requests.submit", {
            "title": f"Song {n}", "artist": "X", "amount_cents": amounts[n]})
        ids.append(submitted["request"]["id"])
    watcher = await overlay(hubs[1], org, ev)
    bumps = [await started(hubs[n % 2], org, ev, sub=f"fan-{n}", kind="request",
                           amount_cents=amounts[n], request_id=ids[n]) for n in range(3)]
    bodies = [stripe_fake.completed(b["session_id"]) for b in bumps] * 15
    random.Random(13).shuffle(bodies)
    answers = await storm(hubs, bodies)
    assert Counter(a.json()["status"] for a in answers) == {"applied": 3, "duplicate": 42}
    paid_events = [e for e in await room_events(watcher)
                   if e.get("type") == "requests" and e["op"] == "paid"]
    assert sorted(e["request"]["id"] for e in paid_events) == sorted(ids)
    stored = {str(r["id"]): r["paid_cents"] for r in await owner_conn.fetch(
        "SELECT id, paid_cents FROM song_requests WHERE event_id = $1", ev)}
    assert stored == dict(zip(ids, amounts, strict=True))
    payments = await owner_conn.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE event_id = $1 AND target = 'bump'"
        " AND kind = 'payment'", ev)
    assert payments == 3
    print(f"bumps: {len(answers)} deliveries -> {len(paid_events)} paid events, {stored}")
    for c in (*fans, watcher):
        await c.close()


async def test_account_updates_delivered_newest_first_keep_the_newest_state(
        hub_factory: HubFactory, stripe_fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """account.updated events for one Connect account arrive newest first (one by one, then
    as a concurrent storm in random order, twice each): the org keeps the newest one's
    flags, and the time it was created."""
    org, _ = event
    hub = hub_factory(db=True, **stripe_fake.env())
    account = await enable(owner_conn, stripe_fake, org)
    now = int(time.time())

    def updated(age: int) -> str:  # charges on only in events whose age is even
        return stripe_fake.account_updated(account, charges_enabled=age % 2 == 0,
                                           created=now - 100 + 10 - age)

    async def stored() -> tuple[bool, bool, int]:
        row = await owner_conn.fetchrow(
            "SELECT charges_enabled, payouts_enabled,"
            " extract(epoch FROM stripe_synced_at)::bigint AS synced FROM organizations"
            " WHERE id = $1", org)
        assert row is not None
        return row["charges_enabled"], row["payouts_enabled"], row["synced"]

    for age in range(1, 6):  # newest first: 1 is the newest
        answer = await deliver(hub, updated(age))
        assert answer.json() == {"status": "applied", "detail": "synced" if age == 1 else
                                 "older than the state we have"}, answer.text
    assert await stored() == (False, False, now - 100 + 9)
    bodies = [updated(age) for age in range(0, 8)]  # 0: newer than everything so far
    random.Random(7).shuffle(bodies)
    answers = await storm([hub], bodies + bodies)
    assert Counter(a.json()["status"] for a in answers) == {"applied": 8, "duplicate": 8}
    assert await stored() == (True, True, now - 100 + 10)
    print(f"account.updated: 5 newest first + {len(answers)} at once -> newest kept")
