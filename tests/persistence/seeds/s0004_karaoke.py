"""Seed rows for 0004_karaoke's new table."""

from __future__ import annotations

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute("INSERT INTO karaoke_queues (organization_id, event_id, version,"
                       " held_singers) VALUES ($1, $2, 1, '{seed-singer}')",
                       org.id, org.live_event)
