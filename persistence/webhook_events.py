"""Provider webhook ids already seen (``webhook_events``): each event is applied once.

Every provider (Stripe, Twilio, LiveKit) claims an event's id in the same transaction
that applies it. A concurrent delivery of the same id waits on the unique index until
the first one's transaction ends: it then sees the row (a duplicate) or, if that one
rolled back, claims the event itself.
"""

from __future__ import annotations

from typing import Literal

from asyncpg.pool import PoolConnectionProxy

Provider = Literal["stripe", "twilio", "livekit"]


async def claim(conn: PoolConnectionProxy, provider: Provider, event_id: str, type_: str,
                payload: str, *, processed: bool = True) -> bool:
    """Record the event in the transaction's org; False when it was recorded already.

    ``payload`` is the event as JSON text. ``processed`` False leaves ``processed_at``
    empty for the caller to set when its work (e.g. a late SMS reply) is done.
    """
    inserted = await conn.fetchval(
        "INSERT INTO webhook_events (organization_id, provider, event_id, type, payload,"
        " processed_at) VALUES (app_org_id(), $1, $2, $3, $4::jsonb,"
        " CASE WHEN $5 THEN now() END)"
        " ON CONFLICT (provider, event_id) DO NOTHING RETURNING true",
        provider, event_id, type_, payload, processed)
    return bool(inserted)
