"""Fakes of the providers' APIs shared by the integration tests (real SDKs talk to them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.fake_livekit import FakeLiveKit
from tests.support.fake_twilio import FakeTwilio, new_number


@pytest.fixture
async def livekit() -> AsyncIterator[FakeLiveKit]:
    fake = await asyncio.wait_for(FakeLiveKit().start(), 10)
    yield fake
    await fake.stop()


@pytest.fixture
def number() -> str:
    """The org's SMS number."""
    return new_number()


@pytest.fixture
async def twilio(number: str) -> AsyncIterator[FakeTwilio]:
    fake = await asyncio.wait_for(FakeTwilio(numbers={number}).start(), 10)
    yield fake
    await fake.stop()
