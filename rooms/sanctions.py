"""Mutes and bans (``chat_sanctions``): who may not post, or not act at all, right now.

A ban stops every room service call and chat; a mute stops chat only. Both are read
from Postgres on each check, so they apply on every node from the next message on.
"""

from __future__ import annotations

from typing import Final

from asyncpg.pool import PoolConnectionProxy

# The sanctions in force for the user named by parameter {sub}, in the tenant's org.
IN_FORCE: Final = ("FROM chat_sanctions WHERE organization_id = app_org_id()"
                   " AND user_sub = {sub} AND until > now()")


async def banned(conn: PoolConnectionProxy, sub: str) -> bool:
    """Whether ``sub`` is banned in the transaction's org."""
    found: bool = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 {IN_FORCE.format(sub='$1')} AND kind = 'ban')", sub)
    return found
