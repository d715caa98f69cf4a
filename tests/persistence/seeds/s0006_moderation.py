"""Seed rows for 0006_moderation's tables."""

from __future__ import annotations

import asyncpg

from tests.persistence.seed import Org


async def seed(conn: asyncpg.Connection, org: Org) -> None:
    await conn.execute("INSERT INTO chat_settings (organization_id, blocked_words)"
                       " VALUES ($1, '{spam}')", org.id)
    await conn.execute("INSERT INTO chat_room_settings (organization_id, room, slow_mode_seconds)"
                       " VALUES ($1, $2, 5)", org.id, org.room)
    await conn.execute("INSERT INTO chat_sanctions (organization_id, user_sub, kind, until,"
                       " created_by) VALUES ($1, 'troll', 'mute', now() + interval '1 hour',"
                       " 'seed')", org.id)
