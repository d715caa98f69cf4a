"""Twilio SMS through real hub processes, Redis and Postgres: signed webhooks in, the
agents against a scripted local OpenAI, and outbound SMS to a local Twilio REST fake that
checks every request."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from integrations.agents import CAPPED_REPLY
from integrations.twilio_keywords import START_REPLY, STOP_REPLY
from tests.support.client import Client, token
from tests.support.fake_openai import FakeOpenAI, text, tool_call, tool_results
from tests.support.fake_twilio import FakeTwilio
from tests.support.hubproc import HubProcess
from tests.support.members import add_member
from tests.support.sms import PUBLIC, WEBHOOK, inbound, replies, text_hub

SONG = "can you play Mr. Brightside by The Killers"


@pytest.fixture
def hub(hub_factory: Any, twilio: FakeTwilio, openai_fake: FakeOpenAI) -> HubProcess:
    process: HubProcess = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC),
                                      **openai_fake.env())
    return process


def song_script() -> list[Any]:
    """Route to song_request, create the request, answer with the position it got."""
    return [tool_call("route", {"intent": "song_request"}),
            tool_call("create_song_request", {"title": "Mr. Brightside", "artist": "The Killers"}),
            text(lambda body: f"You're #{tool_results(body)[-1]['position']} in the queue!")]


async def dj_watching(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID) -> Client:
    dj = await Client.open(hub.ws_url, token(org, sub="dj-1", roles=("dj",)))
    await dj.subscribe(f"event:{ev}")
    return dj


async def counts(owner: asyncpg.Connection, org: uuid.UUID) -> dict[str, int]:
    out = {}
    for table in ("webhook_events", "sms_messages", "song_requests", "sms_conversations"):
        out[table] = await owner.fetchval(
            f"SELECT count(*) FROM {table} WHERE organization_id = $1", org)
    return out


async def test_sms_request_goes_through_the_agent_to_the_djs_socket(
        hub, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """An SMS becomes a create_song_request tool call, a queued request the DJ's socket
    sees, and a TwiML reply with its position."""
    org, ev = org_event
    dj = await dj_watching(hub, org, ev)
    web_fan = await Client.open(hub.ws_url, token(org, sub="web-fan"))
    await web_fan.call(f"event:{ev}", "requests.submit", {"title": "Valerie"})
    assert (await dj.next_event("requests"))["request"]["title"] == "Valerie"
    openai_fake.script = song_script()

    resp = await text_hub(hub, twilio, inbound(number, fan_phone, SONG))

    assert replies(resp) == ["You're #2 in the queue!"]
    change = await dj.next_event("requests")
    assert change["op"] == "added"
    assert (change["request"]["title"], change["request"]["artist"],
            change["request"]["requester"], change["request"]["position"]) == (
        "Mr. Brightside", "The Killers", f"sms:…{fan_phone[-4:]}", 2)  # never the number
    # The model saw the SMS, the classifier was forced to route, the agent got its tools,
    # and the tool's result went back to it.
    route, agent, final = openai_fake.requests
    assert route["tool_choice"] == {"type": "function", "function": {"name": "route"}}
    assert route["messages"][-1] == {"role": "user", "content": SONG}
    assert openai_fake.tool_names(1) == {"create_song_request", "queue_position"}
    assert agent["messages"][-1] == {"role": "user", "content": SONG}
    assert tool_results(final)[-1]["position"] == 2 and openai_fake.refused == []
    rows = await owner_conn.fetch(
        "SELECT m.direction, m.body FROM sms_messages m JOIN sms_conversations c"
        " ON c.id = m.conversation_id WHERE c.organization_id = $1 AND c.phone = $2"
        " ORDER BY m.id", org, fan_phone)
    assert [tuple(r) for r in rows] == [("in", SONG), ("out", "You're #2 in the queue!")]
    assert twilio.sent == [] and twilio.refused == []  # answered inline, as TwiML
    await dj.close()
    await web_fan.close()


async def test_bad_signature_is_403_and_changes_nothing(
        hub, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """A forged, mis-addressed or tampered signature is 403: no rows, no model call, no
    broadcast; the same SMS correctly signed then goes through."""
    org, ev = org_event
    dj = await dj_watching(hub, org, ev)
    params = inbound(number, fan_phone, SONG)
    before = await counts(owner_conn, org)
    forged = await text_hub(hub, twilio, params, signature="bm90IGEgc2lnbmF0dXJl")
    # Signed for the address the hub listens on, not the public URL Twilio calls.
    wrong_url = await text_hub(hub, twilio, params, signed_url=hub.url + WEBHOOK)
    tampered = await text_hub(hub, twilio, {**params, "Body": "play Baby Shark"},
                              signature=twilio.sign(PUBLIC + WEBHOOK, params))
    missing = await text_hub(hub, twilio, params, signature="")
    assert [r.status_code for r in (forged, wrong_url, tampered, missing)] == [403] * 4
    assert await counts(owner_conn, org) == before
    assert openai_fake.requests == []
    with pytest.raises(TimeoutError):
        await dj.next_event("requests", timeout=0.5)
    openai_fake.script = song_script()
    ok = await text_hub(hub, twilio, params)
    assert replies(ok) == ["You're #1 in the queue!"]
    assert (await dj.next_event("requests"))["request"]["title"] == "Mr. Brightside"
    await dj.close()


async def test_without_openai_key_the_rules_answer(
        hub_factory, twilio, org_event, owner_conn, number, fan_phone):
    """With no OPENAI_API_KEY the rule-based fallback queues the request (broadcast, with
    its position) and answers a pricing question from the org's prices."""
    org, ev = org_event
    hub = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC))
    await owner_conn.execute("INSERT INTO service_prices (organization_id, service,"
                             " hourly_cents, minimum_hours) VALUES ($1, 'Wedding', 30000, 3)",
                             org)
    dj = await dj_watching(hub, org, ev)
    resp = await text_hub(hub, twilio, inbound(number, fan_phone, SONG))
    assert replies(resp) == ['Got it! "Mr. Brightside" by The Killers is #1 in the queue.']
    change = await dj.next_event("requests")
    assert (change["request"]["title"], change["request"]["requester"]) == (
        "Mr. Brightside", f"sms:…{fan_phone[-4:]}")
    price = await text_hub(hub, twilio, inbound(number, fan_phone, "how much do you charge?"))
    assert replies(price) == ["Our rates: Wedding: $300/hour (min 3h)."]
    await dj.close()


