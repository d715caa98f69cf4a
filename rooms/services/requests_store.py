"""Postgres access for the requests service. Every function runs on a tenant_tx connection.

Queries repeat ``organization_id = app_org_id()`` so the (organization_id, ...) indexes are
usable (the policy's admin OR hides them from the planner).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields

from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

Conn = PoolConnectionProxy


@dataclass(frozen=True)
class QueueRow:
    version: int
    max_open_per_fan: int
    song_seconds: int


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    title: str
    artist: str
    note: str
    requester: str
    requester_name: str | None
    status: str
    payment: str
    paid_cents: int
    offered_cents: int
    lineup_rank: int | None
    decline_reason: str | None
    title_key: str
    artist_key: str
    time_ms: int
    votes: int


_SELECT = """
SELECT r.id, r.song_title AS title, coalesce(r.artist, '') AS artist,
       coalesce(r.note, '') AS note, r.requester, r.requester_name, r.status, r.payment,
       r.paid_cents,
       r.offered_cents, r.lineup_rank, r.decline_reason, r.title_key, r.artist_key,
       (extract(epoch FROM r.created_at) * 1000)::bigint AS time_ms,
       (SELECT count(*) FROM request_votes v
        WHERE v.organization_id = app_org_id() AND v.request_id = r.id)::int AS votes
FROM song_requests r
WHERE r.organization_id = app_org_id() AND r.event_id = $1
"""
_QUEUE = "SELECT version, max_open_per_fan, song_seconds FROM request_queues" \
         " WHERE organization_id = app_org_id() AND event_id = $1"


_LIVE = " AND r.status IN ('pending', 'accepted', 'playing')"
_ROW_FIELDS = tuple(f.name for f in fields(Row))


def _row(r: Record) -> Row:
    return Row(**dict(r))


async def lock(conn: Conn, event_id: uuid.UUID) -> QueueRow:
    """Lock the event's queue (creating it on first use) until the transaction ends."""
    await conn.execute("INSERT INTO request_queues (organization_id, event_id)"
                       " VALUES (app_org_id(), $1) ON CONFLICT DO NOTHING", event_id)
    r = await conn.fetchrow(_QUEUE + " FOR UPDATE", event_id)
    assert r is not None
    return QueueRow(**dict(r))


async def read(conn: Conn, event_id: uuid.UUID) -> tuple[QueueRow | None, list[Row]]:
    """The queue row and its live requests, without locking.

    One statement sees one snapshot, so the rows always match the version, and a storm
    of subscribers reading snapshots never queues up behind (or in front of) a DJ.
    """
    records = await conn.fetch(
        f"WITH q AS ({_QUEUE}), live AS ({_SELECT}{_LIVE})"
        " SELECT * FROM q LEFT JOIN live ON true", event_id)
    if not records:
        return None, []
    first = records[0]
    queue = QueueRow(first["version"], first["max_open_per_fan"], first["song_seconds"])
    return queue, [Row(**{f: r[f] for f in _ROW_FIELDS}) for r in records if r["id"] is not None]


async def bump(conn: Conn, event_id: uuid.UUID) -> int:
    version: int = await conn.fetchval(
        "UPDATE request_queues SET version = version + 1"
        " WHERE organization_id = app_org_id() AND event_id = $1 RETURNING version", event_id)
    return version


async def live_rows(conn: Conn, event_id: uuid.UUID) -> list[Row]:
    """Queued and playing requests."""
    rows = await conn.fetch(_SELECT + _LIVE, event_id)
    return [_row(r) for r in rows]


async def get(conn: Conn, event_id: uuid.UUID, request_id: uuid.UUID) -> Row | None:
    r = await conn.fetchrow(_SELECT + " AND r.id = $2", event_id, request_id)
    return None if r is None else _row(r)


async def of_requester(conn: Conn, event_id: uuid.UUID, requester: str) -> list[Row]:
    rows = await conn.fetch(_SELECT + " AND r.requester = $2 ORDER BY r.created_at LIMIT 100",
                            event_id, requester)
    return [_row(r) for r in rows]


async def insert(conn: Conn, event_id: uuid.UUID, requester: str, title: str, artist: str,
                 note: str, key: tuple[str, str], offered_cents: int,
                 requester_name: str | None = None) -> uuid.UUID:
    request_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO song_requests (organization_id, event_id, requester, song_title, artist,"
        " note, title_key, artist_key, offered_cents, payment, requester_name)"
        " VALUES (app_org_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        event_id, requester, title, artist, note or None, key[0], key[1], offered_cents,
        "pending_payment" if offered_cents else "none", requester_name)
    return request_id


async def add_vote(conn: Conn, request_id: uuid.UUID, voter: str) -> bool:
    """True if the vote is new."""
    status = await conn.execute(
        "INSERT INTO request_votes (organization_id, request_id, voter_key)"
        " VALUES (app_org_id(), $1, $2) ON CONFLICT (request_id, voter_key) DO NOTHING",
        request_id, voter)
    return bool(status == "INSERT 0 1")


async def set_status(conn: Conn, request_id: uuid.UUID, status: str,
                     reason: str | None = None) -> None:
    closed = status in ("played", "declined")
    await conn.execute(
        "UPDATE song_requests SET status = $2, decline_reason = $3, lineup_rank = NULL,"
        " closed_at = CASE WHEN $4 THEN now() END"
        " WHERE organization_id = app_org_id() AND id = $1", request_id, status, reason, closed)


async def set_accepted(conn: Conn, request_id: uuid.UUID) -> None:
    await conn.execute("UPDATE song_requests SET status = 'accepted'"
                       " WHERE organization_id = app_org_id() AND id = $1", request_id)


async def set_ranks(conn: Conn, rows: list[Row], ranks: dict[uuid.UUID, int | None]) -> None:
    """Write the line-up ranks that changed."""
    changed = [(r.id, ranks[r.id]) for r in rows if r.id in ranks and r.lineup_rank != ranks[r.id]]
    if changed:
        await conn.executemany("UPDATE song_requests SET lineup_rank = $2"
                               " WHERE organization_id = app_org_id() AND id = $1", changed)


async def payment_seen(conn: Conn, kind: str, payment_id: str | None) -> bool:
    """Whether this (kind, payment_id) is in the ledger already (checked under the lock)."""
    if payment_id is None:
        return False
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM song_request_payments WHERE organization_id ="
        " app_org_id() AND kind = $1 AND payment_id = $2)", kind, payment_id))


async def record_payment(conn: Conn, request_id: uuid.UUID, kind: str, payment_id: str | None,
                         amount_cents: int) -> None:
    await conn.execute(
        "INSERT INTO song_request_payments (organization_id, request_id, kind, payment_id,"
        " amount_cents) VALUES (app_org_id(), $1, $2, $3, $4)",
        request_id, kind, payment_id, amount_cents)


async def set_paid(conn: Conn, request_id: uuid.UUID, paid_cents: int, payment: str) -> None:
    await conn.execute("UPDATE song_requests SET paid_cents = $2, payment = $3"
                       " WHERE organization_id = app_org_id() AND id = $1",
                       request_id, paid_cents, payment)
