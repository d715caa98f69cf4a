"""Postgres for the LiveKit integration. Every function runs on a ``tenant_tx`` connection,
so RLS limits it to the transaction's org, except ``room_event`` (the narrow lookup)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class EventRow:
    id: uuid.UUID
    livekit_room: str | None
    ppv_price_cents: int | None
    status: str


async def event(conn: Conn, event_id: uuid.UUID, *, lock: bool = False) -> EventRow | None:
    """The org's event (None for another org's or a missing one), row-locked on request."""
    row = await conn.fetchrow(
        "SELECT id, livekit_room, ppv_price_cents, status FROM events"
        " WHERE id = $1 AND organization_id = app_org_id()"
        + (" FOR UPDATE" if lock else ""), event_id)
    return None if row is None else EventRow(**dict(row))


async def has_ppv_access(conn: Conn, event_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """An unexpired access row exists and, when a Stripe checkout bought it, the money
    ledger says that purchase still counts (its payment less refunds is above zero):
    checked on every mint, so a fully refunded purchase mints nothing even if its access
    row outlived the refund, while a partly refunded one keeps access. A row with no
    checkout (granted by hand) needs no payment. FOR SHARE: a concurrent revoke waits
    for this grant to commit, so it then kicks a participant who already holds the token."""
    found = await conn.fetchval(
        "SELECT true FROM ppv_access p WHERE p.event_id = $1 AND p.user_id = $2"
        " AND p.organization_id = app_org_id()"
        " AND (p.expires_at IS NULL OR p.expires_at > now())"
        " AND (p.stripe_checkout_session_id IS NULL OR (SELECT coalesce(sum(l.amount_cents), 0)"
        "  FROM stripe_checkouts c JOIN ledger_entries l ON l.organization_id ="
        "  c.organization_id AND l.target = 'ppv' AND l.target_id = c.id"
        "  AND l.kind IN ('payment', 'refund')"
        "  WHERE c.organization_id = app_org_id() AND c.kind = 'ppv'"
        "  AND c.session_id = p.stripe_checkout_session_id) > 0)"
        " FOR SHARE OF p", event_id, user_id)
    return bool(found)


async def known_user(conn: Conn, user_id: uuid.UUID | None) -> uuid.UUID | None:
    """user_id when it has a users row the context can see (audit_log.actor_id is an FK)."""
    if user_id is None:
        return None
    found: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE id = $1", user_id)
    return found


async def set_live(conn: Conn, event_id: uuid.UUID, room: str) -> str | None:
    """Status 'live'; keep an existing livekit_room, else store ``room``. Returns the room,
    or None when the event has ended or was cancelled (it never goes live again)."""
    stored: str | None = await conn.fetchval(
        "UPDATE events SET status = 'live', livekit_room = coalesce(livekit_room, $2)"
        " WHERE id = $1 AND organization_id = app_org_id()"
        " AND status IN ('scheduled', 'live') RETURNING livekit_room",
        event_id, room)
    return stored


# The lifecycle a LiveKit room may move an event along: a room that starts again never
# revives an ended or cancelled event (the operator's word is final).
_FROM = {"live": ("scheduled", "live"), "ended": ("scheduled", "live")}


async def set_status(conn: Conn, event_id: uuid.UUID, status: str) -> tuple[bool, str | None]:
    """Move the event to ``status`` when its lifecycle allows; (moved, its livekit_room)."""
    row = await conn.fetchrow(
        "UPDATE events SET status = $2 WHERE id = $1 AND organization_id = app_org_id()"
        " AND status = ANY($3::text[]) RETURNING livekit_room", event_id, status,
        list(_FROM[status]))
    return row is not None, None if row is None else row[0]


async def delete_ppv(conn: Conn, event_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Remove the purchase; True if there was one."""
    gone = await conn.fetchval(
        "DELETE FROM ppv_access WHERE event_id = $1 AND user_id = $2"
        " AND organization_id = app_org_id() RETURNING true", event_id, user_id)
    return bool(gone)


async def room_event(pool: asyncpg.Pool, room: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(event id, org id) for a LiveKit room name, with no tenant context (0007)."""
    row = await pool.fetchrow(
        "SELECT event_id, organization_id FROM app_livekit_room_event($1)", room)
    return None if row is None else (row["event_id"], row["organization_id"])


async def set_presence(conn: Conn, event_id: uuid.UUID, identity: str, present: bool,
                       at: float) -> None:
    """Record a join or leave unless a newer one for this identity is already stored.

    Webhooks may arrive out of order. On a tie (created_at has whole seconds) a leave
    wins, so a join+leave in one second ends absent whichever arrives first.
    """
    await conn.execute(
        "INSERT INTO livekit_participants (organization_id, event_id, identity, present,"
        " changed_at) VALUES (app_org_id(), $1, $2, $3, to_timestamp($4))"
        " ON CONFLICT (organization_id, event_id, identity) DO UPDATE"
        " SET present = excluded.present, changed_at = excluded.changed_at"
        " WHERE livekit_participants.changed_at < excluded.changed_at"
        " OR (livekit_participants.changed_at = excluded.changed_at AND NOT excluded.present)",
        event_id, identity, present, at)


async def clear_presence(conn: Conn, event_id: uuid.UUID, at: float) -> None:
    """The room finished: nobody is in it any more."""
    await conn.execute(
        "UPDATE livekit_participants SET present = false, changed_at = to_timestamp($2)"
        " WHERE organization_id = app_org_id() AND event_id = $1 AND present", event_id, at)


async def recount(conn: Conn, event_id: uuid.UUID) -> int:
    """Store and return the event's viewer count, recomputed from presence rows.

    Callers hold the event row lock (``event(lock=True)``), so concurrent webhooks for
    one event count one after the other and the stored count is never a stale one.
    """
    count: int = await conn.fetchval(
        "UPDATE events SET viewer_count = (SELECT count(*) FROM livekit_participants"
        "  WHERE organization_id = app_org_id() AND event_id = $1 AND present)"
        " WHERE id = $1 AND organization_id = app_org_id() RETURNING viewer_count", event_id)
    return count
