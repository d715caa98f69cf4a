"""Stripe webhooks: verify, deduplicate, apply through the room services, broadcast.

Verification uses the SDK (``stripe.Webhook.construct_event``) on the raw body: the
``Stripe-Signature`` HMAC, and a timestamp at most ``TOLERANCE`` seconds old. The event's
``livemode`` must match ``STRIPE_LIVEMODE``. Anything refused answers 400 and writes
nothing.

A verified event runs in one transaction of its org (``Dispatcher.unit``): record the
event id in ``webhook_events`` (a redelivery is a no-op), lock the checkout row
(deliveries for one payment apply one at a time, in whatever order Stripe sends them),
apply, commit. Everything the event changes is in that transaction: our own rows
(checkout status, pay-per-view access, the org's flags), and the tips and request bumps,
which go through ``services.invoke`` as the server, the same path a websocket ``call``
takes, joining the transaction. The claim and the effect commit together or not at all:
should anything fail after the claim, nothing is recorded and Stripe's redelivery applies
the event. The room events (alert, goal progress, queue) are broadcast once it commits,
before we answer; a LiveKit kick after a pay-per-view refund likewise.

Events:
* checkout.session.completed (only when ``payment_status`` is 'paid'; card payments) and
  checkout.session.async_payment_succeeded (bank debits): the payment and its platform
  fee go into the money ledger (``integrations.stripe_ledger``), then tip ->
  ``tips.paid``, request -> ``requests.payment_confirmed``, ppv -> a ``ppv_access`` row.
  The services credit only what the ledger holds.
* checkout.session.async_payment_failed: the checkout is 'failed'.
* charge.refunded: each new refund and its fee refund go into the ledger. A partial
  refund lowers what the payment counts for by the refunded amount: a paid tip stays on
  screen and the goal drops (``tips.refunded`` with ``partial``), a bump's paid_cents
  drop (``requests.payment_refunded`` per refund), pay-per-view access stays. Once
  nothing is left (a full refund, or partial ones adding up): tip -> ``tips.refunded``,
  request -> ``requests.payment_refunded``, ppv -> ``integrations.livekit.revoke_ppv``.
  A full refund that arrives before its completion marks the checkout 'refunded', and
  the completion then does nothing; a partial one leaves it open, and the completion
  credits what is left.
* account.updated: the org's ``charges_enabled`` / ``payouts_enabled``, unless a newer
  account.updated was applied already.
Anything else, or an event for an org or checkout we do not know, answers 200 "ignored".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import asyncpg
import msgspec
import stripe

from integrations import stripe_ledger as ledger
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
from persistence import ledger as persisted
from persistence import webhook_events
from rooms.codes import ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.services.base import Unit
from rooms.services.dispatch import Dispatcher
from rooms.services.requests_wire import Payment
from rooms.services.tips_wire import PaidParams, RefundedParams

log = logging.getLogger(__name__)
TOLERANCE = 300  # seconds; Stripe's default, and what it recommends
# Each webhook holds a pooled connection for its whole transaction (and a directory
# lookup may briefly take another); bounding concurrent webhooks per process keeps the
# pool from running dry.
_SLOTS = asyncio.Semaphore(4)

# Drop a pay-per-view purchase in the caller's transaction (org, event, user); returns
# the kick out of the video room, to run once that transaction commits.
RevokePpv = Callable[[store.Conn, uuid.UUID, uuid.UUID], Awaitable[Callable[[], Awaitable[None]]]]


@dataclass(frozen=True)
class Webhooks:
    """What applying an event needs, handed in by the hub."""

    pool: asyncpg.Pool
    services: Dispatcher
    revoke_ppv: RevokePpv


Work = Callable[[Unit, store.Checkout], Awaitable[str]]


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


async def apply(w: Webhooks, event: StripeEvent, body: bytes) -> WebhookResult:
    """Apply a verified event once."""
    handler = _HANDLERS.get(event.type)
    if handler is None:
        return WebhookResult("ignored", f"{event.type} is not used")
    try:
        return await handler(w, event, body)
    except msgspec.ValidationError as exc:  # signed by Stripe, but not what we expect
        log.warning("stripe %s %s unreadable: %s", event.type, event.id, exc)
        return WebhookResult("ignored", f"unreadable object: {exc}")


async def _run(w: Webhooks, org: uuid.UUID, event: StripeEvent, body: bytes,
               work: Callable[[Unit], Awaitable[str]]) -> WebhookResult:
    """Claim the event id and do the work in one transaction of ``org``.

    A service's refusal rolls back only its own savepoint: the claim (and our own rows)
    commit, since it would refuse again on every redelivery. Any other failure rolls
    everything back, the claim included, so a redelivery applies the event.
    """
    async with _SLOTS, w.services.unit(Principal.server(org)) as unit:
        if not await webhook_events.claim(unit.conn, "stripe", event.id, event.type,
                                         body.decode()):
            return WebhookResult("duplicate")
        try:
            return WebhookResult("applied", await work(unit))
        except ServiceError as exc:
            log.error("stripe %s %s refused by the service: %s", event.type, event.id,
                      exc.reason)
            return WebhookResult("refused", exc.reason)


async def _on_checkout(w: Webhooks, org: uuid.UUID, checkout_id: uuid.UUID,
                       event: StripeEvent, body: bytes, work: Work) -> WebhookResult:
    async def locked(unit: Unit) -> str:
        c = await store.checkout(unit.conn, checkout_id, lock=True)
        if c is None:
            return "no such checkout"
        return await work(unit, c)

    return await _run(w, org, event, body, locked)


def _ids(metadata: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(org, checkout) from the metadata we put on every session and payment."""
    try:
        return uuid.UUID(metadata["org_id"]), uuid.UUID(metadata["checkout_id"])
    except (KeyError, ValueError):
        return None