async def test_duplicate_message_sid_changes_nothing(
        hub, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """Twilio redelivering a MessageSid gets an empty TwiML: no second request, vote,
    message, model call or broadcast."""
    org, ev = org_event
    dj = await dj_watching(hub, org, ev)
    openai_fake.script = song_script()
    params = inbound(number, fan_phone, SONG)
    first = await text_hub(hub, twilio, params)
    assert replies(first) == ["You're #1 in the queue!"]
    await dj.next_event("requests")
    after_first = await counts(owner_conn, org)
    again = await text_hub(hub, twilio, params)
    assert replies(again) == []
    assert await counts(owner_conn, org) == after_first
    assert after_first["song_requests"] == 1 and after_first["sms_messages"] == 2
    assert len(openai_fake.requests) == 3 and openai_fake.refused == []
    votes = await owner_conn.fetchval("SELECT count(*) FROM request_votes WHERE"
                                      " organization_id = $1", org)
    assert votes == 1
    with pytest.raises(TimeoutError):
        await dj.next_event("requests", timeout=0.5)
    await dj.close()


async def test_stop_blocks_next_up_sms_and_start_resumes_it(
        hub, twilio, org_event, owner_conn, owner_dsn, number, fan_phone):
    """After STOP a karaoke next_up sends no SMS; after START the next one reaches the
    fake Twilio REST API from the org's number."""
    org, ev = org_event
    room = f"event:{ev}"
    await add_member(owner_dsn, org, "host", "dj")
    singer = await Client.open(hub.ws_url, token(org, sub=f"sms:{fan_phone}"))
    host = await Client.open(hub.ws_url, token(org, sub="host", roles=("dj",)))

    stop = await text_hub(hub, twilio, inbound(number, fan_phone, "Stop"))
    assert replies(stop) == [STOP_REPLY]
    assert await owner_conn.fetchval("SELECT opted_out FROM sms_opt_outs WHERE"
                                     " organization_id = $1 AND phone = $2", org, fan_phone)
    first = await singer.call(room, "karaoke.signup", {"singer": "Ann", "song": "Jolene"})
    assert twilio.sent == []  # the hook ran inside that call and sent nothing

    start = await text_hub(hub, twilio, inbound(number, fan_phone, "START"))
    assert replies(start) == [START_REPLY]
    await host.call(room, "karaoke.skip", {"signup_id": first["signup_id"],
                                           "version": first["version"]})
    await singer.call(room, "karaoke.signup", {"singer": "Ann", "song": "9 to 5"})
    [sms] = twilio.sent
    assert (sms.to, sms.from_) == (fan_phone, number)
    assert sms.body.startswith("Ann, you're up next!") and twilio.refused == []
    stored = await owner_conn.fetchval(
        "SELECT body FROM sms_messages WHERE organization_id = $1 AND twilio_sid = $2",
        org, sms.sid)
    assert stored == sms.body
    await singer.close()
    await host.close()


async def test_invalid_tool_arguments_are_refused_and_reported_to_the_model(
        hub, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """Arguments failing the tool's msgspec Struct never run; the model gets the error as
    the tool result and answers."""
    org, _ = org_event
    openai_fake.script = [
        tool_call("route", {"intent": "song_request"}),
        tool_call("create_song_request", {"title": "", "artist": "The Killers"}),
        tool_call("create_song_request", {"title": "Mr. Brightside", "vip": True}),
        tool_call("create_song_request", '{"title": '),
        text("Which song would you like?")]
    resp = await text_hub(hub, twilio, inbound(number, fan_phone, "play something"))
    assert replies(resp) == ["Which song would you like?"]
    errors = [r["error"] for r in tool_results(openai_fake.requests[-1])]
    assert len(errors) == 3 and all(e.startswith("invalid arguments:") for e in errors)
    assert "length >= 1" in errors[0] and "vip" in errors[1]
    assert await owner_conn.fetchval("SELECT count(*) FROM song_requests WHERE"
                                     " organization_id = $1", org) == 0


async def test_turn_cap_stops_a_model_that_keeps_calling_tools(
        hub_factory, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """With AGENT_MAX_TURNS=3 a model calling tools forever gets 3 agent turns; the fan is
    told a person will follow up and a follow-up task records it."""
    org, _ = org_event
    hub = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC),
                      **openai_fake.env(AGENT_MAX_TURNS="3"))
    openai_fake.script = [tool_call("route", {"intent": "song_request"}),
                          *[tool_call("queue_position", {}) for _ in range(10)]]
    resp = await text_hub(hub, twilio, inbound(number, fan_phone, "where am I?"))
    assert replies(resp) == [CAPPED_REPLY]
    assert len(openai_fake.requests) == 1 + 3 and len(openai_fake.script) == 7
    task = await owner_conn.fetchval("SELECT summary FROM follow_up_tasks WHERE"
                                     " organization_id = $1 AND phone = $2", org, fan_phone)
    assert task.startswith("Agent gave up after 3 turns") and "where am I?" in task


async def test_slow_agents_reply_through_the_rest_api(
        hub_factory, twilio, openai_fake, org_event, owner_conn, number, fan_phone):
    """When the agents outlast TWILIO_REPLY_INLINE_SECONDS Twilio gets an empty TwiML and
    the reply is sent through the REST API once ready."""
    org, ev = org_event
    hub = hub_factory(db=True, **twilio.env(HUB_PUBLIC_URL=PUBLIC,
                                            TWILIO_REPLY_INLINE_SECONDS="0.3"),
                      **openai_fake.env())
    openai_fake.script, openai_fake.delay = song_script(), 0.25
    dj = await dj_watching(hub, org, ev)
    resp = await text_hub(hub, twilio, inbound(number, fan_phone, SONG))
    assert replies(resp) == []
    assert (await dj.next_event("requests"))["request"]["title"] == "Mr. Brightside"

    async def sent() -> None:
        while not twilio.sent:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(sent(), 10)
    [sms] = twilio.sent
    assert (sms.to, sms.from_, sms.body) == (fan_phone, number, "You're #1 in the queue!")
    assert twilio.refused == []
    await dj.close()


async def test_unconfigured_sms_answers_503_and_the_hub_runs(hub_factory):
    """Without Twilio credentials the webhook is 503 with a clear message; /ready is 200."""
    hub = hub_factory(db=True)
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        resp = await http.post(WEBHOOK, data={"Body": "hi"})
    # A fresh connection: the 503 comes before the body is read, so the server may close
    # the first one, and a request already reusing it would race that close.
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        ready = await http.get("/ready")
    assert resp.status_code == 503 and "SMS not configured" in resp.text
    assert ready.status_code == 200
