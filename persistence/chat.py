"""Chat persistence: a group-commit writer and a history pager.

ChatWriter guarantees:
  * write() returns only after its row is committed, with the row's id and status, and
    raises if it could not be stored.
  * Idempotent per author: a retry with the same (org, room, author, client_msg_id) stores
    nothing and returns the original row (``inserted`` False), whatever became of it since
    (held, approved, deleted). Two authors may use the same client_msg_id: both are stored.
  * Callers arriving while a batch is in flight are written together in the next batch:
    one transaction and one statement (arrays of rows, unnest) per organization per
    batch, under that org's tenant_tx, so RLS checks every row. Retries are resolved inside
    that statement (ON CONFLICT ... DO UPDATE ... RETURNING), never with a round trip of
    their own; the same key twice in one batch is written once, the others are retries.
  * A non-staff author with a mute or ban in force (``chat_sanctions``) is refused in that
    same statement: write() raises ``Sanctioned`` and nothing is stored. Sanctions are
    thus read from Postgres at write time, on every node, at no extra round trip.
  * A batch that fails is retried row by row, so one bad message fails only its caller.
    Text Postgres cannot store (NUL characters) is refused before it joins a batch.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections import defaultdict

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from persistence.tenant import Tenant, tenant_tx

# One statement per batch: the rows arrive as arrays (unnest), so Postgres plans and
# executes once however many messages the batch holds. A non-staff author with a mute or
# ban in force is filtered out here, in the same statement: the sanction is read at write
# time, on every node, with no round trip of its own, and that author's row is simply not
# returned. The no-op DO UPDATE makes a retry return the original row; xmax is 0 only on a
# row this statement inserted, so ``inserted`` tells a first write from a retry. Rows come
# back in no guaranteed order: they are matched to messages by their retry key.
_INSERT = """
INSERT INTO chat_messages
    (organization_id, event_id, room, user_id, body, status, hub_offset, client_msg_id, author,
     author_name, author_staff)
SELECT m.* FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                       $7::bigint[], $8::text[], $9::text[], $10::text[], $11::boolean[])
    AS m(organization_id, event_id, room, user_id, body, status, hub_offset, client_msg_id,
         author, author_name, author_staff)
WHERE m.author_staff OR NOT EXISTS (
    SELECT 1 FROM chat_sanctions s
    WHERE s.organization_id = m.organization_id AND s.user_sub = coalesce(m.author, '')
      AND s.until > now())
ON CONFLICT (organization_id, room, coalesce(author, ''), client_msg_id)
    DO UPDATE SET client_msg_id = EXCLUDED.client_msg_id
RETURNING id, status, (xmax = 0) AS inserted, room, coalesce(author, '') AS author,
          client_msg_id
"""

# organization_id is repeated from the policy so the (organization_id, room, id) index is
# usable; the policy's OR with the admin bypass hides it from the planner.
_PAGE = """
SELECT id, room, event_id, user_id, body, status, hub_offset, client_msg_id, author,
       author_name, author_staff, created_at
FROM chat_messages
WHERE organization_id = app_org_id() AND room = $1 AND status = 'visible'
  AND ($2::bigint IS NULL OR id < $2)
ORDER BY id DESC
LIMIT $3
"""


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A chat message to persist, as the room service accepted it."""

    organization_id: uuid.UUID
    room: str
    body: str
    event_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    client_msg_id: str | None = None
    hub_offset: int | None = None
    status: str = "visible"
    author: str | None = None
    author_name: str = ""  # the author's display name when posting (shown as text)
    author_staff: bool = False  # posted as staff (dj, moderator, admin)


class ChatRow(msgspec.Struct, frozen=True, kw_only=True):
    """A stored chat message, as history returns it."""

    id: int
    room: str
    body: str
    status: str
    created_at: datetime.datetime
    event_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    client_msg_id: str | None = None
    hub_offset: int | None = None
    author: str | None = None
    author_name: str = ""
    author_staff: bool = False


