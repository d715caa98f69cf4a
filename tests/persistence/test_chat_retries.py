"""ChatWriter resolves retries per author inside its group commit, and refuses NUL early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from persistence.chat import ChatMessage, ChatWriter, Stored
from tests.persistence.conftest import within
from tests.persistence.seed import Org, seed_org


@pytest.fixture
async def org(owner: asyncpg.Connection) -> Org:
    return await within(seed_org(owner, "retries"))


@pytest.fixture
async def writer(app_pool: asyncpg.Pool) -> AsyncIterator[ChatWriter]:
    w = ChatWriter(app_pool)
    yield w
    await within(w.close())


def msg(org: Org, author: str, cid: str, body: str = "hi") -> ChatMessage:
    return ChatMessage(organization_id=org.id, room=org.room, body=body, client_msg_id=cid,
                       author=author)


async def test_retries_and_shared_ids_resolve_in_one_batch(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """One transaction: a key written 5 times is inserted once; another author's is new."""
    writes = [msg(org, "a", "k1")] * 5 + [msg(org, "b", "k1"), msg(org, "a", "k2")]
    results: list[Stored] = await within(asyncio.gather(*(writer.write(m) for m in writes)))
    assert writer.batches == 1
    assert [r.inserted for r in results] == [True, False, False, False, False, True, True]
    assert len({r.id for r in results[:5]}) == 1
    assert len({r.id for r in results}) == 3
    later = await within(writer.write(msg(org, "a", "k1", body="changed")))
    assert (later.id, later.inserted, later.status) == (results[0].id, False, "visible")
    rows = await within(owner.fetch(
        "SELECT author, client_msg_id, body FROM chat_messages WHERE room = $1"
        " AND author IS NOT NULL ORDER BY id", org.room))
    assert [tuple(r) for r in rows] == [("a", "k1", "hi"), ("b", "k1", "hi"), ("a", "k2", "hi")]


async def test_retry_reports_the_current_status(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """A retry of a since-deleted message comes back as that row, status deleted."""
    first = await within(writer.write(msg(org, "a", "gone")))
    await within(owner.execute("UPDATE chat_messages SET status = 'deleted' WHERE id = $1",
                               first.id))
    again = await within(writer.write(msg(org, "a", "gone")))
    assert again == Stored(first.id, "deleted", inserted=False)


async def test_nul_is_refused_before_the_batch(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """A NUL message fails alone at once; the others still commit in one batch."""
    good = [writer.write(msg(org, "a", f"g{i}")) for i in range(9)]
    bad = [writer.write(msg(org, "a", "n1", body="a\x00b")),
           writer.write(msg(org, "a\x00", "n2")), writer.write(msg(org, "a", "n\x003"))]
    results = await within(asyncio.gather(*good, *bad, return_exceptions=True))
    assert [type(r) for r in results] == [Stored] * 9 + [ValueError] * 3
    assert writer.batches == 1
    assert await within(owner.fetchval(
        "SELECT count(*) FROM chat_messages WHERE room = $1 AND author = 'a'", org.room)) == 9
