"""Signed but odd Twilio webhooks get a sane answer, never a 500, and nothing broken is
stored; without HUB_PUBLIC_URL a hub with SMS configured refuses to start."""

from __future__ import annotations

import secrets
import uuid
from typing import Any
from xml.etree import ElementTree

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.support.fake_twilio import FakeTwilio, new_number
from tests.support.hubproc import HubProcess

PUBLIC = "https://sms.livehub.example"
WEBHOOK = "/webhooks/twilio/sms"


@pytest.fixture
async def org(event: tuple[uuid.UUID, uuid.UUID], owner_conn: asyncpg.Connection,
              number: str) -> uuid.UUID:
    await owner_conn.execute("UPDATE organizations SET sms_number = $2 WHERE id = $1",
                             event[0], number)
    return event[0]


def inbound(number: str, phone: str, body: str) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    return {"SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "To": number, "NumSegments": "1", "MessageSid": sid,
            "AccountSid": "AC" + "0123456789abcdef" * 2, "From": phone,
            "ApiVersion": "2010-04-01"}


async def send(hub: HubProcess, twilio: FakeTwilio, params: dict[str, str]) -> httpx.Response:
    """POST the form as Twilio would, signed with the SDK's RequestValidator."""
    signature = RequestValidator(twilio.auth_token).compute_signature(PUBLIC + WEBHOOK, params)
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        return await http.post(WEBHOOK, data=params, headers={"X-Twilio-Signature": signature})


async def counts(owner: asyncpg.Connection, org: uuid.UUID) -> dict[str, int]:
    out = {}
    for table in ("webhook_events", "sms_messages", "sms_conversations"):
        out[table] = await owner.fetchval(
            f"SELECT count(*) FROM {table} WHERE organization_id = $1", org)
    return out


async def test_nul_in_a_signed_body_gets_a_reply_not_a_500(
        hub_factory: Any, twilio: FakeTwilio, org: uuid.UUID, owner_conn: asyncpg.Connection,
        number: str) -> None:
    """A signed SMS whose body holds NUL is answered with TwiML and stored without it."""
    hub = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC))
    phone = new_number()
    for body in ("HELP\x00", "\x00\x00<script>alert(1)</script>\x00"):
        resp = await send(hub, twilio, inbound(number, phone, body))
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/xml")
        assert ElementTree.fromstring(resp.text).tag == "Response"
    stored = await owner_conn.fetch(
        "SELECT body FROM sms_messages WHERE organization_id = $1 AND direction = 'in'"
        " ORDER BY created_at", org)
    assert [r["body"] for r in stored] == ["HELP", "<script>alert(1)</script>"]
    assert (await counts(owner_conn, org))["webhook_events"] == 2


async def test_nul_in_the_sender_is_400_and_stores_nothing(
        hub_factory: Any, twilio: FakeTwilio, org: uuid.UUID, owner_conn: asyncpg.Connection,
        number: str) -> None:
    """A NUL (or a huge value) in From, To or MessageSid is 400 with our reason."""
    hub = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC))
    before = await counts(owner_conn, org)
    bad = [inbound(number, new_number() + "\x00", "hi"),
           inbound(number, "+1" + "5" * 5000, "hi"),
           {**inbound(number, new_number(), "hi"), "MessageSid": "SM\x00x"}]
    for params in bad:
        resp = await send(hub, twilio, params)
        assert resp.status_code == 400, resp.text
        assert resp.json()["detail"] == "MessageSid, From or To is malformed"
    assert await counts(owner_conn, org) == before


async def test_sms_without_public_url_refuses_to_start(
        hub_factory: Any, twilio: FakeTwilio) -> None:
    """Twilio configured, HUB_PUBLIC_URL unset: the hub exits naming the variable."""
    with pytest.raises(RuntimeError, match="hub exited early") as failed:
        hub_factory(db=True, **twilio.env())
    assert "HUB_PUBLIC_URL must be set" in str(failed.value)
