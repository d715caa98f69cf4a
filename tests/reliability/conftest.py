"""Fixtures for fault tests: services of the test's own, which it may kill."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_proc import RestartableRedis, restartable_redis


@pytest.fixture
def own_redis() -> Iterator[RestartableRedis]:
    with restartable_redis() as server:
        yield server
