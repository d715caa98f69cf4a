"""Seed rows for 0008_stripe's tables: one paid tip checkout in the live event."""

from __future__ import annotations

import uuid

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    tip = uuid.uuid4()
    await conn.execute(
        "INSERT INTO tips (id, organization_id, event_id, amount_cents, platform_fee_cents,"
        " status) VALUES ($1, $2, $3, 500, 48, 'pending')", tip, org.id, org.live_event)
    await conn.execute(
        "INSERT INTO stripe_checkouts (id, organization_id, event_id, kind, tip_id, user_sub,"
        " amount_cents, fee_cents, session_id) VALUES ($1, $2, $3, 'tip', $1, $4, 500, 48, $5)",
        tip, org.id, org.live_event, str(org.viewer), f"cs_seed_{tip.hex}")
