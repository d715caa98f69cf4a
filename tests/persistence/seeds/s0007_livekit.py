"""Seed rows for 0007_livekit's tables: one participant present in the live event."""

from __future__ import annotations

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute(
        "INSERT INTO livekit_participants (organization_id, event_id, identity, present,"
        " changed_at) VALUES ($1, $2, $3, true, now())", org.id, org.live_event, str(org.viewer))
