"""SQL for the tips service. Every function runs on a ``tenant_tx`` connection.

Hot queries also say ``organization_id = app_org_id()`` so the planner can use the
(organization_id, ...) indexes (the RLS policy's OR alone keeps it from doing so).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from persistence import ledger
from rooms.services.tips_wire import Alert

Conn = asyncpg.Connection | PoolConnectionProxy
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(at: datetime) -> int:
    """Milliseconds since the Unix epoch, exactly (no float rounding)."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


@dataclass
class Queue:
    """An event's queue row and settings, read under the row lock (or without, for reads)."""

    event_id: uuid.UUID
    version: int
    next_seq: int
    goal_cents: int | None
    priority_cents: int | None
    timeout_ms: int
    now: datetime


_EVENT = """
SELECT e.tip_goal_cents, e.tip_alert_timeout_ms, o.tip_priority_cents, now() AS now
FROM events e JOIN organizations o ON o.id = e.organization_id
WHERE e.organization_id = app_org_id() AND e.id = $1
"""
_STATE = """
SELECT version, next_seq FROM tip_alert_state
WHERE organization_id = app_org_id() AND event_id = $1
"""


async def read_queue(conn: Conn, event_id: uuid.UUID, default_timeout_ms: int, *,
                     lock: bool) -> Queue | None:
    """The event's queue; None if the org has no such event.

    With ``lock``, the state row is created if missing and locked FOR UPDATE: every
    change to one event's tips queue runs under this lock, one at a time.
    """
    event = await conn.fetchrow(_EVENT, event_id)
    if event is None:
        return None
    state = await conn.fetchrow(_STATE + (" FOR UPDATE" if lock else ""), event_id)
    if state is None and lock:
        await conn.execute(
            "INSERT INTO tip_alert_state (organization_id, event_id) VALUES (app_org_id(), $1)"
            " ON CONFLICT (organization_id, event_id) DO NOTHING", event_id)
        state = await conn.fetchrow(_STATE + " FOR UPDATE", event_id)
    return Queue(event_id=event_id, version=state["version"] if state else 0,
                 next_seq=state["next_seq"] if state else 1,
                 goal_cents=event["tip_goal_cents"], priority_cents=event["tip_priority_cents"],
                 timeout_ms=event["tip_alert_timeout_ms"] or default_timeout_ms,
                 now=event["now"])


async def save_queue(conn: Conn, q: Queue) -> None:
    await conn.execute(
        "UPDATE tip_alert_state SET version = $2, next_seq = $3, updated_at = now()"
        " WHERE organization_id = app_org_id() AND event_id = $1",
        q.event_id, q.version, q.next_seq)


async def paid_cents(conn: Conn, event_id: uuid.UUID) -> int:
    """Goal progress, from the ledger: paid tips' payments less their (partial) refunds."""
    return await ledger.tips_goal(conn, event_id)


# -- alerts -----------------------------------------------------------------------------

_ALERT_COLUMNS = """
a.id, a.tip_id, t.amount_cents, t.from_name, t.message, a.priority, a.seq, a.created_at,
a.shown_at, a.status
FROM tip_alerts a JOIN tips t ON t.organization_id = a.organization_id AND t.id = a.tip_id
"""


def alert_of(row: asyncpg.Record, timeout_ms: int) -> Alert:
    shown = row["shown_at"]
    return Alert(alert_id=row["id"], tip_id=row["tip_id"], amount_cents=row["amount_cents"],
                 from_name=row["from_name"], message=row["message"], priority=row["priority"],
                 seq=row["seq"], created_at=ms(row["created_at"]),
                 shown_at=None if shown is None else ms(shown),
                 ends_at=None if shown is None else ms(shown) + timeout_ms)


async def live_alerts(conn: Conn, event_id: uuid.UUID) -> list[asyncpg.Record]:
    """The showing alert (if any) and the waiting ones, in the order they will show."""
    return await conn.fetch(
        f"SELECT {_ALERT_COLUMNS} WHERE a.organization_id = app_org_id() AND a.event_id = $1"
        " AND a.status IN ('waiting', 'showing')"
        " ORDER BY a.status = 'showing' DESC, a.priority DESC, a.seq", event_id)


async def alert_by_id(conn: Conn, event_id: uuid.UUID, alert_id: uuid.UUID
                      ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ALERT_COLUMNS} WHERE a.organization_id = app_org_id() AND a.event_id = $1"
        " AND a.id = $2", event_id, alert_id)


async def queue_alert(conn: Conn, q: Queue, tip_id: uuid.UUID, priority: bool
                      ) -> asyncpg.Record | None:
    """Queue the tip's alert; None if it already has one (one alert per tip, ever)."""
    inserted = await conn.fetchval(
        "INSERT INTO tip_alerts (organization_id, event_id, tip_id, seq, priority)"
        " VALUES (app_org_id(), $1, $2, $3, $4)"
        " ON CONFLICT (organization_id, tip_id) DO NOTHING RETURNING id",
        q.event_id, tip_id, q.next_seq, priority)
    if inserted is None:
        return None
    q.next_seq += 1
    return await alert_by_id(conn, q.event_id, inserted)


