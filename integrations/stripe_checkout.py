"""Checkout for a tip, a paid song request (a "bump") or pay-per-view access.

The caller's token decides the org; the event must be in it, and the org must have
finished Stripe onboarding (``charges_enabled``). Our rows are written first (a pending
tip, the checkout), then the session is created at Stripe outside any transaction (no
row lock is held across the network), then its id is stored. A failure at Stripe leaves
an open checkout that nothing will ever complete: harmless.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg
import stripe
from litestar.exceptions import HTTPException

from integrations import stripe_api as api
from integrations import stripe_store as store
from integrations.fees import AmountRefused, platform_fee
from integrations.stripe_config import StripeConfig
from integrations.stripe_return import ReturnUrls
from integrations.stripe_screening import Texts, screen
from integrations.stripe_wire import CheckoutRequest, CheckoutResponse
from persistence.tenant import tenant_tx
from rooms.principal import Principal

_PPV_NAMESPACE = uuid.UUID("6f1e8f7c-2b7a-4f3e-9d55-3c8a4e1b0a01")
NOT_ENABLED = ("this organization cannot take payments yet: its Stripe onboarding is not"
               " finished (charges are not enabled)")


def ppv_checkout_id(event_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    """One pay-per-view checkout per fan and event, so paying twice is impossible."""
    return uuid.uuid5(_PPV_NAMESPACE, f"{event_id}:{user_id}")


log = logging.getLogger(__name__)


def _refuse(status: int, detail: str) -> HTTPException:
    return HTTPException(detail, status_code=status)


def stripe_failed(exc: stripe.StripeError) -> HTTPException:
    """Our own short reason for a failed Stripe call (503 unreachable, 502 refused);
    Stripe's text, which can name hosts or echo our parameters, goes to the log."""
    log.warning("Stripe call failed: %r", exc)
    if isinstance(exc, stripe.APIConnectionError):
        return _refuse(503, "payment service unavailable")
    return _refuse(502, "payment service refused the request")


async def start(pool: asyncpg.Pool, cfg: StripeConfig, who: Principal, event_id: uuid.UUID,
                req: CheckoutRequest, returns: ReturnUrls) -> CheckoutResponse:
    """Create (or, for a repeated ``checkout_id``, find again) the checkout and its session."""
    success = returns.check("success_url", req.success_url) or returns.default()
    cancel = returns.check("cancel_url", req.cancel_url) or success
    tenant = who.tenant()
    async with tenant_tx(pool, tenant) as conn:
        event = await store.payable_event(conn, event_id)
        if event is None:
            raise _refuse(404, "no such event in your organization")
        if event.status in ("ended", "cancelled"):
            raise _refuse(409, f"the event is {event.status}")
        if (req.kind == "tip" and not event.tips) or (req.kind == "request"
                                                       and not event.requests):
            raise _refuse(409, f"{req.kind}s are off for this event")
        price = event.ppv_price_cents
        org = await store.org_payments(conn)
        if org is None or org.account_id is None or not org.charges_enabled:
            raise _refuse(409, NOT_ENABLED)
        texts = await screen(conn, who, Texts(req.message, req.from_name))
        user = await store.known_user(conn, who.sub)
        amount = req.amount_cents
        checkout_id = req.checkout_id or uuid.uuid4()
        if req.kind == "ppv":
            if not price:
                raise _refuse(400, "this event is not pay-per-view")
            if user is None:
                raise _refuse(400, "pay-per-view needs a signed-in user account")
            amount, checkout_id = price, ppv_checkout_id(event_id, user)
        if req.kind == "request":
            if req.request_id is None:
                raise _refuse(400, "request_id is required for a paid request")
            if not await store.request_in_event(conn, event_id, req.request_id):
                raise _refuse(404, "no such request in this event")
        try:
            fee = platform_fee(amount, min_cents=cfg.min_amount_cents)
        except AmountRefused as exc:
            raise _refuse(400, str(exc)) from None
        wanted = store.Checkout(
            id=checkout_id, event_id=event_id, kind=req.kind,
            tip_id=checkout_id if req.kind == "tip" else None,
            request_id=req.request_id if req.kind == "request" else None,
            user_sub=who.sub, user_id=user, amount_cents=amount, fee_cents=fee)
        c = await store.create_checkout(conn, wanted, texts.message, texts.from_name)
        if c is None or (c.kind, c.event_id, c.amount_cents, c.request_id) != (
                wanted.kind, wanted.event_id, wanted.amount_cents, wanted.request_id):
            raise _refuse(409, "checkout_id was already used for a different payment")
        if c.status != "open":
            raise _refuse(409, f"this checkout is already {c.status}")
    params = api.session_params(str(who.org), org.account_id, c, success, cancel)
    try:
        session_id, url = await api.create_session(cfg, params, api.session_key(c))
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from None
    async with tenant_tx(pool, tenant) as conn:
        await store.set_session(conn, c, session_id)
    return CheckoutResponse(checkout_url=url, session_id=session_id, checkout_id=c.id,
                            tip_id=c.tip_id, amount_cents=c.amount_cents, fee_cents=c.fee_cents)
