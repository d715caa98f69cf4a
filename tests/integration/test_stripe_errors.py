"""Failed Stripe calls answer with our own short reasons: no host, port or Stripe text."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.client import token
from tests.support.fake_stripe import FakeStripe
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.services import free_port


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    stripe = await asyncio.wait_for(FakeStripe().start(), 10)
    yield stripe
    await stripe.stop()


async def post(hub: HubProcess, path: str, body: Any, headers: dict[str, str]
               ) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
        return await http.post(path, json=body, headers=headers)


async def test_unreachable_stripe_is_503_without_internals(
        hub_factory: Any, fake: FakeStripe, event: tuple[uuid.UUID, uuid.UUID],
        owner_conn: asyncpg.Connection) -> None:
    """Stripe on a closed port: checkout answers 503 "payment service unavailable"."""
    org, ev = event
    port = free_port()  # bound, then released: nothing listens there
    hub = hub_factory(db=True, **fake.env(STRIPE_API_BASE=f"http://127.0.0.1:{port}"))
    await owner_conn.execute("UPDATE organizations SET stripe_account_id = 'acct_x',"
                             " charges_enabled = true WHERE id = $1", org)
    resp = await post(hub, f"/api/events/{ev}/checkout", {"kind": "tip", "amount_cents": 500},
                      {"Authorization": f"Bearer {token(org, sub='fan-1')}"})
    assert resp.status_code == 503, resp.text
    assert resp.json()["detail"] == "payment service unavailable"
    assert "127.0.0.1" not in resp.text and str(port) not in resp.text


async def test_refused_stripe_call_is_502_without_stripe_text(
        hub_factory: Any, fake: FakeStripe, event: tuple[uuid.UUID, uuid.UUID],
        owner_conn: asyncpg.Connection) -> None:
    """Stripe refuses (an account it does not know): 502 with our reason, no echo."""
    org, _ = event
    hub = hub_factory(db=True, **fake.env())
    odd = "acct_<script>alert(1)</script>" + "x" * 2000
    await owner_conn.execute("UPDATE organizations SET stripe_account_id = $2 WHERE id = $1",
                             org, odd)
    resp = await post(hub, f"/api/orgs/{org}/stripe/onboarding",
                      {"return_url": "https://club.example/ok",
                       "refresh_url": "https://club.example/again"}, {"X-API-Key": API_KEY})
    assert resp.status_code == 502, resp.text
    assert resp.json()["detail"] == "payment service refused the request"
    assert "script" not in resp.text and len(resp.text) < 200
