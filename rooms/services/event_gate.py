"""The one check of whether an event still takes part in a feature.

Requests and karaoke call it in the transaction where they lock their queue row, just
before locking it (event row first, then the queue row, as ``event.update`` does, so the
two never deadlock):
a disabled feature refuses every change of its queue; an ended or cancelled event also
refuses new entries (a request, a signup). The event row is share-locked, so ending an
event waits for a submit already under way and every later one is refused.
"""

from __future__ import annotations

import uuid

from persistence import events
from rooms.codes import ErrorCode, ServiceError


async def require_open(conn: events.Conn, event_id: uuid.UUID, feature: events.Feature, *,
                       new_entry: bool) -> None:
    """Refuse when ``feature`` is off for the event, or (``new_entry``) it has ended.

    Raises:
        ServiceError: UNKNOWN_ROOM (no such event in the caller's org), or REFUSED.
    """
    row = await events.gate(conn, event_id)
    if row is None:
        raise ServiceError(ErrorCode.UNKNOWN_ROOM, "unknown event")
    if not row[feature]:
        raise ServiceError(ErrorCode.REFUSED, f"{feature} are off for this event")
    if new_entry and row["status"] in events.CLOSED:
        raise ServiceError(ErrorCode.REFUSED, "the event has ended")
