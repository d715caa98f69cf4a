"""Wire schema of the Stripe integration: our HTTP bodies, and the parts of Stripe's
objects we read (decoded leniently: Stripe adds fields all the time)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Kind = Literal["tip", "request", "ppv"]

# -- our API ----------------------------------------------------------------------------


class OnboardingRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where Stripe sends the org's admin back: after finishing, or to get a fresh link."""

    return_url: Url
    refresh_url: Url


class OnboardingResponse(msgspec.Struct, frozen=True):
    account_id: str
    url: str  # the Stripe-hosted onboarding page; single use, expires at expires_at
    expires_at: int
    charges_enabled: bool


class CheckoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``checkout_id``: send the same id to retry without ever creating a second payment
    (for a tip it becomes the tip id). Pay-per-view ignores it: one purchase per fan."""

    kind: Kind
    amount_cents: Annotated[int, msgspec.Meta(ge=0)] = 0  # ignored for ppv (event price)
    request_id: uuid.UUID | None = None
    message: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    from_name: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    success_url: Url | None = None
    cancel_url: Url | None = None
    checkout_id: uuid.UUID | None = None


class CheckoutResponse(msgspec.Struct, frozen=True):
    checkout_url: str
    session_id: str
    checkout_id: uuid.UUID
    tip_id: uuid.UUID | None
    amount_cents: int
    fee_cents: int


class RefundResponse(msgspec.Struct, frozen=True):
    """The refund Stripe created. The tip is reversed when its charge.refunded arrives."""

    refund_id: str
    status: str | None


class WebhookResult(msgspec.Struct, frozen=True):
    status: Literal["applied", "duplicate", "ignored", "refused"]
    detail: str = ""


# -- Stripe's objects (the fields we use) ----------------------------------------------------


class StripeEvent(msgspec.Struct, frozen=True):
    id: str
    type: str
    livemode: bool
    created: int
    data: dict[str, Any]
    account: str | None = None  # set on Connect events (e.g. account.updated)


class Session(msgspec.Struct, frozen=True):
    id: str
    payment_status: str = ""
    payment_intent: str | None = None
    metadata: dict[str, str] = {}


class Refund(msgspec.Struct, frozen=True):
    id: str
    amount: int
    created: int = 0


class RefundList(msgspec.Struct, frozen=True):
    data: list[Refund] = []


class Charge(msgspec.Struct, frozen=True):
    id: str
    payment_intent: str | None = None
    refunded: bool = False  # fully refunded
    amount: int = 0
    amount_refunded: int = 0  # all refunds so far, in cents
    metadata: dict[str, str] = {}
    # Only when the API version or an expand includes them; newest first.
    refunds: RefundList | None = None


class Account(msgspec.Struct, frozen=True):
    id: str
    charges_enabled: bool = False
    payouts_enabled: bool = False


def data_object(event: StripeEvent, type_: type[Any]) -> Any:
    """``event.data.object`` as ``type_``.

    Raises:
        msgspec.ValidationError: the object lacks a field we need.
    """
    return msgspec.convert(event.data.get("object"), type_)
