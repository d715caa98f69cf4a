"""Events and their settings in Postgres: create, read, list, change settings, lifecycle.

Every function runs on a connection whose claims are already set (``tenant_tx``) or, for
operators' tools (``hub demo``, ``hub seed``), on the owner's connection. Settings live
where the services read them: the event row (title, start, tip goal and alert timeout,
pay-per-view price, visibility, feature toggles), ``request_queues`` (cap per fan, song
length) and ``karaoke_queues`` (songs per singer, slot length).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

Conn = Any  # a pool connection (tenant_tx) or a plain asyncpg connection (owner tools)
Status = Literal["scheduled", "live", "ended", "cancelled"]
Feature = Literal["tips", "requests", "karaoke"]

# Which features a new event has on, by the org's product (events.*_enabled).
FEATURE_DEFAULTS: Final[Mapping[str, Mapping[Feature, bool]]] = {
    "tipjar": {"tips": True, "requests": True, "karaoke": False},
    "djdash": {"tips": True, "requests": True, "karaoke": True},
    "m10dj": {"tips": True, "requests": True, "karaoke": True},
}
# The lifecycle: scheduled -> live -> ended, and scheduled -> cancelled.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "scheduled": frozenset({"live", "cancelled"}),
    "live": frozenset({"ended"}),
    "ended": frozenset(),
    "cancelled": frozenset(),
}
CLOSED: Final = frozenset({"ended", "cancelled"})
# Columns of the event row a settings change may set (names are ours, never the caller's).
EVENT_COLUMNS: Final = ("title", "starts_at", "tip_goal_cents", "tip_alert_timeout_ms",
                        "ppv_price_cents", "visibility", "tips_enabled", "requests_enabled",
                        "karaoke_enabled")
REQUEST_COLUMNS: Final = ("max_open_per_fan", "song_seconds")
KARAOKE_COLUMNS: Final = ("max_active", "slot_seconds")


class Event(msgspec.Struct, frozen=True):
    """An event with every setting, as the API shows it."""

    id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    status: Status
    visibility: Literal["public", "private"]
    starts_at: dt.datetime | None
    tip_goal_cents: int | None
    tip_alert_timeout_ms: int | None  # None: the hub default (HUB_TIP_ALERT_TIMEOUT)
    ppv_price_cents: int | None  # None or 0: free to watch
    tips: bool
    requests: bool
    karaoke: bool
    max_open_per_fan: int  # request cap per fan
    song_seconds: int  # average song length, for request wait estimates
    karaoke_max_active: int  # songs a singer may have queued at once
    karaoke_slot_seconds: int  # karaoke slot length, for wait estimates
    livekit_room: str | None
    created_at: dt.datetime

    @property
    def pay_per_view(self) -> bool:
        return bool(self.ppv_price_cents)


# Queue rows may not exist yet: their columns' defaults (0003, 0004) stand in.
_SELECT = """
SELECT e.id, e.organization_id, e.title, e.status, e.visibility, e.starts_at,
       e.tip_goal_cents, e.tip_alert_timeout_ms, e.ppv_price_cents,
       e.tips_enabled AS tips, e.requests_enabled AS requests, e.karaoke_enabled AS karaoke,
       coalesce(r.max_open_per_fan, 3) AS max_open_per_fan,
       coalesce(r.song_seconds, 210) AS song_seconds,
       coalesce(k.max_active, 1) AS karaoke_max_active,
       coalesce(k.slot_seconds, 240) AS karaoke_slot_seconds,
       e.livekit_room, e.created_at
FROM events e
LEFT JOIN request_queues r ON r.organization_id = e.organization_id AND r.event_id = e.id
LEFT JOIN karaoke_queues k ON k.organization_id = e.organization_id AND k.event_id = e.id
"""


def _event(r: Record) -> Event:
    return Event(**dict(r))


async def product_of(conn: Conn, org: uuid.UUID) -> str | None:
    """The org's product_context, or None when the org is unknown (or not visible)."""
    product: str | None = await conn.fetchval(
        "SELECT product_context FROM organizations WHERE id = $1", org)
    return product


