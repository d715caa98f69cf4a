"""Seed rows for 0015_event_overlays: the live event's overlay secret (its hash)."""

from __future__ import annotations

import hashlib

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute(
        "INSERT INTO event_overlays (organization_id, event_id, secret_hash, rotated_by)"
        " VALUES ($1, $2, $3, 'seed')", org.id, org.live_event,
        hashlib.sha256(org.live_event.bytes).digest())