async def _service(w: Webhooks, unit: Unit, org: uuid.UUID, c: store.Checkout, method: str,
                   params: msgspec.Struct) -> None:
    await w.services.invoke(Principal.server(org), RoomName(RoomKind.EVENT, c.event_id),
                            method, params, unit=unit)


# -- handlers ---------------------------------------------------------------------------------


async def _paid(w: Webhooks, event: StripeEvent, body: bytes) -> WebhookResult:
    session: Session = data_object(event, Session)
    if session.payment_status != "paid":
        return WebhookResult("ignored", "payment not settled yet")
    ids = _ids(session.metadata)
    if ids is None:
        return WebhookResult("ignored", "not a livehub checkout")
    org = ids[0]
    payment_id = ledger.payment_ref(session.payment_intent, session.id)

    async def work(unit: Unit, c: store.Checkout) -> str:
        if c.status in ("paid", "refunded"):
            return f"already {c.status}"  # paid twice, or refunded before it completed
        await ledger.record_payment(unit.conn, c, payment_id, session_id=session.id,
                                    payment_intent=session.payment_intent)
        await store.mark(unit.conn, c.id, "paid", session.payment_intent)
        if c.kind == "tip":
            assert c.tip_id is not None
            await _service(w, unit, org, c, "tips.paid", PaidParams(
                tip_id=c.tip_id, amount_cents=c.amount_cents,
                platform_fee_cents=c.fee_cents, payment_id=payment_id))
        elif c.kind == "request":
            assert c.request_id is not None
            await _service(w, unit, org, c, "requests.payment_confirmed", Payment(
                request_id=c.request_id, amount_cents=c.amount_cents, payment_id=payment_id))
        else:
            await store.grant_ppv(unit.conn, replace(c, session_id=session.id))
        return "paid"

    return await _on_checkout(w, org, ids[1], event, body, work)


async def _failed(w: Webhooks, event: StripeEvent, body: bytes) -> WebhookResult:
    session: Session = data_object(event, Session)
    ids = _ids(session.metadata)
    if ids is None:
        return WebhookResult("ignored", "not a livehub checkout")

    async def work(unit: Unit, c: store.Checkout) -> str:
        if c.status != "open":
            return f"already {c.status}"
        await store.mark(unit.conn, c.id, "failed", session.payment_intent)
        return "failed"

    return await _on_checkout(w, ids[0], ids[1], event, body, work)


