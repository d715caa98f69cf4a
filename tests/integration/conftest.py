"""Fakes of the providers' APIs shared by the integration tests (real SDKs talk to them)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_twilio import FakeTwilio, new_number


@pytest.fixture
def number() -> str:
    """The org's SMS number."""
    return new_number()


@pytest.fixture
async def twilio(number: str) -> AsyncIterator[FakeTwilio]:
    fake = await asyncio.wait_for(FakeTwilio(numbers={number}).start(), 10)
    yield fake
    await fake.stop()


@pytest.fixture
def fan_phone() -> str:
    """A texting fan's phone."""
    return new_number()


@pytest.fixture
async def org_event(event: tuple[uuid.UUID, uuid.UUID], owner_conn: asyncpg.Connection,
                    number: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The test's live event, its org owning the Twilio number ``number``."""
    org, _ = event
    await owner_conn.execute("UPDATE organizations SET sms_number = $2 WHERE id = $1",
                             org, number)
    return event


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeOpenAI]:
    fake = await asyncio.wait_for(FakeOpenAI().start(), 10)
    yield fake
    await fake.stop()
