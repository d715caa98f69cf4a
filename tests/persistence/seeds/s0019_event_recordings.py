"""Seed rows for 0019_event_recordings: a finished recording of the live event."""

from __future__ import annotations

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute(
        "INSERT INTO event_recordings (organization_id, event_id, egress_id, status, layout,"
        " started_by, ended_at) VALUES ($1, $2, $3, 'stopped', 'speaker', 'seed', now())",
        org.id, org.live_event, f"EG_{org.id.hex[:12]}")
