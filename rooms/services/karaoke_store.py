"""Karaoke queue rows in Postgres. Every function runs on a ``tenant_tx`` connection.

Queries say ``organization_id = app_org_id()`` themselves so the planner can use the
org-leading indexes (RLS alone ORs in the platform-admin check, which defeats them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from asyncpg.pool import PoolConnectionProxy

from rooms.services.karaoke_rotation import Slot

# One statement, so the queue row and its songs come from one snapshot of the database
# even without a lock (snapshots). No queue row yet reads as the defaults, version 0.
_LOAD = """
SELECT q.version, q.next_position, q.max_active, q.slot_seconds, q.held_singers,
       q.alias_key, s.id, s.singer_sub, s.singer_name, s.song_title, s.round, s.position,
       s.status, s.phone
FROM (SELECT 1) AS one
LEFT JOIN karaoke_queues q ON q.organization_id = app_org_id() AND q.event_id = $1
LEFT JOIN karaoke_signups s ON s.organization_id = app_org_id() AND s.event_id = $1
     AND s.status IN ('waiting', 'up')
"""
_LOCK = """
SELECT 1 FROM karaoke_queues WHERE organization_id = app_org_id() AND event_id = $1
FOR UPDATE
"""
_CREATE = """
INSERT INTO karaoke_queues (organization_id, event_id)
SELECT organization_id, id FROM events WHERE organization_id = app_org_id() AND id = $1
ON CONFLICT DO NOTHING
"""
_EVENT_EXISTS = """
SELECT EXISTS (SELECT 1 FROM events WHERE organization_id = app_org_id() AND id = $1)
"""
_SINGER_ROUNDS = """
SELECT round FROM karaoke_signups
WHERE organization_id = app_org_id() AND event_id = $1 AND singer_sub = $2
  AND status <> 'skipped'
"""
_ADD = """
INSERT INTO karaoke_signups (organization_id, event_id, singer_sub, singer_name, song_title,
                             round, position, phone, sms_consent_at)
VALUES (app_org_id(), $1, $2, $3, $4, $5, $6, $7::text,
        CASE WHEN $7::text IS NOT NULL THEN now() END) RETURNING id
"""
_SET_STATUS = """
UPDATE karaoke_signups SET status = $3,
       finished_at = CASE WHEN $3 IN ('done', 'skipped') THEN now() END
WHERE organization_id = app_org_id() AND event_id = $1 AND id = $2
"""
_SET_KEYS = """
UPDATE karaoke_signups SET round = $3, position = $4
WHERE organization_id = app_org_id() AND event_id = $1 AND id = $2
"""
_SAVE = """
UPDATE karaoke_queues SET version = version + 1, next_position = $2, max_active = $3,
       slot_seconds = $4, held_singers = $5, updated_at = now()
WHERE organization_id = app_org_id() AND event_id = $1
RETURNING version
"""


@dataclass
class Row:
    """An active signup: queued (``waiting``) or on stage (``up``)."""

    id: str
    singer_sub: str
    singer: str
    song: str
    round: int
    position: int
    status: str
    phone: str | None = None  # texted when next up (consented); never in room events

    def slot(self) -> Slot:
        return Slot(self.id, self.singer_sub, self.round, self.position)


@dataclass
class Queue:
    """One event's queue as read (and, under ``lock``, as it will be saved)."""

    event_id: uuid.UUID
    version: int = 0
    next_position: int = 1
    max_active: int = 1
    slot_seconds: int = 240
    held: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    # Keys the aliases of texting singers' subs (karaoke_aliases); random until the
    # queue row exists, when there is nobody to alias yet.
    alias_key: uuid.UUID = field(default_factory=uuid.uuid4)

    def row(self, signup_id: str) -> Row | None:
        return next((r for r in self.rows if r.id == signup_id), None)


async def event_exists(conn: PoolConnectionProxy, event_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(_EVENT_EXISTS, event_id))


async def load(conn: PoolConnectionProxy, event_id: uuid.UUID) -> Queue:
    q = Queue(event_id)
    for rec in await conn.fetch(_LOAD, event_id):
        if rec["version"] is not None:
            q.version, q.next_position = rec["version"], rec["next_position"]
            q.max_active, q.slot_seconds = rec["max_active"], rec["slot_seconds"]
            q.held, q.alias_key = list(rec["held_singers"]), rec["alias_key"]
        if rec["id"] is not None:
            q.rows.append(Row(str(rec["id"]), rec["singer_sub"], rec["singer_name"],
                              rec["song_title"] or "", rec["round"], rec["position"],
                              rec["status"], rec["phone"]))
    return q


async def lock(conn: PoolConnectionProxy, event_id: uuid.UUID) -> Queue | None:
    """Lock the event's queue row (creating it on first use) and read the queue.

    Returns None when the event does not exist in the caller's org.
    """
    if await conn.fetchval(_LOCK, event_id) is None:
        await conn.execute(_CREATE, event_id)
        if await conn.fetchval(_LOCK, event_id) is None:
            return None
    return await load(conn, event_id)


async def singer_rounds(conn: PoolConnectionProxy, event_id: uuid.UUID, sub: str) -> list[int]:
    """Rounds of the singer's songs that count for rotation: sung, queued or on stage."""
    return [r["round"] for r in await conn.fetch(_SINGER_ROUNDS, event_id, sub)]


async def add(conn: PoolConnectionProxy, q: Queue, sub: str, singer: str, song: str,
              round_: int, phone: str | None = None) -> Row:
    """Queue a song; ``phone`` only with the singer's consent (recorded as now)."""
    position = q.next_position
    q.next_position += 1
    signup_id = await conn.fetchval(_ADD, q.event_id, sub, singer, song, round_, position,
                                    phone)
    row = Row(str(signup_id), sub, singer, song, round_, position, "waiting", phone)
    q.rows.append(row)
    return row


async def set_status(conn: PoolConnectionProxy, q: Queue, row: Row, status: str) -> None:
    await conn.execute(_SET_STATUS, q.event_id, uuid.UUID(row.id), status)
    row.status = status
    if status not in ("waiting", "up"):
        q.rows.remove(row)


async def set_keys(conn: PoolConnectionProxy, q: Queue, slots: Iterable[Slot]) -> None:
    changed = list(slots)
    await conn.executemany(_SET_KEYS, [(q.event_id, uuid.UUID(s.id), s.round, s.position)
                                       for s in changed])
    for s in changed:
        row = q.row(s.id)
        if row is not None:
            row.round, row.position = s.round, s.position


async def save(conn: PoolConnectionProxy, q: Queue) -> None:
    """Write the queue row back and bump its version (every change does this once)."""
    q.version = await conn.fetchval(_SAVE, q.event_id, q.next_position, q.max_active,
                                    q.slot_seconds, q.held)
