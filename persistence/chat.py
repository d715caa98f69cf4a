"""Chat persistence: a group-commit writer and a history pager.

ChatWriter guarantees:
  * write() returns only after its row is committed (or was already there: a retry with the
    same (org, room, client_msg_id) is a no-op), and raises if it could not be stored.
  * Callers arriving while a batch is in flight are written together in the next batch:
    one transaction and one executemany per organization per batch, under that org's
    tenant_tx, so RLS checks every row.
  * A batch that fails is retried row by row, so one bad message fails only its caller.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections import defaultdict

import asyncpg
import msgspec

from persistence.tenant import Principal, tenant_tx

_INSERT = """
INSERT INTO chat_messages
    (organization_id, event_id, room, user_id, body, status, hub_offset, client_msg_id, author)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (organization_id, room, client_msg_id) DO NOTHING
"""

# organization_id is repeated from the policy so the (organization_id, room, id) index is
# usable; the policy's OR with the admin bypass hides it from the planner.
_PAGE = """
SELECT id, room, event_id, user_id, body, status, hub_offset, client_msg_id, author,
       created_at
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


def _args(m: ChatMessage) -> tuple[object, ...]:
    return (m.organization_id, m.event_id, m.room, m.user_id, m.body, m.status,
            m.hub_offset, m.client_msg_id, m.author)


_Pending = tuple[ChatMessage, "asyncio.Future[None]"]


class ChatWriter:
    """Batch concurrent chat writes into one transaction per organization per batch."""

    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 500) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed, for tests and metrics

    async def write(self, msg: ChatMessage) -> None:
        """Persist msg; return once committed. Idempotent on (org, room, client_msg_id)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((msg, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        await done

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
            await self._insert(org, [m for m, _ in items])
        except Exception as exc:
            if len(items) == 1:
                _settle(items[0][1], exc)
                return
            for item in items:  # isolate the bad row(s); the rest still commit
                try:
                    await self._insert(org, [item[0]])
                except Exception as one_exc:
                    _settle(item[1], one_exc)
                else:
                    _settle(item[1], None)
        else:
            for _, fut in items:
                _settle(fut, None)

    async def _insert(self, org: uuid.UUID, msgs: list[ChatMessage]) -> None:
        async with tenant_tx(self._pool, Principal(org, None, "hub")) as conn:
            await conn.executemany(_INSERT, [_args(m) for m in msgs])
        self.batches += 1


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():  # the caller was cancelled; the row may still have been written
        return
    if exc is None:
        fut.set_result(None)
    elif isinstance(exc, asyncio.CancelledError):
        fut.cancel()
    else:
        fut.set_exception(exc)


async def page_history(
    pool: asyncpg.Pool, principal: Principal, room: str, before_id: int | None = None,
    limit: int = 50,
) -> list[ChatRow]:
    """Return up to limit visible messages of room older than before_id, oldest first.

    Pass the first row's id as before_id to fetch the page before this one.
    """
    async with tenant_tx(pool, principal) as conn:
        rows = await conn.fetch(_PAGE, room, before_id, limit)
    return [ChatRow(**dict(r)) for r in reversed(rows)]
