"""Postgres for event recordings (``event_recordings``, migration 0019). Every function
runs on a ``tenant_tx`` connection, so RLS keeps it to the transaction's org."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from integrations.livekit_store import Conn

RUNNING = ("starting", "recording", "stopping")
_COLUMNS = ("id, event_id, egress_id, status, layout, started_by, started_at, ended_at,"
            " error, file_location")


@dataclass(frozen=True)
class RecordingRow:
    id: uuid.UUID
    event_id: uuid.UUID
    egress_id: str | None
    status: str
    layout: str
    started_by: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    error: str | None
    file_location: str | None


async def latest(conn: Conn, event_id: uuid.UUID) -> RecordingRow | None:
    """The event's most recent recording, running or not."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM event_recordings WHERE organization_id = app_org_id()"
        " AND event_id = $1 ORDER BY started_at DESC, id LIMIT 1", event_id)
    return None if row is None else RecordingRow(**dict(row))


async def running(conn: Conn, event_id: uuid.UUID) -> RecordingRow | None:
    """The event's running recording (at most one), row-locked."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM event_recordings WHERE organization_id = app_org_id()"
        " AND event_id = $1 AND status = ANY($2::text[]) FOR UPDATE", event_id, list(RUNNING))
    return None if row is None else RecordingRow(**dict(row))


async def by_egress(conn: Conn, event_id: uuid.UUID, egress_id: str) -> RecordingRow | None:
    """The event's recording LiveKit knows as ``egress_id``, row-locked."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM event_recordings WHERE organization_id = app_org_id()"
        " AND event_id = $1 AND egress_id = $2 FOR UPDATE", event_id, egress_id)
    return None if row is None else RecordingRow(**dict(row))


async def reserve(conn: Conn, event_id: uuid.UUID, layout: str,
                  started_by: str) -> RecordingRow:
    """A new 'starting' recording, before LiveKit is asked (the caller holds the event
    lock and has checked nothing is running; the unique index would refuse otherwise)."""
    row = await conn.fetchrow(
        "INSERT INTO event_recordings (organization_id, event_id, layout, started_by)"
        f" VALUES (app_org_id(), $1, $2, $3) RETURNING {_COLUMNS}", event_id, layout,
        started_by)
    assert row is not None  # INSERT ... RETURNING always returns the row
    return RecordingRow(**dict(row))


async def save(conn: Conn, rec: RecordingRow) -> None:
    """Write ``rec``'s mutable fields back (the caller holds its row lock)."""
    await conn.execute(
        "UPDATE event_recordings SET egress_id = $2, status = $3, ended_at = $4, error = $5,"
        " file_location = $6 WHERE id = $1 AND organization_id = app_org_id()",
        rec.id, rec.egress_id, rec.status, rec.ended_at, rec.error, rec.file_location)


async def by_id(conn: Conn, recording_id: uuid.UUID) -> RecordingRow | None:
    """One recording of the org, row-locked."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM event_recordings WHERE organization_id = app_org_id()"
        " AND id = $1 FOR UPDATE", recording_id)
    return None if row is None else RecordingRow(**dict(row))