async def create(conn: Conn, org: uuid.UUID, product: str, values: Mapping[str, Any],
                 status: Status = "scheduled") -> Event:
    """Insert an event with ``values`` (``EVENT_COLUMNS`` and queue settings); features
    not in ``values`` default by ``product``."""
    row = {f"{f}_enabled": on for f, on in FEATURE_DEFAULTS[product].items()}
    row |= {k: v for k, v in values.items() if k in EVENT_COLUMNS}
    names = ", ".join(row)
    params = ", ".join(f"${i}" for i in range(3, len(row) + 3))
    event_id = await conn.fetchval(
        f"INSERT INTO events (organization_id, status, {names}) VALUES ($1, $2, {params})"
        " RETURNING id", org, status, *row.values())
    await set_queues(conn, org, event_id, values)
    found = await get(conn, event_id)
    assert found is not None
    return found


async def set_queues(conn: Conn, org: uuid.UUID, event_id: uuid.UUID,
                     values: Mapping[str, Any]) -> None:
    """Write the request and karaoke queue settings in ``values`` (queue rows are created
    with their defaults when missing, as the services would)."""
    for table, columns in (("request_queues", REQUEST_COLUMNS),
                           ("karaoke_queues", KARAOKE_COLUMNS)):
        prefix = "karaoke_" if table == "karaoke_queues" else ""
        changes = {c: values[prefix + c] for c in columns if prefix + c in values}
        if not changes:
            continue
        await conn.execute(f"INSERT INTO {table} (organization_id, event_id) VALUES ($1, $2)"
                           " ON CONFLICT DO NOTHING", org, event_id)
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=3))
        if table == "karaoke_queues":  # its version counts settings changes (karaoke.settings)
            sets += ", version = version + 1"
        await conn.execute(f"UPDATE {table} SET {sets} WHERE organization_id = $1"
                           " AND event_id = $2", org, event_id, *changes.values())


async def get(conn: Conn, event_id: uuid.UUID) -> Event | None:
    r = await conn.fetchrow(_SELECT + " WHERE e.id = $1", event_id)
    return None if r is None else _event(r)


async def list_for(conn: Conn, org: uuid.UUID, status: Status | None, limit: int,
                   before: dt.datetime | None = None) -> list[Event]:
    """The org's events, newest first, optionally of one status."""
    rows = await conn.fetch(
        _SELECT + " WHERE e.organization_id = $1 AND ($2::text IS NULL OR e.status = $2)"
        " AND ($3::timestamptz IS NULL OR e.created_at < $3)"
        " ORDER BY e.created_at DESC, e.id DESC LIMIT $4", org, status, before, limit)
    return [_event(r) for r in rows]


async def lock(conn: PoolConnectionProxy, event_id: uuid.UUID) -> Event | None:
    """The event, its row locked until the transaction ends (lifecycle and settings)."""
    if await conn.fetchval("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event_id) is None:
        return None
    return await get(conn, event_id)


async def update(conn: Conn, event: Event, values: Mapping[str, Any]) -> Event:
    """Apply a settings change (``EVENT_COLUMNS`` and queue settings) to a locked event."""
    changes = {k: v for k, v in values.items() if k in EVENT_COLUMNS}
    if changes:
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=2))
        await conn.execute(f"UPDATE events SET {sets}, updated_at = now() WHERE id = $1",
                           event.id, *changes.values())
    await set_queues(conn, event.organization_id, event.id, values)
    found = await get(conn, event.id)
    assert found is not None
    return found


async def set_status(conn: Conn, event_id: uuid.UUID, status: Status) -> None:
    """Write a status the caller checked against ``TRANSITIONS`` on the locked row."""
    await conn.execute("UPDATE events SET status = $2, updated_at = now() WHERE id = $1",
                       event_id, status)


async def gate(conn: Conn, event_id: uuid.UUID) -> Record | None:
    """Status and feature toggles, share-locked so a concurrent end waits for the caller
    (a request submitted as the event ends is either in before it or refused)."""
    row: Record | None = await conn.fetchrow(
        "SELECT status, tips_enabled AS tips, requests_enabled AS requests,"
        " karaoke_enabled AS karaoke FROM events"
        " WHERE organization_id = app_org_id() AND id = $1 FOR SHARE", event_id)
    return row
