"""Seed rows for 0005_tip_alerts' tables: a queue state, one alert, one early refund."""

from __future__ import annotations

import uuid

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute(
        "INSERT INTO tip_alert_state (organization_id, event_id, version, next_seq)"
        " VALUES ($1, $2, 2, 2)", org.id, org.live_event)
    tip = await conn.fetchval(
        "INSERT INTO tips (organization_id, event_id, amount_cents, status, from_name, paid_at)"
        " VALUES ($1, $2, 700, 'paid', 'Seed fan', now()) RETURNING id", org.id, org.live_event)
    await conn.execute(
        "INSERT INTO tip_alerts (organization_id, event_id, tip_id, seq) VALUES ($1, $2, $3, 1)",
        org.id, org.live_event, tip)
    await conn.execute(
        "INSERT INTO tip_refunds (organization_id, event_id, tip_id) VALUES ($1, $2, $3)",
        org.id, org.live_event, uuid.uuid4())