async def finish(conn: Conn, alert_id: uuid.UUID, outcome: str, *, from_status: str,
                 shown_at: datetime | None = None) -> bool:
    """Move an alert out of ``from_status``; False if it had already moved (someone won)."""
    status = await conn.execute(
        "UPDATE tip_alerts SET status = $2, done_at = now()"
        " WHERE organization_id = app_org_id() AND id = $1 AND status = $3"
        " AND ($4::timestamptz IS NULL OR shown_at = $4)",
        alert_id, outcome, from_status, shown_at)
    return bool(status == "UPDATE 1")


async def expire_stale(conn: Conn, event_id: uuid.UUID, max_age_ms: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "UPDATE tip_alerts SET status = 'expired', done_at = now()"
        " WHERE organization_id = app_org_id() AND event_id = $1 AND status = 'waiting'"
        " AND created_at < now() - make_interval(secs => $2::float8 / 1000)"
        " RETURNING id, seq", event_id, max_age_ms)
    return [r["id"] for r in sorted(rows, key=lambda r: int(r["seq"]))]


async def show_next(conn: Conn, event_id: uuid.UUID) -> asyncpg.Record | None:
    """Put the first waiting alert (priority lane first, then arrival) on screen."""
    shown = await conn.fetchval(
        "UPDATE tip_alerts SET status = 'showing', shown_at = now()"
        " WHERE id = (SELECT id FROM tip_alerts WHERE organization_id = app_org_id()"
        "   AND event_id = $1 AND status = 'waiting' ORDER BY priority DESC, seq LIMIT 1)"
        " RETURNING id", event_id)
    return None if shown is None else await alert_by_id(conn, event_id, shown)


async def drop_waiting(conn: Conn, tip_id: uuid.UUID) -> uuid.UUID | None:
    """Take a refunded tip's alert out of the waiting queue (a shown one stays as it is)."""
    alert: uuid.UUID | None = await conn.fetchval(
        "UPDATE tip_alerts SET status = 'refunded', done_at = now()"
        " WHERE organization_id = app_org_id() AND tip_id = $1 AND status = 'waiting'"
        " RETURNING id", tip_id)
    return alert


# -- tips -------------------------------------------------------------------------------


async def tip_for_update(conn: Conn, tip_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, event_id, status, amount_cents FROM tips"
        " WHERE organization_id = app_org_id() AND id = $1 FOR UPDATE", tip_id)


async def tip_by_payment(conn: Conn, payment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, status FROM tips WHERE organization_id = app_org_id()"
        " AND stripe_payment_intent_id = $1", payment_id)


async def refund_recorded(conn: Conn, tip_id: uuid.UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM tip_refunds WHERE organization_id = app_org_id()"
        " AND tip_id = $1)", tip_id)
    return found


async def record_early_refund(conn: Conn, event_id: uuid.UUID, tip_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "INSERT INTO tip_refunds (organization_id, event_id, tip_id)"
        " VALUES (app_org_id(), $1, $2) ON CONFLICT (organization_id, tip_id) DO NOTHING",
        event_id, tip_id)
    return bool(status == "INSERT 0 1")


async def upsert_tip(conn: Conn, event_id: uuid.UUID, tip_id: uuid.UUID, *, status: str,
                     amount_cents: int, fee_cents: int, from_name: str | None,
                     message: str | None, payment_id: str) -> None:
    """Insert the tip, or mark the existing pending row ``status`` with the payment's facts."""
    await conn.execute(
        "INSERT INTO tips (id, organization_id, event_id, amount_cents, platform_fee_cents,"
        " status, from_name, message, stripe_payment_intent_id, paid_at, refunded_at)"
        " VALUES ($1, app_org_id(), $2, $3, $4, $5, $6, $7, $8, now(),"
        "  CASE WHEN $5 = 'refunded' THEN now() END)"
        " ON CONFLICT (id) DO UPDATE SET event_id = EXCLUDED.event_id,"
        "  amount_cents = EXCLUDED.amount_cents,"
        "  platform_fee_cents = EXCLUDED.platform_fee_cents, status = EXCLUDED.status,"
        "  from_name = coalesce(EXCLUDED.from_name, tips.from_name),"
        "  message = coalesce(EXCLUDED.message, tips.message),"
        "  stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,"
        "  paid_at = EXCLUDED.paid_at, refunded_at = EXCLUDED.refunded_at",
        tip_id, event_id, amount_cents, fee_cents, status, from_name, message, payment_id)


async def mark_refunded(conn: Conn, tip_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE tips SET status = 'refunded', refunded_at = now()"
        " WHERE organization_id = app_org_id() AND id = $1", tip_id)
