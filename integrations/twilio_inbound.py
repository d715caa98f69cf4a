"""One verified inbound SMS: dedupe, store, opt-out keywords, agents, and the reply.

Order of work, and why:

1. One ``tenant_tx`` of the number's org claims the MessageSid in ``webhook_events``
   (provider 'twilio'), stores the message in its conversation and applies STOP/START.
   A redelivered MessageSid finds its claim and changes nothing.
2. STOP / START / HELP (``twilio_keywords``) are answered with Twilio's standard texts and
   never reach the agents.
3. Otherwise the agents answer (``agents.answer``). If they finish within
   ``TWILIO_REPLY_INLINE_SECONDS`` the reply goes back as TwiML; if not, Twilio gets an
   empty TwiML at once and the reply is sent through the REST API when ready.
4. Replies are stored as outbound messages (REST ones with their MessageSid) and the
   webhook event is marked processed. A number that has opted out gets no reply, except
   the confirmation of START or HELP (its own request still counts: texting "play X" while
   opted out still queues the song, it just gets no SMS back).

Processing is at most once per MessageSid: the claim commits before the agents run, so a
crash in between loses that message's reply rather than risking a double request.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import asyncpg
import msgspec

from integrations import agents
from integrations import twilio_store as store
from integrations.agents_config import AgentConfig
from integrations.agents_tools import ToolContext, sms_caller
from integrations.twilio_config import TwilioConfig
from integrations.twilio_keywords import REPLIES, Keyword, keyword
from integrations.twilio_rest import SendFailed, send_sms
from persistence import webhook_events
from persistence.tenant import tenant_tx
from rooms.services.dispatch import Dispatcher

log = logging.getLogger(__name__)

# Replies still being worked on after the webhook answered; kept so they are not
# garbage-collected mid-flight.
_LATE: set[asyncio.Task[None]] = set()
SORRY = "Sorry, something went wrong on our side. Please try again in a minute."


@dataclass(frozen=True)
class Inbound:
    """The fields of Twilio's webhook the hub uses."""

    message_sid: str
    from_: str  # the fan's phone
    to: str  # the org's number
    body: str


@dataclass(frozen=True)
class Thread:
    """A stored inbound message: where its reply goes."""

    org: uuid.UUID
    phone: str
    conversation: uuid.UUID
    message_sid: str
    reply_from: str
    event_id: uuid.UUID | None


async def handle(pool: asyncpg.Pool, services: Dispatcher, cfg: TwilioConfig,
                 agent_cfg: AgentConfig, org: uuid.UUID, sms: Inbound) -> str | None:
    """Process one verified SMS; return the TwiML reply text (None: empty TwiML)."""
    kw = keyword(sms.body)
    async with tenant_tx(pool, sms_caller(org, sms.from_).tenant()) as conn:
        payload = msgspec.json.encode({"from": sms.from_, "to": sms.to, "body": sms.body})
        if not await webhook_events.claim(conn, "twilio", sms.message_sid, "sms.inbound",
                                          payload.decode(), processed=False):
            return None  # a redelivery: already handled
        conversation = await store.conversation(conn, sms.from_)
        await store.add_message(conn, conversation, "in", sms.body, sms.message_sid)
        if kw is not None and kw[0] is not Keyword.HELP:
            await store.set_opt_out(conn, sms.from_, kw[0] is Keyword.STOP, kw[1])
        opted_out = await store.is_opted_out(conn, sms.from_)
        memory = await store.history(conn, conversation, agents.MEMORY)
        event_id = await store.live_event(conn)
    thread = Thread(org, sms.from_, conversation, sms.message_sid, sms.to, event_id)
    if kw is not None:
        text = REPLIES[kw[0]]
        await _stored(pool, thread, text, None)
        return text
    ctx = ToolContext(pool, services, org, sms.from_, event_id)
    work = asyncio.create_task(_answer(agent_cfg, ctx, memory))
    try:
        reply = await asyncio.wait_for(asyncio.shield(work), cfg.reply_inline_seconds)
    except TimeoutError:
        late = asyncio.create_task(_reply_later(pool, cfg, thread, work))
        _LATE.add(late)
        late.add_done_callback(_LATE.discard)
        return None
    log.info("sms %s answered inline by %s (%s)", sms.message_sid, reply.via, reply.intent)
    if opted_out:
        await _stored(pool, thread, None, None)
        return None
    await _stored(pool, thread, reply.text, None)
    return reply.text


async def _answer(agent_cfg: AgentConfig, ctx: ToolContext,
                  memory: list[tuple[store.Direction, str]]) -> agents.Answer:
    """The agents' answer; a bug in them costs the fan an apology, not a Twilio retry."""
    try:
        return await agents.answer(agent_cfg, ctx, memory)
    except Exception:
        log.exception("agents failed on a message from %s", ctx.phone)
        return agents.Answer(SORRY, "follow_up", "error")


async def _stored(pool: asyncpg.Pool, thread: Thread, text: str | None,
                  sid: str | None) -> None:
    """Store the reply (if any) and mark the webhook event processed."""
    async with tenant_tx(pool, sms_caller(thread.org, thread.phone).tenant()) as conn:
        if text is not None:
            await store.add_message(conn, thread.conversation, "out", text, sid)
        await store.mark_processed(conn, thread.message_sid)


async def _reply_later(pool: asyncpg.Pool, cfg: TwilioConfig, thread: Thread,
                       work: asyncio.Task[agents.Answer]) -> None:
    try:
        reply = await work
        await send_if_allowed(pool, cfg, thread.org, thread.phone, thread.reply_from,
                              reply.text, thread.conversation)
        await _stored(pool, thread, None, None)
    except Exception:
        log.exception("late reply to %s failed", thread.message_sid)


async def send_if_allowed(pool: asyncpg.Pool, cfg: TwilioConfig, org: uuid.UUID, phone: str,
                          from_: str | None, text: str,
                          conversation: uuid.UUID | None = None) -> str | None:
    """Send an SMS through the REST API unless the phone opted out; store it as sent.

    Returns the MessageSid, or None when the phone has opted out.

    Raises:
        SendFailed: Twilio refused or was unreachable.
    """
    async with tenant_tx(pool, sms_caller(org, phone).tenant()) as conn:
        if await store.is_opted_out(conn, phone):
            log.info("not texting %s: opted out", phone)
            return None
        sender = from_ or await store.org_number(conn) or cfg.from_number
        if conversation is None:
            conversation = await store.conversation(conn, phone)
    if not sender:
        raise SendFailed("no sender number: set the org's sms_number or TWILIO_FROM_NUMBER")
    sid = await send_sms(cfg, phone, sender, text)
    async with tenant_tx(pool, sms_caller(org, phone).tenant()) as conn:
        await store.add_message(conn, conversation, "out", text, sid)
    return sid