class Sanctioned(Exception):
    """The author has a mute or ban in force: the message was not stored."""


class Stored(msgspec.Struct, frozen=True):
    """The outcome of a write: the row's id and status; inserted False for a retry."""

    id: int
    status: str
    inserted: bool


def _args(m: ChatMessage) -> tuple[object, ...]:
    return (m.organization_id, m.event_id, m.room, m.user_id, m.body, m.status,
            m.hub_offset, m.client_msg_id, m.author, m.author_name, m.author_staff)


_Pending = tuple[ChatMessage, "asyncio.Future[Stored]"]


class ChatWriter:
    """Batch concurrent chat writes into one transaction per organization per batch."""

    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 500) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed, for tests and metrics

    async def write(self, msg: ChatMessage) -> Stored:
        """Persist msg; return its row once committed (the original row for a retry).

        Raises:
            ValueError: a text field holds a NUL character (nothing was sent to Postgres).
        """
        if any("\x00" in (v or "") for v in (msg.body, msg.room, msg.author,
                                              msg.client_msg_id, msg.author_name)):
            # Refused here so one such message cannot push a whole batch into row-by-row.
            raise ValueError("chat text may not contain NUL characters")
        done: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._pending.append((msg, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        return await done

    async def close(self) -> None:
        """Wait for writes already accepted to finish."""
        if self._flusher is not None:
            await self._flusher

    async def _flush_loop(self) -> None:
        # Yield once so every caller already scheduled in this loop turn joins the batch;
        # after that, whatever arrives while a batch is in flight forms the next one.
        await asyncio.sleep(0)
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            by_org: dict[uuid.UUID, list[_Pending]] = defaultdict(list)
            for item in batch:
                by_org[item[0].organization_id].append(item)
            try:
                await asyncio.gather(
                    *(self._write_org(org, items) for org, items in by_org.items()))
            except BaseException as exc:  # cancelled mid-batch: never leave a caller hanging
                for _, fut in batch + self._pending:
                    _settle(fut, exc)
                self._pending.clear()
                raise

    async def _write_org(self, org: uuid.UUID, items: list[_Pending]) -> None:
        try:
            stored = await self._insert(org, [m for m, _ in items])
        except Exception as exc:
            if len(items) == 1:
                _settle(items[0][1], exc)
                return
            for item in items:  # isolate the bad row(s); the rest still commit
                try:
                    one = await self._insert(org, [item[0]])
                except Exception as one_exc:
                    _settle(item[1], one_exc)
                else:
                    _settle(item[1], _result(one[0]))
        else:
            for (_, fut), result in zip(items, stored, strict=True):
                _settle(fut, _result(result))

    async def _insert(self, org: uuid.UUID, msgs: list[ChatMessage]) -> list[Stored | None]:
        async with tenant_tx(self._pool, Tenant(org, None, "hub")) as conn:
            stored = await insert(conn, msgs)
        self.batches += 1
        return stored


async def insert(conn: PoolConnectionProxy, msgs: list[ChatMessage]) -> list[Stored | None]:
    """Write ``msgs`` in the caller's transaction; one result per message, in order.

    None where the author (not staff) has a mute or ban in force: that message is not
    stored. The ``ChatWriter`` batches through this; a caller already holding a transaction
    (a webhook's) uses it directly, so the message commits or rolls back with the rest.
    """
    out: list[Stored | None] = [None] * len(msgs)
    first: dict[tuple[str, str, str], int] = {}  # retry key -> index of its first message
    batch: list[ChatMessage] = []
    for i, m in enumerate(msgs):
        if m.client_msg_id is None:  # no retry key: nothing to match a row by, write alone
            rows = await conn.fetch(_INSERT, *_columns([m]))
            out[i] = _stored(rows[0]) if rows else None
            continue
        key = (m.room, m.author or "", m.client_msg_id)
        if key not in first:
            first[key] = i
            batch.append(m)
    if batch:
        rows = await conn.fetch(_INSERT, *_columns(batch))
        by_key = {(r["room"], r["author"], r["client_msg_id"]): _stored(r) for r in rows}
        for i, m in enumerate(msgs):
            if m.client_msg_id is None:
                continue
            key = (m.room, m.author or "", m.client_msg_id)
            got = by_key.get(key)
            if got is not None and first[key] != i:  # the same key again: a retry
                got = Stored(got.id, got.status, inserted=False)
            out[i] = got
    return out


def _columns(msgs: list[ChatMessage]) -> list[list[object]]:
    """The statement's 11 array parameters: one array per column."""
    rows = [_args(m) for m in msgs]
    return [list(col) for col in zip(*rows, strict=True)]


def _stored(row: asyncpg.Record) -> Stored:
    return Stored(row["id"], row["status"], row["inserted"])


def _result(stored: Stored | None) -> Stored | BaseException:
    return Sanctioned("the author has a mute or ban in force") if stored is None else stored


# Oldest first, a slice at a time: short transactions, no long lock on a busy table.
_PRUNE = """
DELETE FROM chat_messages WHERE id IN (
    SELECT id FROM chat_messages WHERE created_at < now() - make_interval(days => $1)
    ORDER BY id LIMIT $2)
"""


async def prune(dsn: str, days: int, *, batch: int = 10_000) -> int:
    """Delete chat older than ``days`` days in every org (as the owner); the rows deleted.

    ``HUB_CHAT_RETENTION_DAYS`` sets ``days``; run ``python -m persistence.chat prune``.
    """
    if days < 1:
        raise ValueError("retention must be at least 1 day")
    conn = await asyncpg.connect(dsn, timeout=10)
    total = 0
    try:
        while True:
            status = await conn.execute(_PRUNE, days, batch)
            n = int(status.split()[-1])
            total += n
            if n < batch:
                return total
    finally:
        await conn.close()


def _settle(fut: asyncio.Future[Stored], result: Stored | BaseException) -> None:
    if fut.done():  # the caller was cancelled; the row may still have been written
        return
    if isinstance(result, Stored):
        fut.set_result(result)
    elif isinstance(result, asyncio.CancelledError):
        fut.cancel()
    else:
        fut.set_exception(result)


async def page_history(
    pool: asyncpg.Pool, tenant: Tenant, room: str, before_id: int | None = None,
    limit: int = 50,
) -> list[ChatRow]:
    """Return up to limit visible messages of room older than before_id, oldest first.

    Pass the first row's id as before_id to fetch the page before this one.
    """
    async with tenant_tx(pool, tenant) as conn:
        return await fetch_page(conn, room, before_id, limit)


async def fetch_page(conn: PoolConnectionProxy, room: str, before_id: int | None,
                     limit: int) -> list[ChatRow]:
    """``page_history`` in the caller's transaction."""
    rows = await conn.fetch(_PAGE, room, before_id, limit)
    return [ChatRow(**dict(r)) for r in reversed(rows)]


def main(argv: list[str] | None = None) -> int:
    """``python -m persistence.chat prune [--days N]``: apply the chat retention."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m persistence.chat",
                                     description="Delete chat older than the retention.")
    parser.add_argument("command", choices=["prune"])
    parser.add_argument("--days", type=int,
                        default=int(os.environ.get("HUB_CHAT_RETENTION_DAYS") or 0),
                        help="keep this many days (default: $HUB_CHAT_RETENTION_DAYS)")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", ""),
                        help="owner DSN (default: $DATABASE_URL)")
    args = parser.parse_args(argv)
    if args.days < 1:
        print("retention is off (HUB_CHAT_RETENTION_DAYS=0): nothing pruned")
        return 0
    if not args.dsn:
        parser.error("set DATABASE_URL or pass --dsn (an owner role)")
    deleted = asyncio.run(prune(args.dsn, args.days))
    print(f"deleted {deleted} chat message(s) older than {args.days} day(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
