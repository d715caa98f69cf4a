"""Chat persistence: group commit, idempotent retries, paging back through history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from persistence.chat import ChatMessage, ChatWriter, Stored, page_history
from persistence.tenant import Tenant
from tests.persistence.conftest import within
from tests.persistence.seed import Org, seed_org


@pytest.fixture
async def org(owner: asyncpg.Connection) -> Org:
    """An organization of this test's own, so row counts are exact."""
    return await within(seed_org(owner, "chat"))


@pytest.fixture
async def writer(app_pool: asyncpg.Pool) -> AsyncIterator[ChatWriter]:
    w = ChatWriter(app_pool)
    yield w
    await within(w.close())


def message(org: Org, body: str, client_msg_id: str | None = None) -> ChatMessage:
    return ChatMessage(organization_id=org.id, event_id=org.live_event, room=org.room,
                       user_id=org.viewer, body=body,
                       client_msg_id=client_msg_id or uuid.uuid4().hex)


async def _count(owner: asyncpg.Connection, org: Org) -> int:
    n: int = await within(owner.fetchval(
        "SELECT count(*) FROM chat_messages WHERE organization_id = $1 AND body <> 'hello'",
        org.id))
    return n


async def test_concurrent_writes_share_batches(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """200 concurrent writes are all committed, in far fewer transactions than writes."""
    await within(asyncio.gather(*(writer.write(message(org, f"m{i}")) for i in range(200))))
    assert await _count(owner, org) == 200
    assert writer.batches < 200
    assert writer.batches <= 5


async def test_batches_split_by_org(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """Messages for two orgs in one batch land under their own orgs' RLS context."""
    other = await within(seed_org(owner, "chat2"))
    await within(asyncio.gather(*(writer.write(message(o, "x")) for o in (org, other) * 5)))
    assert await _count(owner, org) == 5
    assert await _count(owner, other) == 5


async def test_duplicate_client_msg_id_is_stored_once(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """Retries with the same client_msg_id, concurrent or later, keep one row."""
    dup = message(org, "once", "retry-1")
    await within(asyncio.gather(writer.write(dup), writer.write(dup)))
    await within(writer.write(dup))
    assert await _count(owner, org) == 1


async def test_bad_message_fails_alone(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """A message that violates a constraint fails its own write; the batch still commits."""
    good = [writer.write(message(org, f"ok{i}")) for i in range(9)]
    bad = ChatMessage(organization_id=org.id, event_id=uuid.uuid4(), room=org.room, body="x")
    results = await within(asyncio.gather(*good, writer.write(bad), return_exceptions=True))
    assert [type(r) for r in results[:9]] == [Stored] * 9
    assert isinstance(results[9], asyncpg.ForeignKeyViolationError)
    assert await _count(owner, org) == 9


async def test_page_history_walks_back_in_order(
    app_pool: asyncpg.Pool, writer: ChatWriter, org: Org
) -> None:
    """Pages go newest to oldest, each oldest-first; together they are the whole room."""
    for i in range(25):
        await within(writer.write(message(org, f"m{i:02d}")))
    await within(writer.write(
        ChatMessage(organization_id=org.id, room=org.room, body="held", status="held")))
    viewer = Tenant(org.id, org.viewer, "viewer")
    pages, before = [], None
    while page := await within(page_history(app_pool, viewer, org.room, before, limit=10)):
        pages.append([m.body for m in page])
        before = page[0].id
    assert [len(p) for p in pages] == [10, 10, 6]
    everything = [body for p in reversed(pages) for body in p]
    assert everything == ["hello"] + [f"m{i:02d}" for i in range(25)]


async def test_page_history_is_tenant_scoped(
    app_pool: asyncpg.Pool, owner: asyncpg.Connection, org: Org
) -> None:
    """Another org asking for this org's room gets nothing."""
    other = await within(seed_org(owner, "other"))
    outsider = Tenant(other.id, other.owner, "owner")
    assert await within(page_history(app_pool, outsider, org.room)) == []
