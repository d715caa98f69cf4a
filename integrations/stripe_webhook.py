"""Stripe webhooks: verify, deduplicate, apply through the room services, broadcast.

Verification uses the SDK (``stripe.Webhook.construct_event``) on the raw body: the
``Stripe-Signature`` HMAC, and a timestamp at most ``TOLERANCE`` seconds old. The event's
``livemode`` must match ``STRIPE_LIVEMODE``. Anything refused answers 400 and writes
nothing.

A verified event runs in one ``tenant_tx`` of its org: record the event id in
``webhook_events`` (a redelivery is a no-op), lock the checkout row (deliveries for one
payment apply one at a time, in whatever order Stripe sends them), apply, commit. Our
own rows (checkout status, pay-per-view access, the org's flags) change in that same
transaction. Tips and request bumps go through ``hub.services.call`` as the server, the
same path a websocket ``call`` takes, so the alert and goal progress are broadcast
before we answer. That call commits on its own connection; should our transaction then
fail, Stripe redelivers, and the services, idempotent by tip id and payment id, change
nothing the second time.

Events:
* checkout.session.completed (only when ``payment_status`` is 'paid'; card payments) and
  checkout.session.async_payment_succeeded (bank debits): tip -> ``tips.paid``,
  request -> ``requests.payment_confirmed``, ppv -> a ``ppv_access`` row.
* checkout.session.async_payment_failed: the checkout is 'failed'.
* charge.refunded (full refunds only; a partial refund is recorded and changes
  nothing): tip -> ``tips.refunded``, request -> ``requests.payment_refunded``,
  ppv -> ``integrations.livekit.revoke_ppv``. A refund that arrives before its
  completion marks the checkout 'refunded', and the completion then does nothing.
* account.updated: the org's ``charges_enabled`` / ``payouts_enabled``, unless a newer
  account.updated was applied already.
Anything else, or an event for an org or checkout we do not know, answers 200 "ignored".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import msgspec
import stripe

from hub.runtime import Hub
from integrations import livekit
from integrations import livekit_rooms as lk_rooms
from integrations import stripe_store as store
from integrations.stripe_config import StripeConfig
from integrations.stripe_wire import (
    Account,
    Charge,
    Session,
    StripeEvent,
    WebhookResult,
    data_object,
)
from persistence.tenant import Principal, tenant_tx
from rooms.names import RoomKind, RoomName
from rooms.services.base import Caller, ServiceError

log = logging.getLogger(__name__)
TOLERANCE = 300  # seconds; Stripe's default, and what it recommends
_encoder = msgspec.json.Encoder()
# Each webhook holds one pooled connection (its claim) while the service call takes a
# second; bounding concurrent webhooks per process keeps the pool from running dry.
_SLOTS = asyncio.Semaphore(4)

Work = Callable[[store.Conn, store.Checkout], Awaitable[str]]


class WebhookRefused(Exception):
    """Bad or missing signature, stale timestamp, tampered body, or the wrong mode."""


def verify(cfg: StripeConfig, body: bytes, signature: str | None) -> StripeEvent:
    """The verified event.

    Raises:
        WebhookRefused: see the class.
    """
    try:
        payload = body.decode("utf-8")
        stripe.Webhook.construct_event(payload, signature, cfg.webhook_secret,
                                       tolerance=TOLERANCE)
        event = msgspec.json.decode(body, type=StripeEvent)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRefused(f"signature: {exc.user_message or exc}") from None
    except (UnicodeDecodeError, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise WebhookRefused("the body is not a Stripe event") from None
    if event.livemode != cfg.livemode:
        raise WebhookRefused(f"livemode={str(event.livemode).lower()} event, but this hub"
                             f" runs with STRIPE_LIVEMODE={str(cfg.livemode).lower()}")
    return event


async def apply(hub: Hub, event: StripeEvent, body: bytes) -> WebhookResult:
    """Apply a verified event once."""
    handler = _HANDLERS.get(event.type)
    if handler is None:
        return WebhookResult("ignored", f"{event.type} is not used")
    try:
        return await handler(hub, event, body)
    except msgspec.ValidationError as exc:  # signed by Stripe, but not what we expect
        log.warning("stripe %s %s unreadable: %s", event.type, event.id, exc)
        return WebhookResult("ignored", f"unreadable object: {exc}")


async def _run(hub: Hub, org: uuid.UUID, event: StripeEvent, body: bytes,
               work: Callable[[store.Conn], Awaitable[str]]) -> WebhookResult:
    """Claim the event id and do the work in one transaction of ``org``."""
    assert hub.db is not None
    async with _SLOTS, tenant_tx(hub.db, Principal(org, None, "admin")) as conn:
        if not await store.claim(conn, event.id, event.type, body.decode()):
            return WebhookResult("duplicate")
        try:
            return WebhookResult("applied", await work(conn))
        except ServiceError as exc:
            # The service will refuse again on every redelivery: record the event, tell
            # an operator, and stop Stripe retrying.
            log.error("stripe %s %s refused by the service: %s", event.type, event.id,
                      exc.reason)
            return WebhookResult("refused", exc.reason)


async def _on_checkout(hub: Hub, org: uuid.UUID, checkout_id: uuid.UUID, event: StripeEvent,
                       body: bytes, work: Work) -> WebhookResult:
    async def locked(conn: store.Conn) -> str:
        c = await store.checkout(conn, checkout_id, lock=True)
        if c is None:
            return "no such checkout"
        return await work(conn, c)

    return await _run(hub, org, event, body, locked)


def _ids(metadata: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(org, checkout) from the metadata we put on every session and payment."""
    try:
        return uuid.UUID(metadata["org_id"]), uuid.UUID(metadata["checkout_id"])
    except (KeyError, ValueError):
        return None


