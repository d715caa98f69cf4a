"""Seed rows for 0009_sms_agents' tables: an opt-out, a price, an inquiry, a task."""

from __future__ import annotations

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    phone = f"+1555{org.id.int % 10**7:07d}"
    await conn.execute("INSERT INTO sms_opt_outs (organization_id, phone, opted_out, keyword)"
                       " VALUES ($1, $2, true, 'STOP')", org.id, phone)
    await conn.execute("INSERT INTO service_prices (organization_id, service, hourly_cents)"
                       " VALUES ($1, 'wedding', 25000)", org.id)
    await conn.execute("INSERT INTO booking_inquiries (organization_id, phone, event_date,"
                       " event_type) VALUES ($1, $2, '2030-06-01', 'wedding')", org.id, phone)
    await conn.execute("INSERT INTO follow_up_tasks (organization_id, phone, summary)"
                       " VALUES ($1, $2, 'call back')", org.id, phone)
