"""A Stripe webhook's claim and its effect commit together, or not at all."""

from __future__ import annotations

import json
import uuid

import asyncpg

from tests.integration.test_stripe import (
    HubFactory,
    deliver,
    enable,
    no_event,
    overlay,
    paid_tip,
    until_tips,
)
from tests.support.fake_stripe import FakeStripe

Event = tuple[uuid.UUID, uuid.UUID]


async def _fail_commit_of(owner: asyncpg.Connection, event_id: str) -> str:
    """Make any transaction that claims ``event_id`` fail at COMMIT, after all its work ran.

    A deferred constraint trigger fires only when the transaction commits: by then the
    claim is inserted and the tips service has recorded the tip and queued its alert.
    """
    name = f"fail_{uuid.uuid4().hex[:12]}"
    await owner.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.event_id = {event_id!r} THEN
                RAISE EXCEPTION 'injected failure at commit';
            END IF;
            RETURN NULL;
        END $$""")
    await owner.execute(f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON webhook_events"
                        f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {name}()")
    return name


async def test_failure_after_the_effect_rolls_back_the_claim_and_redelivery_applies(
        hub_factory: HubFactory, stripe_fake: FakeStripe, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """Commit fails after the claim and tips.paid ran: no claim, no paid tip, no alert on
    screen, a 500 so Stripe retries; the redelivery then applies it, once."""
    org, ev, fake = *event, stripe_fake
    hub = hub_factory(db=True, **fake.env())
    await enable(owner_conn, fake, org)
    screen = await overlay(hub, org, ev)
    tip = await paid_tip(hub, fake, org, ev, amount=700)
    tip_id = uuid.UUID(tip["tip_id"])
    body = fake.completed(tip["session_id"])
    event_id = json.loads(body)["id"]

    trigger = await _fail_commit_of(owner_conn, event_id)
    try:
        failed = await deliver(hub, body)
        assert failed.status_code == 500, failed.text
        claims = await owner_conn.fetchval(
            "SELECT count(*) FROM webhook_events WHERE event_id = $1", event_id)
        status = await owner_conn.fetchval("SELECT status FROM tips WHERE id = $1", tip_id)
        alerts = await owner_conn.fetchval(
            "SELECT count(*) FROM tip_alerts WHERE tip_id = $1", tip_id)
        assert (claims, status, alerts) == (0, "pending", 0)
        await no_event(screen, "tips.alert_queued", 1.0)  # nothing broadcast either
    finally:
        await owner_conn.execute(f"DROP TRIGGER {trigger} ON webhook_events")
        await owner_conn.execute(f"DROP FUNCTION {trigger}()")

    again = await deliver(hub, body)
    assert again.status_code == 200 and again.json()["status"] == "applied", again.text
    queued = await until_tips(screen, "tips.alert_queued")
    assert queued["alert"]["tip_id"] == str(tip_id)
    assert await owner_conn.fetchval("SELECT status FROM tips WHERE id = $1", tip_id) == "paid"
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM tip_alerts WHERE tip_id = $1", tip_id) == 1
    assert (await deliver(hub, body)).json()["status"] == "duplicate"
    await no_event(screen, "tips.alert_queued", 1.0)
    await screen.close()
