"""Shared fixtures: real Redis, unique key prefixes, real hub processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import pytest

from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_stripe import FakeStripe
from tests.support.hubproc import HubProcess
from tests.support.postgres import owner_dsn, server_dsn
from tests.support.redis_cluster import RedisClusterProcs, redis_cluster
from tests.support.services import redis_server

__all__ = ["owner_dsn", "server_dsn"]  # session fixtures shared by every test package


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def cluster() -> Iterator[RedisClusterProcs]:
    """A Redis Cluster of this session's own: 3 primaries with a replica each."""
    with redis_cluster() as procs:
        yield procs


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


@pytest.fixture
async def owner_conn(owner_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncio.wait_for(asyncpg.connect(owner_dsn), 10)
    yield conn
    await conn.close()


@pytest.fixture
async def event(owner_conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """A fresh organization with one live event, written as the owner."""
    org, ev = uuid.uuid4(), uuid.uuid4()
    await owner_conn.execute(
        "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, $2, $3,"
        " 'djdash')", org, f"Club {org.hex[:6]}", f"club-{org.hex}")
    await owner_conn.execute(
        "INSERT INTO events (id, organization_id, title, status) VALUES ($1, $2, 'Friday',"
        " 'live')", ev, org)
    return org, ev


@pytest.fixture
async def livekit() -> AsyncIterator[FakeLiveKit]:
    """A local fake of LiveKit's Twirp API (RoomService, Egress) that checks each call."""
    fake = await asyncio.wait_for(FakeLiveKit().start(), 10)
    yield fake
    await fake.stop()


@pytest.fixture
async def stripe_fake() -> AsyncIterator[FakeStripe]:
    """A local fake of Stripe's API that checks each call (fees, destination, keys)."""
    fake = await asyncio.wait_for(FakeStripe().start(), 10)
    yield fake
    await fake.stop()
