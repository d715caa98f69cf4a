"""Karaoke by SMS through real hub processes, Redis and Postgres: "sing <song>" by text (the
scripted model and the rules), web signups with a consented phone, STOP, and the phone
kept out of every room event; outbound SMS go to the local Twilio fake."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from integrations.twilio_keywords import STOP_REPLY
from tests.support.client import Client, token
from tests.support.fake_openai import FakeOpenAI, text, tool_call, tool_results
from tests.support.fake_twilio import FakeTwilio, new_number
from tests.support.hubproc import HubProcess
from tests.support.members import add_member
from tests.support.sms import PUBLIC, inbound, replies, text_hub


@pytest.fixture
def hub(hub_factory: Any, twilio: FakeTwilio, openai_fake: FakeOpenAI) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC),
                                      **openai_fake.env())
    return process


@pytest.fixture
def rules_hub(hub_factory: Any, twilio: FakeTwilio) -> HubProcess:
    """A hub with SMS but no OPENAI_API_KEY: the rules answer."""
    process: HubProcess = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC))
    return process


class Host:
    """A dj on the event's socket who follows the queue version, as a host UI would."""

    def __init__(self, client: Client, room: str) -> None:
        self.client, self.room, self.version = client, room, 0
        self.seen: list[dict[str, Any]] = []  # every karaoke event, as received

    @classmethod
    async def join(cls, hub: HubProcess, owner_dsn: str, org: uuid.UUID, room: str) -> Host:
        await add_member(owner_dsn, org, "host", "dj")
        client = await Client.open(hub.ws_url, token(org, sub="host", roles=("dj",)))
        await client.subscribe(room)
        return cls(client, room)

    async def event(self) -> dict[str, Any]:
        """The next karaoke event."""
        data = await self.client.next_event("karaoke")
        self.seen.append(data)
        self.version = max(self.version, data["version"])
        return data

    async def act(self, method: str, **params: Any) -> dict[str, Any]:
        state = await self.client.call(self.room, f"karaoke.{method}",
                                       {"version": self.version, **params})
        self.version = state["version"]
        await self.event()  # the same change, broadcast
        return state


async def sent_to(twilio: FakeTwilio, phone: str, count: int = 1) -> list[str]:
    """The bodies texted to ``phone`` once there are ``count`` of them."""
    async def wait() -> list[str]:
        while len(bodies := [m.body for m in twilio.sent if m.to == phone]) < count:
            await asyncio.sleep(0.05)
        return bodies

    return await asyncio.wait_for(wait(), 10)


def formatted(phone: str) -> str:
    """A US number the way people type it into a form: +1 (999) 123-4567."""
    digits = phone.removeprefix("+1")
    return f"+1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}"


async def signup_row(owner: asyncpg.Connection, signup_id: str) -> asyncpg.Record:
    row: asyncpg.Record = await owner.fetchrow(
        "SELECT singer_sub, singer_name, song_title, phone, sms_consent_at FROM"
        " karaoke_signups WHERE id = $1", uuid.UUID(signup_id))
    return row


async def test_sing_by_sms_signs_up_and_texts_when_up_next(
        hub, twilio, openai_fake, org_event, owner_conn, owner_dsn, number, fan_phone):
    """"sing Valerie" becomes a karaoke_signup tool call; the room sees the singer with an
    alias instead of the phone (hosts hold and release by it); next up, the phone gets
    the text from the org's number."""
    org, ev = org_event
    room = f"event:{ev}"
    host = await Host.join(hub, owner_dsn, org, room)
    ann = await Client.open(hub.ws_url, token(org, sub="ann"))
    await ann.call(room, "karaoke.signup", {"singer": "Ann", "song": "Jolene"})
    await host.event()
    openai_fake.script = [
        tool_call("route", {"intent": "karaoke"}),
        tool_call("karaoke_signup", {"song": "Valerie", "singer": "Sam"}),
        text(lambda body: f"You're on the list, {tool_results(body)[-1]['singer']}!")]

    resp = await text_hub(hub, twilio, inbound(number, fan_phone, "sing Valerie as Sam"))

    assert replies(resp) == ["You're on the list, Sam!"]
    assert openai_fake.tool_names(1) == {"karaoke_signup"} and openai_fake.refused == []
    signed = tool_results(openai_fake.requests[-1])[-1]
    row = await signup_row(owner_conn, signed["signup_id"])
    assert (row["singer_sub"], row["singer_name"], row["song_title"], row["phone"]) == (
        f"sms:{fan_phone}", "Sam", "Valerie", fan_phone)
    assert row["sms_consent_at"] is not None
    change = await host.event()
    [_, sam] = change["queue"]
    alias = sam["singer_sub"]
    assert (sam["singer"], sam["song"]) == ("Sam", "Valerie")
    assert alias.startswith("sms:") and alias != f"sms:{fan_phone}"
    assert twilio.sent == []  # Ann is up next, and she gave no phone
    held = await host.act("hold", singer_sub=alias)
    assert held["held"] == [alias] and held["queue"][1]["held"]
    assert (await host.act("release", singer_sub=alias))["held"] == []

    state = await host.act("next")

    assert state["now_singing"]["singer"] == "Ann"
    assert state["next_up"]["singer_sub"] == alias
    [body] = await sent_to(twilio, fan_phone)
    assert body.startswith("Sam, you're up next!")
    assert [m.from_ for m in twilio.sent] == [number] and twilio.refused == []
    # Nothing the room got names the phone, in any spelling.
    assert fan_phone.removeprefix("+") not in json.dumps(host.seen)
    await ann.close()
    await host.client.close()


