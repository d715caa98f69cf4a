"""The chat write refuses an author with a mute or ban in force, as the app role (RLS)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from persistence.chat import ChatMessage, ChatWriter, Sanctioned, Stored
from tests.persistence.conftest import within
from tests.persistence.seed import Org, seed_org


@pytest.fixture
async def org(owner: asyncpg.Connection) -> Org:
    return await within(seed_org(owner, "sanctioned"))


@pytest.fixture
async def writer(app_pool: asyncpg.Pool) -> AsyncIterator[ChatWriter]:
    w = ChatWriter(app_pool)
    yield w
    await within(w.close())


def msg(org: Org, author: str, cid: str, staff: bool = False) -> ChatMessage:
    return ChatMessage(organization_id=org.id, room=org.room, body="hi", client_msg_id=cid,
                       author=author, author_staff=staff)


async def _sanction(owner: asyncpg.Connection, org: Org, sub: str, minutes: float) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    await within(owner.execute(
        "INSERT INTO chat_sanctions (organization_id, user_sub, kind, until, created_by)"
        " VALUES ($1, $2, 'ban', $3, 'mod')", org.id, sub, until))


async def test_a_banned_author_is_refused_in_the_batch_others_are_stored(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """One batch: the banned fan's message raises Sanctioned; the rest, staff too, commit."""
    await _sanction(owner, org, "troll", 30)
    await _sanction(owner, org, "old", -1)  # ended: no longer in force
    results = await within(asyncio.gather(
        writer.write(msg(org, "troll", "t1")), writer.write(msg(org, "fan", "f1")),
        writer.write(msg(org, "old", "o1")), writer.write(msg(org, "troll", "s1", staff=True)),
        return_exceptions=True))
    assert writer.batches == 1
    assert isinstance(results[0], Sanctioned)
    assert [type(r) for r in results[1:]] == [Stored] * 3
    rows = await within(owner.fetch(
        "SELECT client_msg_id FROM chat_messages WHERE room = $1 AND author IS NOT NULL"
        " ORDER BY id", org.room))
    assert sorted(r[0] for r in rows) == ["f1", "o1", "s1"]


async def test_other_orgs_sanctions_do_not_apply(
    writer: ChatWriter, owner: asyncpg.Connection, org: Org
) -> None:
    """A ban in another org (same sub) does not refuse the author here."""
    other = await within(seed_org(owner, "elsewhere"))
    await _sanction(owner, other, "fan", 30)
    stored = await within(writer.write(msg(org, "fan", "x1")))
    assert stored.inserted
