"""Calls to Stripe's API through the official SDK (``stripe.StripeClient``).

Every create call carries an idempotency key derived from our own id (org, checkout or
tip), so repeating a call, ours or a client's retry, returns the first result instead of
creating a second account, session or refund. The SDK's own retries are off
(``max_network_retries=0``): the caller decides, and says so with the same key.

The SDK's default HTTP client is synchronous (requests); calls run in a worker thread so
the event loop never blocks on Stripe.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

import stripe

from integrations.stripe_config import StripeConfig
from integrations.stripe_store import Checkout

Params = dict[str, Any]


@functools.cache
def client(cfg: StripeConfig) -> stripe.StripeClient:
    return stripe.StripeClient(cfg.secret_key, base_addresses={"api": cfg.api_base},
                               max_network_retries=0)


async def create_account(cfg: StripeConfig, org_id: str) -> str:
    """A Connect Express account for the org (one per org, by the idempotency key)."""
    account = await asyncio.to_thread(
        client(cfg).v1.accounts.create,
        {"type": "express", "metadata": {"org_id": org_id},
         "capabilities": {"card_payments": {"requested": True},
                          "transfers": {"requested": True}}},
        {"idempotency_key": f"livehub-account-{org_id}"})
    account_id: str = account.id
    return account_id


async def onboarding_link(cfg: StripeConfig, account_id: str, return_url: str,
                          refresh_url: str) -> tuple[str, int]:
    """(url, expires_at) of a fresh single-use onboarding link.

    No idempotency key here: each call must get a new link (the old one may be spent).
    """
    link = await asyncio.to_thread(
        client(cfg).v1.account_links.create,
        {"account": account_id, "type": "account_onboarding", "return_url": return_url,
         "refresh_url": refresh_url})
    return str(link.url), int(link.expires_at)


def metadata(org_id: str, c: Checkout) -> dict[str, str]:
    """What every session and its payment carry back to us in webhooks."""
    meta = {"org_id": org_id, "event_id": str(c.event_id), "checkout_id": str(c.id),
            "kind": c.kind, "user": c.user_sub}
    if c.tip_id is not None:
        meta["tip_id"] = str(c.tip_id)
    if c.request_id is not None:
        meta["request_id"] = str(c.request_id)
    return meta


_TITLES = {"tip": "Tip", "request": "Song request", "ppv": "Pay-per-view access"}


def session_params(org_id: str, destination: str, c: Checkout, success_url: str,
                   cancel_url: str) -> Params:
    """A destination charge: the org's account gets the amount minus our fee."""
    meta = metadata(org_id, c)
    return {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "usd", "unit_amount": c.amount_cents,
            "product_data": {"name": _TITLES[c.kind]}}}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(c.id),
        "metadata": meta,
        "payment_intent_data": {
            "application_fee_amount": c.fee_cents,
            "transfer_data": {"destination": destination},
            "metadata": meta,  # so the charge (refunds) can be traced back too
        },
    }


def session_key(c: Checkout) -> str:
    return f"livehub-checkout-{c.id}"


async def create_session(cfg: StripeConfig, params: Params, key: str) -> tuple[str, str]:
    """(session id, hosted checkout url)."""
    # Built as a plain dict (and unit-checked as one); the SDK's TypedDict is the same shape.
    session = await asyncio.to_thread(client(cfg).v1.checkout.sessions.create,
                                      cast(Any, params), {"idempotency_key": key})
    return str(session.id), str(session.url)


async def refund(cfg: StripeConfig, payment_intent: str, tip_id: str) -> tuple[str, str | None]:
    """Refund a destination charge in full: take the money back from the org's account
    (reverse_transfer) and give our fee back too (refund_application_fee)."""
    created = await asyncio.to_thread(
        client(cfg).v1.refunds.create,
        {"payment_intent": payment_intent, "reverse_transfer": True,
         "refund_application_fee": True, "metadata": {"tip_id": tip_id}},
        {"idempotency_key": f"livehub-refund-{tip_id}"})
    return str(created.id), created.status
