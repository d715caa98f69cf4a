"""Stripe Connect payments: onboarding, Checkout for tips / paid requests / pay-per-view,
refunds, and webhooks that reach the event room through the room services.

Configuration (environment, see ``integrations.stripe_config``):

* ``STRIPE_SECRET_KEY``: platform secret key. Unset: the payment routes answer 503
  "payments not configured".
* ``STRIPE_WEBHOOK_SECRET``: the webhook endpoint's signing secret. Unset:
  ``/webhooks/stripe`` answers 503.
* ``STRIPE_API_BASE``: Stripe's API address (default ``https://api.stripe.com``).
* ``STRIPE_LIVEMODE``: ``true``/``false`` (default false); webhooks of the other mode
  are refused.
* ``STRIPE_MIN_AMOUNT_CENTS``: smallest payment (default 100, at least 50).

Routes:

* ``POST /api/orgs/{org_id}/stripe/onboarding`` (``X-API-Key``) ``{return_url,
  refresh_url}``: creates the org's Express account on first use, stores it, and
  returns a fresh onboarding link. Payments open when Stripe's account.updated says
  ``charges_enabled``.
* ``POST /api/events/{event_id}/checkout`` (``Authorization: Bearer <hub token>``)
  ``{kind: tip|request|ppv, amount_cents, request_id?, message?, from_name?,
  success_url?, cancel_url?, checkout_id?}``: see ``integrations.stripe_checkout``.
  409 until the org's charges are enabled.
* ``POST /api/tips/{tip_id}/refund`` (``X-API-Key``): refunds a paid tip in full,
  taking the transfer and our fee back; the tip is reversed when Stripe's
  charge.refunded arrives (one path for refunds made here and in Stripe's dashboard).
* ``POST /webhooks/stripe``: see ``integrations.stripe_webhook``.

A Stripe call that fails answers 503 "payment service unavailable" (not reachable) or
502 "payment service refused the request"; Stripe's own text goes to the log.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
import stripe
from litestar import post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.response import Response

from integrations import http_docs as docs
from integrations import stripe_api as api
from integrations import stripe_checkout as checkout
from integrations import stripe_store as store
from integrations import stripe_webhook as webhook
from integrations.http import (
    STRIPE_WEBHOOK_MAX_BODY,
    AnyRequest,
    BearerDep,
    PoolDep,
    ServicesDep,
    json_body,
    require_api_key,
)
from integrations.stripe_config import StripeConfig
from integrations.stripe_return import ReturnUrls
from integrations.stripe_wire import (
    CheckoutRequest,
    CheckoutResponse,
    OnboardingRequest,
    OnboardingResponse,
    RefundResponse,
    WebhookResult,
)
from persistence.audit import audit
from persistence.tenant import Tenant, tenant_tx

_encoder = msgspec.json.Encoder()


def _ready(cfg: StripeConfig, pool: PoolDep, *,
           webhooks: bool = False) -> asyncpg.Pool:
    if not cfg.secret_key or (webhooks and not cfg.webhook_secret):
        missing = "STRIPE_WEBHOOK_SECRET" if cfg.secret_key else "STRIPE_SECRET_KEY"
        raise HTTPException(f"payments not configured ({missing} is not set)", status_code=503)
    if pool is None:
        raise HTTPException("payments need Postgres", status_code=503)
    return pool


_READY_ERRORS: docs.Errors = {503: "Payments not configured (STRIPE_SECRET_KEY), or no Postgres"}
_STRIPE_ERRORS: docs.Errors = {502: "The payment service refused the request",
                               503: "The payment service is unavailable"}


@post("/api/orgs/{org_id:uuid}/stripe/onboarding", status_code=200, guards=[require_api_key],
      security=docs.API_KEY_SECURITY,
      summary="Stripe Connect Express onboarding link for an org",
      operation_class=docs.documented(docs.json_body(
          OnboardingRequest, "Where Stripe sends the org's admin back: after finishing"
                             " (return_url), or for a fresh link (refresh_url)")),
      responses=docs.errors(docs.API_KEY_ERRORS, _READY_ERRORS, docs.JSON_BODY_ERRORS,
                            docs.BACKING, _STRIPE_ERRORS, docs.PATH_ID_ERRORS,
                            {404: "No such organization"}))
async def stripe_onboarding(request: AnyRequest, org_id: uuid.UUID, pool: PoolDep,
                            stripe_cfg: NamedDependency[StripeConfig]) -> OnboardingResponse:
    cfg, db = stripe_cfg, _ready(stripe_cfg, pool)
    body = await json_body(request, OnboardingRequest)
    admin = Tenant(org_id, None, "admin")
    async with tenant_tx(db, admin) as conn:
        org = await store.org_payments(conn)
    if org is None:
        raise HTTPException("no such organization", status_code=404)
    account_id = org.account_id
    try:
        if account_id is None:
            created = await api.create_account(cfg, str(org_id))
            async with tenant_tx(db, admin) as conn:
                account_id = await store.set_account(conn, created)
                await audit(conn, None, "stripe.account", account_id, {})
        url, expires_at = await api.onboarding_link(cfg, account_id, body.return_url,
                                                    body.refresh_url)
    except stripe.StripeError as exc:
        raise checkout.stripe_failed(exc) from None
    return OnboardingResponse(account_id=account_id, url=url, expires_at=expires_at,
                              charges_enabled=org.charges_enabled)


@post("/api/events/{event_id:uuid}/checkout", status_code=200,
      summary="A Stripe Checkout session for a tip, paid request or pay-per-view"
              " (bearer: hub connection token)",
      security=docs.BEARER_SECURITY,
      operation_class=docs.documented(docs.json_body(
          CheckoutRequest, "What is paid for. Send the same checkout_id again to retry"
                           " without a second payment")),
      responses=docs.errors(_READY_ERRORS, docs.BEARER_ERRORS, docs.JSON_BODY_ERRORS,
                            docs.BACKING, _STRIPE_ERRORS, docs.PATH_ID_ERRORS, {
          400: "The amount is refused (too small or too large), the event is not"
               " pay-per-view, pay-per-view without a user account, or a paid request"
               " without request_id",
          403: "The caller is banned in the organization",
          404: "No such event in the caller's organization, or no such request in it",
          409: "The organization cannot take payments yet, the checkout_id was used for"
               " another payment, or the checkout is no longer open",
          422: "success_url or cancel_url is not a path on this hub or a URL on one of its"
               " own sites (HUB_PUBLIC_URL, HUB_PRODUCT_HOSTS); or message or from_name"
               " contains one of the organization's blocked words (when it holds such"
               " chat instead, the payment goes ahead without either text)"}))
async def stripe_checkout(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                          stripe_cfg: NamedDependency[StripeConfig],
                          bearer: BearerDep) -> CheckoutResponse:
    db = _ready(stripe_cfg, pool)
    who = await bearer(request)
    body = await json_body(request, CheckoutRequest)
    returns = ReturnUrls(stripe_cfg.public_url, request.app.state.product_hosts,
                         str(request.base_url))
    return await checkout.start(db, stripe_cfg, who, event_id, body, returns)


@post("/api/tips/{tip_id:uuid}/refund", status_code=200, guards=[require_api_key],
      security=docs.API_KEY_SECURITY,
      summary="Refund a paid tip in full (transfer and fee too)",
      # No body, and a malformed id matches no route: Litestar's assumed 400 cannot happen.
      operation_class=docs.documented(drop=[400]),
      responses=docs.errors(docs.API_KEY_ERRORS, _READY_ERRORS, docs.BACKING, _STRIPE_ERRORS,
                            docs.PATH_ID_ERRORS, {
          404: "No such tip checkout",
          409: "The tip is not paid"}))
async def stripe_refund_tip(tip_id: uuid.UUID, pool: PoolDep,
                            stripe_cfg: NamedDependency[StripeConfig]) -> RefundResponse:
    cfg, db = stripe_cfg, _ready(stripe_cfg, pool)
    found = await store.checkout_org(db, tip_id, None)
    if found is None:
        raise HTTPException("no such tip checkout", status_code=404)
    admin = Tenant(found[1], None, "admin")
    async with tenant_tx(db, admin) as conn:
        c = await store.checkout(conn, tip_id)
    if c is None or c.kind != "tip":
        raise HTTPException("no such tip checkout", status_code=404)
    if c.status != "paid" or c.payment_intent_id is None:
        raise HTTPException(f"the tip is {c.status}, not paid", status_code=409)
    try:
        refund_id, status = await api.refund(cfg, c.payment_intent_id, str(tip_id))
    except stripe.StripeError as exc:
        raise checkout.stripe_failed(exc) from None
    async with tenant_tx(db, admin) as conn:
        await audit(conn, None, "stripe.refund", str(tip_id),
                    {"refund_id": refund_id, "payment_intent": c.payment_intent_id})
    return RefundResponse(refund_id=refund_id, status=status)


@post("/webhooks/stripe", status_code=200, request_max_body_size=STRIPE_WEBHOOK_MAX_BODY,
      summary="Stripe webhook endpoint (signed)",
      operation_class=docs.documented(
          docs.raw_body("application/json", "A Stripe event, exactly as signed (at most"
                                            f" {STRIPE_WEBHOOK_MAX_BODY // 1024} KiB)",
                        Schema(type=OpenAPIType.OBJECT)),
          [docs.header("Stripe-Signature", "Stripe's signature of the body with the"
                                           " endpoint's secret (STRIPE_WEBHOOK_SECRET)")]),
      responses=docs.errors(docs.BODY_ERRORS, docs.BACKING, {
          400: "Refused: bad or missing signature, not a Stripe event, or the other mode"
               " (livemode)",
          503: "Payments not configured (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET), or no"
               " Postgres"}, bodies={400: WebhookResult})
      | docs.ok(WebhookResult, "Applied, a duplicate, ignored (not used or unreadable), or"
                               " refused by the service (recorded; Stripe stops retrying)"))
async def stripe_webhook(request: AnyRequest, pool: PoolDep,
                         services: ServicesDep, stripe_cfg: NamedDependency[StripeConfig],
                         revoke_ppv: NamedDependency[webhook.RevokePpv]) -> Response[bytes]:
    db = _ready(stripe_cfg, pool, webhooks=True)
    assert services is not None  # there with Postgres
    body = await request.body()  # the raw bytes: the signature covers them exactly
    try:
        event = webhook.verify(stripe_cfg, body, request.headers.get("Stripe-Signature"))
    except webhook.WebhookRefused as exc:
        return Response(_encoder.encode(WebhookResult("refused", str(exc))), status_code=400,
                        media_type="application/json")
    result = await webhook.apply(webhook.Webhooks(db, services, revoke_ppv), event, body)
    return Response(_encoder.encode(result), media_type="application/json")


ROUTES: list[Any] = [stripe_onboarding, stripe_checkout, stripe_refund_tip, stripe_webhook]
