"""Twilio SMS: fans text an organization's number to request songs and ask questions;
karaoke singers who signed up by SMS get "you're up next".

Configuration (environment; ``integrations.twilio_config`` and
``integrations.agents_config``):

* ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``: the account. Unset: the webhook answers
  503 "SMS not configured" and no SMS is sent; the hub runs as usual.
* ``TWILIO_FROM_NUMBER``: sender for REST messages when the org has no ``sms_number``.
* ``TWILIO_API_BASE``: Twilio REST base URL (default ``https://api.twilio.com``).
* ``HUB_PUBLIC_URL``: public base URL Twilio calls (signatures cover the exact URL);
  required with SMS: a Postgres-backed hub refuses to start without it.
* ``TWILIO_REPLY_INLINE_SECONDS`` (default 4), ``TWILIO_TIMEOUT_SECONDS`` (default 10).
* ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_MODEL``, ``AGENT_MAX_TURNS``: the
  agents; without a key the rule-based fallback answers.

Routes:

* ``POST /webhooks/twilio/sms``: Twilio's incoming-message webhook (form-encoded). The
  ``X-Twilio-Signature`` is checked with the SDK's ``RequestValidator`` against
  ``HUB_PUBLIC_URL`` + path: a bad one is 403 and changes nothing. The ``To`` number picks
  the org (``organizations.sms_number``); its live event takes the requests. The answer
  is TwiML (``integrations.twilio_inbound`` has the flow).

Hooks: ``next_up`` (karaoke) texts the singer's ``phone`` (given with consent at signup:
on the web, or by texting "sing <song>") or, for an older signup without one, the phone
in a ``sms:<phone>`` sub; never a phone that opted out (STOP).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIType, Schema
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from integrations import http_docs as docs
from integrations import twilio_inbound as inbound
from integrations import twilio_store as store
from integrations.agents_config import AgentConfig
from integrations.http import (
    WEBHOOK_MAX_BODY,
    PoolDep,
    ServicesDep,
)
from integrations.twilio_config import TwilioConfig
from integrations.twilio_rest import SendFailed
from rooms.phones import phone_of
from rooms.services.base import Hook
from rooms.services.dispatch import Dispatcher

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]
SMS_PATH = "/webhooks/twilio/sms"
# The karaoke host's call waits this long for the SMS; a slower Twilio finishes behind it.
HOOK_WAIT_SECONDS = 3.0
MAX_ID = 64  # MessageSid is 34 characters, an E.164 number at most 16
_PENDING: set[asyncio.Task[Any]] = set()


def _ready(cfg: TwilioConfig, pool: PoolDep,
           services: ServicesDep) -> tuple[asyncpg.Pool, Dispatcher]:
    if pool is None or services is None:
        raise HTTPException("SMS needs Postgres", status_code=503)
    if not cfg.enabled:
        raise HTTPException("SMS not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)",
                            status_code=503)
    return pool, services


def public_url(cfg: TwilioConfig, request: AnyRequest) -> str:
    """The URL Twilio called, which is what it signed: HUB_PUBLIC_URL + path (+ query).

    Never the request's own URL: its host is whatever the caller put in ``Host``.
    """
    query = request.url.query
    return f"{cfg.public_url.rstrip('/')}{request.url.path}" + (f"?{query}" if query else "")


def _plain_id(value: str) -> bool:
    """An id or phone number as Twilio sends them: short, printable, no NUL."""
    return len(value) <= MAX_ID and value.isprintable()


def twiml(text: str | None) -> Response[str]:
    resp = MessagingResponse()
    if text:
        resp.message(text)
    return Response(str(resp), media_type="application/xml")


_SMS_FORM = Schema(type=OpenAPIType.OBJECT, required=["MessageSid", "From", "To"],
                   properties={name: Schema(type=OpenAPIType.STRING, description=what)
                               for name, what in (("MessageSid", "Twilio's message id"),
                                                  ("From", "The fan's number"),
                                                  ("To", "The organization's number"),
                                                  ("Body", "The text"))})


@post(SMS_PATH, status_code=200, request_max_body_size=WEBHOOK_MAX_BODY,
      summary="Twilio incoming SMS webhook (signed by Twilio)",
      operation_class=docs.documented(
          docs.raw_body("application/x-www-form-urlencoded",
                        "Twilio's incoming-message parameters, exactly as signed (at most"
                        f" {WEBHOOK_MAX_BODY // 1024} KiB); others are ignored", _SMS_FORM),
          [docs.header("X-Twilio-Signature", "Twilio's signature of HUB_PUBLIC_URL + path"
                                             " and the form, with TWILIO_AUTH_TOKEN")]),
      responses=docs.errors(docs.BODY_ERRORS, docs.BACKING, {
          400: "MessageSid, From or To is missing or malformed",
          403: "Invalid X-Twilio-Signature",
          404: "No organization has this number",
          503: "SMS not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN), or no Postgres"})
      | docs.ok(str, "TwiML: the reply texted back, if any", media_type="application/xml"))
async def twilio_sms_webhook(request: AnyRequest, pool: PoolDep,
                             services: ServicesDep, twilio_cfg: NamedDependency[TwilioConfig],
                             agents_cfg: NamedDependency[AgentConfig]) -> Response[str]:
    cfg = twilio_cfg
    db, dispatcher = _ready(cfg, pool, services)
    raw = (await request.body()).decode("utf-8", "replace")
    params = dict(parse_qsl(raw, keep_blank_values=True))
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(cfg.auth_token).validate(public_url(cfg, request), params,
                                                     signature):
        raise HTTPException("invalid X-Twilio-Signature", status_code=403)
    sid = params.get("MessageSid") or params.get("SmsSid", "")
    # Postgres text cannot hold NUL: a body with one (signed, so really sent) loses it
    # and is answered as usual.
    sms = inbound.Inbound(sid, params.get("From", ""), params.get("To", ""),
                          params.get("Body", "").replace("\x00", ""))
    if not (sms.message_sid and sms.from_ and sms.to):
        raise HTTPException("MessageSid, From and To are required", status_code=400)
    if not all(map(_plain_id, (sms.message_sid, sms.from_, sms.to))):
        raise HTTPException("MessageSid, From or To is malformed", status_code=400)
    org = await store.org_for_number(db, sms.to)
    if org is None:
        raise HTTPException("no organization has this number", status_code=404)
    return twiml(await inbound.handle(db, dispatcher, cfg, agents_cfg, org, sms))


async def next_up(pool: asyncpg.Pool, cfg: TwilioConfig, payload: dict[str, Any]) -> None:
    """Text "you're up next" to a singer who gave a phone (not if it opted out)."""
    phone = payload.get("phone") or phone_of(str(payload.get("singer_sub", "")))
    if not cfg.enabled or not phone:
        return
    event_id = uuid.UUID(str(payload["event_id"]))
    org: uuid.UUID | None = await pool.fetchval("SELECT app_event_org($1)", event_id)
    if org is None:
        return
    text = (f"{payload.get('singer') or 'Hey'}, you're up next! Head to the stage. "
            "Reply STOP to opt out.")

    async def send() -> None:
        try:
            await inbound.send_if_allowed(pool, cfg, org, phone, None, text)
        except SendFailed:
            log.exception("next_up SMS to %s failed", phone)

    task = asyncio.create_task(send())
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)
    # Wait briefly so a quick send is done when the host's call returns; never longer.
    await asyncio.wait({task}, timeout=HOOK_WAIT_SECONDS)


def next_up_hook(pool: asyncpg.Pool, cfg: TwilioConfig) -> Hook:
    """The karaoke service's ``next_up`` hook: "you're up next" by SMS."""

    async def on_next_up(name: str, payload: dict[str, Any]) -> None:
        await next_up(pool, cfg, payload)

    return on_next_up


ROUTES: list[Any] = [twilio_sms_webhook]