async def _refunded(w: Webhooks, event: StripeEvent, body: bytes) -> WebhookResult:
    charge: Charge = data_object(event, Charge)
    if charge.amount_refunded <= 0 and not charge.refunded:
        return WebhookResult("ignored", "nothing refunded")
    ids = _ids(charge.metadata)
    if ids is None and charge.payment_intent:
        found = await store.checkout_org(w.pool, None, charge.payment_intent)
        ids = None if found is None else (found[1], found[0])
    if ids is None:
        return WebhookResult("ignored", "not a livehub payment")
    org = ids[0]
    ref = ledger.payment_ref(charge.payment_intent, charge.id)

    async def work(unit: Unit, c: store.Checkout) -> str:
        # The refund proves the payment: recorded here too if its completion is late.
        await ledger.record_payment(unit.conn, c, ref, session_id=None,
                                    payment_intent=charge.payment_intent, charge_id=charge.id)
        new = await ledger.record_refunds(unit.conn, c, ref, charge)
        if await persisted.counted(unit.conn, *ledger.target_of(c)) > 0:
            return await _partial(w, unit, org, c, new)
        if c.status == "refunded":
            return "already refunded"
        was_paid = c.status == "paid"
        await store.mark(unit.conn, c.id, "refunded", charge.payment_intent)
        if c.kind == "tip":  # before payment too: the tips service keeps a tombstone
            assert c.tip_id is not None
            await _service(w, unit, org, c, "tips.refunded", RefundedParams(tip_id=c.tip_id))
        elif c.kind == "request" and was_paid:
            await _refund_bump(w, unit, org, c, new)
        elif c.kind == "ppv" and was_paid and c.user_id is not None:
            unit.effects.append(await w.revoke_ppv(unit.conn, c.event_id, c.user_id))
        return "refunded" if was_paid else "refunded before payment"

    return await _on_checkout(w, org, ids[1], event, body, work)


async def _partial(w: Webhooks, unit: Unit, org: uuid.UUID, c: store.Checkout,
                   new: list[ledger.NewRefund]) -> str:
    """Part of the payment went back: the ledger has it; a paid tip's goal and a paid
    bump's rank follow, pay-per-view access stays. Before the completion the ledger alone
    holds it, and the completion credits what is left."""
    if not new:
        return "no new refund"
    if c.status == "paid" and c.kind == "tip":
        assert c.tip_id is not None
        await _service(w, unit, org, c, "tips.refunded",
                       RefundedParams(tip_id=c.tip_id, partial=True))
    elif c.status == "paid" and c.kind == "request":
        await _refund_bump(w, unit, org, c, new)
    return "partially refunded"


async def _refund_bump(w: Webhooks, unit: Unit, org: uuid.UUID, c: store.Checkout,
                       new: list[ledger.NewRefund]) -> None:
    assert c.request_id is not None
    for refund in new:
        await _service(w, unit, org, c, "requests.payment_refunded", Payment(
            request_id=c.request_id, amount_cents=refund.cents, payment_id=refund.refund_id))


async def _account(w: Webhooks, event: StripeEvent, body: bytes) -> WebhookResult:
    account: Account = data_object(event, Account)
    org = await store.account_org(w.pool, account.id)
    if org is None:
        return WebhookResult("ignored", "no organization has this account")

    async def work(unit: Unit) -> str:
        fresh = await store.sync_account(unit.conn, account.charges_enabled,
                                         account.payouts_enabled, event.created)
        return "synced" if fresh else "older than the state we have"

    return await _run(w, org, event, body, work)


Handler = Callable[[Webhooks, StripeEvent, bytes], Awaitable[WebhookResult]]
_HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _paid,
    "checkout.session.async_payment_succeeded": _paid,
    "checkout.session.async_payment_failed": _failed,
    "charge.refunded": _refunded,
    "account.updated": _account,
}