async def _service(hub: Hub, org: uuid.UUID, c: store.Checkout, method: str,
                   params: dict[str, Any]) -> None:
    assert hub.services is not None
    await hub.services.call(Caller.server(org), RoomName(RoomKind.EVENT, c.event_id), method,
                            _encoder.encode(params))


# -- handlers ---------------------------------------------------------------------------------


async def _paid(hub: Hub, event: StripeEvent, body: bytes) -> WebhookResult:
    session: Session = data_object(event, Session)
    if session.payment_status != "paid":
        return WebhookResult("ignored", "payment not settled yet")
    ids = _ids(session.metadata)
    if ids is None:
        return WebhookResult("ignored", "not a livehub checkout")
    org = ids[0]
    payment_id = session.payment_intent or session.id

    async def work(conn: store.Conn, c: store.Checkout) -> str:
        if c.status in ("paid", "refunded"):
            return f"already {c.status}"  # paid twice, or refunded before it completed
        await store.mark(conn, c.id, "paid", session.payment_intent)
        if c.kind == "tip":
            await _service(hub, org, c, "tips.paid", {
                "tip_id": str(c.tip_id), "amount_cents": c.amount_cents,
                "platform_fee_cents": c.fee_cents, "payment_id": payment_id})
        elif c.kind == "request":
            await _service(hub, org, c, "requests.payment_confirmed", {
                "request_id": str(c.request_id), "amount_cents": c.amount_cents,
                "payment_id": payment_id})
        else:
            await store.grant_ppv(conn, replace(c, session_id=session.id))
        return "paid"

    return await _on_checkout(hub, org, ids[1], event, body, work)


async def _failed(hub: Hub, event: StripeEvent, body: bytes) -> WebhookResult:
    session: Session = data_object(event, Session)
    ids = _ids(session.metadata)
    if ids is None:
        return WebhookResult("ignored", "not a livehub checkout")

    async def work(conn: store.Conn, c: store.Checkout) -> str:
        if c.status != "open":
            return f"already {c.status}"
        await store.mark(conn, c.id, "failed", session.payment_intent)
        return "failed"

    return await _on_checkout(hub, ids[0], ids[1], event, body, work)


async def _refunded(hub: Hub, event: StripeEvent, body: bytes) -> WebhookResult:
    charge: Charge = data_object(event, Charge)
    if not charge.refunded:
        return WebhookResult("ignored", "partial refund: the payment still counts")
    ids = _ids(charge.metadata)
    if ids is None and charge.payment_intent and hub.db is not None:
        found = await store.checkout_org(hub.db, None, charge.payment_intent)
        ids = None if found is None else (found[1], found[0])
    if ids is None:
        return WebhookResult("ignored", "not a livehub payment")
    org = ids[0]

    async def work(conn: store.Conn, c: store.Checkout) -> str:
        if c.status == "refunded":
            return "already refunded"
        was_paid = c.status == "paid"
        await store.mark(conn, c.id, "refunded", charge.payment_intent)
        if c.kind == "tip":  # before payment too: the tips service keeps a tombstone
            await _service(hub, org, c, "tips.refunded", {"tip_id": str(c.tip_id)})
        elif c.kind == "request" and was_paid:
            await _service(hub, org, c, "requests.payment_refunded", {
                "request_id": str(c.request_id), "amount_cents": c.amount_cents,
                "payment_id": charge.payment_intent or charge.id})
        elif c.kind == "ppv" and was_paid and c.user_id is not None:
            try:
                await livekit.revoke_ppv(hub, org, c.event_id, c.user_id)
            except lk_rooms.RoomServiceError as exc:  # access is gone; only the kick failed
                log.warning("ppv refund %s: LiveKit kick failed: %s", c.id, exc)
        return "refunded" if was_paid else "refunded before payment"

    return await _on_checkout(hub, org, ids[1], event, body, work)


async def _account(hub: Hub, event: StripeEvent, body: bytes) -> WebhookResult:
    account: Account = data_object(event, Account)
    assert hub.db is not None
    org = await store.account_org(hub.db, account.id)
    if org is None:
        return WebhookResult("ignored", "no organization has this account")

    async def work(conn: store.Conn) -> str:
        fresh = await store.sync_account(conn, account.charges_enabled,
                                         account.payouts_enabled, event.created)
        return "synced" if fresh else "older than the state we have"

    return await _run(hub, org, event, body, work)


Handler = Callable[[Hub, StripeEvent, bytes], Awaitable[WebhookResult]]
_HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _paid,
    "checkout.session.async_payment_succeeded": _paid,
    "checkout.session.async_payment_failed": _failed,
    "charge.refunded": _refunded,
    "account.updated": _account,
}
