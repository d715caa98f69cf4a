"""Wire schema of the money routes (``integrations.money``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from rooms.services.requests_wire import PaymentApplied
from rooms.services.tips_wire import TipResult

Cents = Annotated[int, msgspec.Meta(gt=0, le=100_000_000)]


class ManualEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A cash (or otherwise off-Stripe) payment an org admin takes and credits.

    ``target``: for a bump, the request's id (required); for a tip, the tip's id (a new
    tip when omitted or unknown; an existing one must still be pending). ``note`` says
    what it was (kept in the ledger and the audit log). ``entry_id`` makes a retry safe:
    the same id records and credits once, and answers the same again.
    """

    kind: Literal["tip", "bump"]
    amount_cents: Cents
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    target: uuid.UUID | None = None
    from_name: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    entry_id: uuid.UUID | None = None  # the client's retry key


class ManualResult(msgspec.Struct, frozen=True):
    """The ledger payment recorded and what crediting it did (``tip`` or ``bump``)."""

    payment_ref: str  # manual_<hex>: the ledger's payment_ref, and the service's payment_id
    target: Literal["tip", "bump"]
    target_id: uuid.UUID
    amount_cents: int
    tip: TipResult | None = None
    bump: PaymentApplied | None = None


class MoneySummary(msgspec.Struct, frozen=True):
    """An event's money from the ledger, in cents. ``fees_cents`` is platform fees less
    fees given back on refunds; ``net_cents`` = gross - fees - refunds (what the org
    keeps); ``manual_cents`` is the part of gross entered by hand (cash)."""

    event_id: uuid.UUID
    currency: str
    gross_cents: int
    fees_cents: int
    refunds_cents: int
    net_cents: int
    manual_cents: int
    payments: int  # payment rows
    refunds: int  # refund rows
