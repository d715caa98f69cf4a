"""Shared fixtures: real Redis, unique key prefixes, real hub processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.hubproc import HubProcess
from tests.support.services import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix no other test shares."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def hub_factory(redis_url: str, prefix: str) -> Iterator[Callable[..., HubProcess]]:
    """Start hub processes sharing this test's Redis prefix; stop them afterwards."""
    started: list[HubProcess] = []

    def start(redis: bool = True, **env: str) -> HubProcess:
        base = {"REDIS_URL": redis_url, "HUB_REDIS_PREFIX": prefix} if redis else {}
        hub = HubProcess({**base, **env})
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def org() -> uuid.UUID:
    return uuid.uuid4()
