"""Shared fixtures: real Redis, unique key prefixes, real hub processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.hubproc import HubProcess
from tests.support.postgres import owner_dsn, server_dsn
from tests.support.services import redis_server

__all__ = ["owner_dsn", "server_dsn"]  # session fixtures shared by every test package


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix no other test shares."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def hub_factory(request: pytest.FixtureRequest, redis_url: str, prefix: str
                ) -> Iterator[Callable[..., HubProcess]]:
    """Start hub processes sharing this test's Redis prefix; stop them afterwards.

    ``db=True`` points them at this session's migrated Postgres database.
    """
    started: list[HubProcess] = []

    def start(redis: bool = True, db: bool = False, **env: str) -> HubProcess:
        base = {"REDIS_URL": redis_url, "HUB_REDIS_PREFIX": prefix} if redis else {}
        if db:
            base["DATABASE_URL"] = request.getfixturevalue("owner_dsn")
        hub = HubProcess({**base, **env})
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def org() -> uuid.UUID:
    return uuid.uuid4()
