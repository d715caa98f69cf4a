"""Stripe's payments and refunds as ledger rows (``persistence.ledger``), in the webhook's
transaction and under its checkout row lock.

A payment is recorded with its platform fee (the checkout's application fee). A refund
is recorded with its fee refund, pro rata (``fees.fee_refunded``; our refunds ask Stripe
to refund the application fee). Stripe delivers in any order and more than once: every
row has a unique key (0016), and a refund event also proves its payment, so a refund
that arrives before the completion records the payment too.

Refunds come from ``charge.refunds`` when the event lists them (one row per Stripe
refund, by its id). Otherwise from the cumulative ``amount_refunded``: what it adds to
the refunds recorded so far becomes one row keyed ``<charge>@<cumulative>``, so an older
event delivered late (a smaller cumulative) records nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from integrations import stripe_store as store
from integrations.fees import fee_refunded
from integrations.stripe_wire import Charge
from persistence import ledger


@dataclass(frozen=True)
class NewRefund:
    refund_id: str
    cents: int


def target_of(c: store.Checkout) -> tuple[ledger.Target, uuid.UUID]:
    """What the checkout paid for: a tip, a request bump, or the pay-per-view purchase."""
    if c.kind == "tip":
        assert c.tip_id is not None
        return "tip", c.tip_id
    if c.kind == "request":
        assert c.request_id is not None
        return "bump", c.request_id
    return "ppv", c.id


def payment_ref(payment_intent: str | None, fallback: str) -> str:
    """The id a payment's rows share: its payment intent, else the session or charge id."""
    return payment_intent or fallback


async def record_payment(conn: store.Conn, c: store.Checkout, ref: str, *,
                         session_id: str | None, payment_intent: str | None,
                         charge_id: str | None = None) -> None:
    """The payment and its platform fee (each once, however often this runs)."""
    target, target_id = target_of(c)
    base = ledger.Entry(event_id=c.event_id, kind="payment", cents=c.amount_cents,
                        target=target, target_id=target_id, payment_ref=ref,
                        session_id=session_id or c.session_id,
                        payment_intent_id=payment_intent, charge_id=charge_id)
    await ledger.record(conn, base)
    if c.fee_cents:
        await ledger.record(conn, replace(base, kind="platform_fee", cents=c.fee_cents))


async def record_refunds(conn: store.Conn, c: store.Checkout, ref: str,
                         charge: Charge) -> list[NewRefund]:
    """The refunds of ``charge`` not recorded yet, each with its fee refund, oldest first."""
    target, target_id = target_of(c)
    base = ledger.Entry(event_id=c.event_id, kind="refund", cents=1, target=target,
                        target_id=target_id, payment_ref=ref, session_id=c.session_id,
                        payment_intent_id=charge.payment_intent, charge_id=charge.id)
    refunded, fee_back = await ledger.refunded(conn, ref)
    new: list[NewRefund] = []
    for refund_id, cents in _refunds_of(charge, refunded):
        cents = min(cents, c.amount_cents - refunded)  # never more than was paid
        if cents <= 0 or not await ledger.record(
                conn, replace(base, cents=cents, refund_id=refund_id)):
            continue
        refunded += cents
        fee = fee_refunded(c.fee_cents, c.amount_cents, refunded) - fee_back
        if fee > 0:
            await ledger.record(conn, replace(base, kind="fee_refund", cents=fee,
                                            refund_id=refund_id))
            fee_back += fee
        new.append(NewRefund(refund_id, cents))
    return new


def _refunds_of(charge: Charge, recorded: int) -> list[tuple[str, int]]:
    if charge.refunds is not None and charge.refunds.data:
        listed = sorted(charge.refunds.data, key=lambda r: r.created)
        return [(r.id, r.amount) for r in listed]
    return [(f"{charge.id}@{charge.amount_refunded}", charge.amount_refunded - recorded)]
