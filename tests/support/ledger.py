"""Ledger rows for tests that credit through the server API: what Stripe's webhook (or a
cash entry) would have recorded first, so ``tips.paid`` and friends find their payment."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.support.hubproc import HubProcess


async def ledger_row(hub: HubProcess, room: str, target: str, target_id: uuid.UUID | str,
                     cents: int, payment_ref: str, *, kind: str = "payment",
                     refund_id: str | None = None) -> None:
    """Append one row for ``room``'s event as the owner; a repeat of its key is a no-op.

    ``cents`` is positive: refund and platform_fee rows are stored negative (0016).
    """
    event_id = uuid.UUID(room.removeprefix("event:"))
    signed = -cents if kind in ("refund", "platform_fee") else cents
    conn = await asyncio.wait_for(asyncpg.connect(hub.database_url), 10)
    try:
        await asyncio.wait_for(conn.execute(
            "INSERT INTO ledger_entries (organization_id, event_id, kind, amount_cents, target,"
            " target_id, payment_ref, refund_id, source, created_by)"
            " SELECT organization_id, id, $2, $3, $4, $5, $6, $7, 'stripe', 'test'"
            " FROM events WHERE id = $1 ON CONFLICT DO NOTHING",
            event_id, kind, signed, target, uuid.UUID(str(target_id)), payment_ref,
            refund_id), 10)
    finally:
        await conn.close()
