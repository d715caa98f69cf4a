"""Chat retention: ``prune`` deletes chat older than the retention, and only that."""

from __future__ import annotations

import asyncpg
import pytest

from persistence.chat import main, prune
from tests.persistence.conftest import within
from tests.persistence.seed import seed_org


async def test_prune_deletes_only_chat_older_than_the_retention(
    owner: asyncpg.Connection, owner_dsn: str
) -> None:
    org = await within(seed_org(owner, "retention"))
    for body, age in (("old-1", 40), ("old-2", 31), ("recent", 29)):
        await within(owner.execute(
            "INSERT INTO chat_messages (organization_id, room, body, created_at)"
            " VALUES ($1, $2, $3, now() - make_interval(days => $4))",
            org.id, org.room, body, age))
    deleted = await within(prune(owner_dsn, 30, batch=1))  # batch 1: the loop is exercised
    assert deleted >= 2
    left = await within(owner.fetch(
        "SELECT body FROM chat_messages WHERE organization_id = $1 ORDER BY id", org.id))
    assert "recent" in [r[0] for r in left]
    assert not {"old-1", "old-2"} & {r[0] for r in left}


async def test_prune_refuses_a_retention_under_one_day(owner_dsn: str) -> None:
    with pytest.raises(ValueError):
        await prune(owner_dsn, 0)


def test_cli_with_retention_off_prunes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--days", "0", "--dsn", "postgresql://unused"]) == 0
    assert "retention is off" in capsys.readouterr().out
