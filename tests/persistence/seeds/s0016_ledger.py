"""Seed rows for 0016_ledger: a tip's payment and platform fee in the live event."""

from __future__ import annotations

import uuid

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    tip, ref = uuid.uuid4(), f"pi_seed_{uuid.uuid4().hex}"
    await conn.executemany(
        "INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents, target,"
        " target_id, payment_ref, source, created_by) VALUES ($1, $2, $3, $4, 'tip', $5, $6,"
        " 'stripe', 'seed')",
        [(org.id, org.live_event, "payment", 500, tip, ref),
         (org.id, org.live_event, "platform_fee", -48, tip, ref)])
