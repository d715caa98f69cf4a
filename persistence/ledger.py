"""The money ledger (0016): every movement of money is one append-only row, in cents.

Functions take a ``tenant_tx`` connection (RLS: the caller's org only). Amounts are signed
from the org's point of view (see 0016): ``payment`` and ``fee_refund`` positive,
``platform_fee`` and ``refund`` negative; callers pass positive cents and ``record`` signs
them. What a tip, bump or pay-per-view purchase counts for is the sum of its payment and
refund rows: goal progress, the paid ranking and pay-per-view access are read from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn = asyncpg.Connection | PoolConnectionProxy
Kind = Literal["payment", "platform_fee", "refund", "fee_refund"]
Target = Literal["tip", "bump", "ppv"]
Source = Literal["stripe", "manual"]
SIGN: Final[dict[str, int]] = {"payment": 1, "platform_fee": -1, "refund": -1,
                               "fee_refund": 1}
MANUAL_PREFIX: Final = "manual_"


@dataclass(frozen=True)
class Entry:
    """One movement; ``cents`` is positive, its sign comes from ``kind``."""

    event_id: uuid.UUID
    kind: Kind
    cents: int
    target: Target
    target_id: uuid.UUID
    payment_ref: str
    refund_id: str | None = None
    session_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    source: Source = "stripe"
    created_by: str = "stripe"
    note: str | None = None
    currency: str = "usd"


@dataclass(frozen=True)
class Totals:
    """An event's money, in cents: gross payments, fees net of fee refunds, refunds, net."""

    gross_cents: int
    fees_cents: int
    refunds_cents: int
    net_cents: int
    manual_cents: int
    payments: int
    refunds: int


async def record(conn: Conn, e: Entry) -> bool:
    """Append ``e``; False if its unique key is taken (a redelivery, or another org's id)."""
    status = await conn.execute(
        "INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents, currency,"
        " target, target_id, payment_ref, refund_id, checkout_session_id, payment_intent_id,"
        " charge_id, source, created_by, note)"
        " VALUES (app_org_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT DO NOTHING",
        e.event_id, e.kind, SIGN[e.kind] * e.cents, e.currency, e.target, e.target_id,
        e.payment_ref, e.refund_id, e.session_id, e.payment_intent_id, e.charge_id, e.source,
        e.created_by, e.note)
    return bool(status == "INSERT 0 1")


async def amount(conn: Conn, kind: Kind, target: Target, target_id: uuid.UUID,
                 ref: str) -> int | None:
    """The cents (positive) of the ``kind`` row for ``target`` whose payment_ref (payment,
    platform_fee) or refund_id (refund, fee_refund) is ``ref``; None without one."""
    column = "refund_id" if kind in ("refund", "fee_refund") else "payment_ref"
    cents: int | None = await conn.fetchval(
        f"SELECT abs(amount_cents) FROM ledger_entries WHERE organization_id = app_org_id()"
        f" AND kind = $1 AND target = $2 AND target_id = $3 AND {column} = $4",
        kind, target, target_id, ref)
    return cents


async def counted(conn: Conn, target: Target, target_id: uuid.UUID) -> int:
    """What the target still counts for: its payments less its refunds."""
    total: int = await conn.fetchval(
        "SELECT coalesce(sum(amount_cents), 0)::bigint FROM ledger_entries"
        " WHERE organization_id = app_org_id() AND target = $1 AND target_id = $2"
        " AND kind IN ('payment', 'refund')", target, target_id)
    return total


async def refunded(conn: Conn, payment_ref: str) -> tuple[int, int]:
    """(refunded cents, fee refunded cents) so far on one payment, both positive."""
    row = await conn.fetchrow(
        "SELECT coalesce(-sum(amount_cents) FILTER (WHERE kind = 'refund'), 0),"
        " coalesce(sum(amount_cents) FILTER (WHERE kind = 'fee_refund'), 0)"
        " FROM ledger_entries WHERE organization_id = app_org_id() AND payment_ref = $1",
        payment_ref)
    assert row is not None
    return int(row[0]), int(row[1])


async def tips_goal(conn: Conn, event_id: uuid.UUID) -> int:
    """Goal progress: what the event's paid tips still count for (refunds taken off)."""
    total: int = await conn.fetchval(
        "SELECT coalesce(sum(l.amount_cents), 0)::bigint FROM ledger_entries l"
        " JOIN tips t ON t.organization_id = l.organization_id AND t.id = l.target_id"
        " WHERE l.organization_id = app_org_id() AND l.event_id = $1 AND l.target = 'tip'"
        " AND l.kind IN ('payment', 'refund') AND t.status = 'paid'", event_id)
    return total


async def totals(conn: Conn, event_id: uuid.UUID) -> Totals:
    row = await conn.fetchrow(
        "SELECT coalesce(sum(amount_cents) FILTER (WHERE kind = 'payment'), 0),"
        " coalesce(-sum(amount_cents) FILTER (WHERE kind IN ('platform_fee', 'fee_refund')), 0),"
        " coalesce(-sum(amount_cents) FILTER (WHERE kind = 'refund'), 0),"
        " coalesce(sum(amount_cents), 0),"
        " coalesce(sum(amount_cents) FILTER (WHERE kind = 'payment' AND source = 'manual'), 0),"
        " count(*) FILTER (WHERE kind = 'payment'), count(*) FILTER (WHERE kind = 'refund')"
        " FROM ledger_entries WHERE organization_id = app_org_id() AND event_id = $1", event_id)
    assert row is not None
    return Totals(*(int(v) for v in row))