async def test_web_signup_with_phone_and_consent_is_texted(
        hub, twilio, org_event, owner_conn, owner_dsn):
    """A web signup's phone, typed with spaces and brackets, is stored as E.164 with its
    consent and texted when next up; bad phones, a phone without consent and a wrong
    consent type are refused with 4402 naming the problem and store nothing."""
    org, ev = org_event
    room = f"event:{ev}"
    phone = new_number()
    host = await Host.join(hub, owner_dsn, org, room)
    wendy = await Client.open(hub.ws_url, token(org, sub="wendy"))
    base = {"singer": "Wendy", "song": "Dancing Queen"}
    refusals = [({"phone": formatted(phone)}, "sms_consent"),
                ({"phone": formatted(phone), "sms_consent": False}, "sms_consent"),
                ({"phone": "<script>alert(1)</script>", "sms_consent": True}, "country code"),
                ({"phone": "555-0100", "sms_consent": True}, "country code"),
                ({"phone": "+0123456789", "sms_consent": True}, "country code"),
                ({"phone": formatted(phone), "sms_consent": "yes"}, "sms_consent"),
                ({"phone": "1" * 40, "sms_consent": True}, "phone")]
    for extra, named in refusals:
        err = await wendy.call(room, "karaoke.signup", {**base, **extra}, expect_error=True)
        assert err["code"] == 4402 and named in err["reason"], (extra, err)
    assert await owner_conn.fetchval("SELECT count(*) FROM karaoke_signups WHERE"
                                     " organization_id = $1", org) == 0

    signed = await wendy.call(room, "karaoke.signup",
                              {**base, "phone": formatted(phone), "sms_consent": True})

    row = await signup_row(owner_conn, signed["signup_id"])
    assert (row["singer_sub"], row["phone"]) == ("wendy", phone)
    assert row["sms_consent_at"] is not None
    [body] = await sent_to(twilio, phone)  # an empty queue: she is up next at once
    assert body.startswith("Wendy, you're up next!") and "STOP" in body
    change = await host.event()
    assert change["next_up"]["singer_sub"] == "wendy"
    assert phone.removeprefix("+") not in json.dumps(change)
    await wendy.close()
    await host.client.close()


async def test_stop_silences_up_next_texts_for_sms_and_web_singers(
        rules_hub, twilio, org_event, owner_conn, owner_dsn, number, fan_phone):
    """With the rules, "sing Jolene" signs the fan up; after STOP from that phone, and
    from a web singer's phone, neither is texted when up next, while a third singer who
    did not opt out is."""
    org, ev = org_event
    room = f"event:{ev}"
    web_phone, other_phone = new_number(), new_number()
    host = await Host.join(rules_hub, owner_dsn, org, room)
    ann = await Client.open(rules_hub.ws_url, token(org, sub="ann"))
    await ann.call(room, "karaoke.signup", {"singer": "Ann", "song": "Creep"})
    await host.event()

    sing = await text_hub(rules_hub, twilio, inbound(number, fan_phone, "sing Jolene"))

    assert replies(sing) == ['You\'re signed up to sing "Jolene"! We\'ll text you when'
                             " you're up next. Reply STOP to opt out."]
    assert (await host.event())["queue"][1]["singer"] == "Text-in singer"
    for phone in (fan_phone, web_phone):
        stop = await text_hub(rules_hub, twilio, inbound(number, phone, "STOP"))
        assert replies(stop) == [STOP_REPLY]
    wendy = await Client.open(rules_hub.ws_url, token(org, sub="wendy"))
    await wendy.call(room, "karaoke.signup", {"singer": "Wendy", "song": "Toxic",
                                              "phone": web_phone, "sms_consent": True})
    await host.event()
    olly = await Client.open(rules_hub.ws_url, token(org, sub="olly"))
    await olly.call(room, "karaoke.signup", {"singer": "Olly", "song": "Wonderwall",
                                             "phone": other_phone, "sms_consent": True})
    await host.event()

    assert (await host.act("next"))["next_up"]["singer"] == "Text-in singer"
    assert (await host.act("next"))["next_up"]["singer"] == "Wendy"
    assert (await host.act("next"))["next_up"]["singer"] == "Olly"

    [body] = await sent_to(twilio, other_phone)
    assert body.startswith("Olly, you're up next!")
    assert [m.to for m in twilio.sent] == [other_phone] and twilio.refused == []
    for client in (ann, wendy, olly, host.client):
        await client.close()
