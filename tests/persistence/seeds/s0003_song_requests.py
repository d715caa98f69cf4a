"""Seed rows for 0003_song_requests' tables."""

from __future__ import annotations

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute("INSERT INTO request_queues (organization_id, event_id, version)"
                       " VALUES ($1, $2, 1)", org.id, org.live_event)
    request_id = await conn.fetchval(
        "INSERT INTO song_requests (organization_id, event_id, song_title, requester,"
        " title_key, payment, offered_cents, paid_cents) VALUES ($1, $2, 'Paid Song', 'fan',"
        " 'paid song', 'paid', 500, 500) RETURNING id", org.id, org.live_event)
    await conn.execute(
        "INSERT INTO song_request_payments (organization_id, request_id, kind, payment_id,"
        " amount_cents) VALUES ($1, $2, 'payment', $3, 500)",
        org.id, request_id, f"pi_{org.id.hex}")
