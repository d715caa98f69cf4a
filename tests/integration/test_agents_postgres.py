"""The SMS agents' booking and availability tools against Postgres, and a conversation's
memory across texts: real hub processes, the scripted local OpenAI, the Twilio fake."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import asyncpg
import pytest

from tests.support.fake_openai import FakeOpenAI, text, tool_call, tool_results
from tests.support.fake_twilio import FakeTwilio, new_number
from tests.support.hubproc import HubProcess
from tests.support.sms import PUBLIC, inbound, replies, text_hub

BOOKED = datetime.date(2031, 2, 14)  # the org has an event that day
OTHERS = datetime.date(2031, 2, 15)  # only another org has one
XSS = "<script>alert(1)</script> ' OR 1=1 --"


@pytest.fixture
def hub(hub_factory: Any, twilio: FakeTwilio, openai_fake: FakeOpenAI) -> HubProcess:
    # Six turns: the booking script checks two dates and books twice before answering.
    process: HubProcess = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC),
                                      **openai_fake.env(AGENT_MAX_TURNS="6"))
    return process


async def add_event(owner: asyncpg.Connection, org: uuid.UUID, day: datetime.date) -> None:
    """A scheduled event of ``org`` at noon UTC on ``day`` (an org is made if need be)."""
    await owner.execute(
        "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, 'Other',"
        " $2, 'djdash') ON CONFLICT (id) DO NOTHING", org, f"other-{org.hex}")
    await owner.execute(
        "INSERT INTO events (organization_id, title, starts_at) VALUES ($1, 'Gig', $2)",
        org, datetime.datetime.combine(day, datetime.time(12), datetime.UTC))


async def test_booking_tools_read_and_write_postgres(
        hub, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """check_availability counts the org's own events only; create_booking_inquiry stores
    the fan's inquiry (text kept verbatim) in the org; invalid guests never run."""
    org, _ = org_event
    await add_event(owner_conn, org, BOOKED)
    await add_event(owner_conn, uuid.uuid4(), OTHERS)
    openai_fake.script = [
        tool_call("route", {"intent": "booking"}),
        tool_call("check_availability", {"date": BOOKED.isoformat()}),
        tool_call("check_availability", {"date": OTHERS.isoformat()}),
        tool_call("create_booking_inquiry", {"date": OTHERS.isoformat(),
                                             "event_type": "Wedding", "guests": 0}),
        tool_call("create_booking_inquiry", {"date": OTHERS.isoformat(),
                                             "event_type": "Wedding", "guests": 120,
                                             "notes": XSS}),
        text("Feb 15 is open; we'll be in touch about your wedding.")]

    resp = await text_hub(hub, twilio, inbound(
        number, fan_phone, "Can I book you for a wedding on Feb 14 or 15, 2031?"))

    assert replies(resp) == ["Feb 15 is open; we'll be in touch about your wedding."]
    booked, free, refused, inquiry = tool_results(openai_fake.requests[-1])
    assert booked == {"date": BOOKED.isoformat(), "available": False}
    assert free == {"date": OTHERS.isoformat(), "available": True}
    assert refused["error"].startswith("invalid arguments:") and "guests" in refused["error"]
    rows = await owner_conn.fetch(
        "SELECT id, organization_id, phone, event_date, event_type, guests, notes, status"
        " FROM booking_inquiries WHERE phone = $1", fan_phone)
    assert [tuple(r)[1:] for r in rows] == [
        (org, fan_phone, OTHERS, "Wedding", 120, XSS, "new")]
    assert inquiry == {"inquiry_id": str(rows[0]["id"]), "status": "new"}


async def test_a_follow_up_text_carries_the_earlier_turns(
        hub, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """Turn 2 ("how much for that day?") reaches the model with turn 1's question and
    answer before it, for the classifier and the agent; another phone's conversation
    starts empty."""
    org, _ = org_event
    await owner_conn.execute("INSERT INTO service_prices (organization_id, service,"
                             " hourly_cents, minimum_hours) VALUES ($1, 'Wedding', 30000, 3)",
                             org)
    first, second = "Are you free on 2031-03-01?", "How much for a wedding that day, 5 hours?"
    openai_fake.script = [
        tool_call("route", {"intent": "availability"}),
        tool_call("check_availability", {"date": "2031-03-01"}),
        text("Yes, March 1 is open!"),
        tool_call("route", {"intent": "pricing"}),
        tool_call("quote_price", {"service": "wedding", "hours": 5}),
        text(lambda body: f"${tool_results(body)[-1]['total_cents'] // 100} for 5 hours.")]

    assert replies(await text_hub(hub, twilio, inbound(number, fan_phone, first))) == [
        "Yes, March 1 is open!"]
    turn1 = len(openai_fake.requests)
    assert replies(await text_hub(hub, twilio, inbound(number, fan_phone, second))) == [
        "$1500 for 5 hours."]

    earlier = [{"role": "user", "content": first},
               {"role": "assistant", "content": "Yes, March 1 is open!"},
               {"role": "user", "content": second}]
    route, agent = openai_fake.requests[turn1:turn1 + 2]
    assert route["messages"][1:] == earlier
    assert agent["messages"][1:] == earlier
    assert openai_fake.refused == []
    openai_fake.script = [tool_call("route", {"intent": "pricing"}), text("Which service?")]
    stranger = new_number()
    await text_hub(hub, twilio, inbound(number, stranger, "and the price?"))
    assert openai_fake.requests[-1]["messages"][1:] == [
        {"role": "user", "content": "and the price?"}]
