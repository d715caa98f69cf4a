"""The tips service's wire schema: method params, results, room events and the snapshot.

Every room event carries the queue ``version`` it produced. One change may emit several
events (a payment moves the goal, queues an alert and may show it); each gets its own
consecutive version, so a client applies them in version order and can spot a gap.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

Cents = Annotated[int, msgspec.Meta(gt=0, le=100_000_000)]
FeeCents = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
Outcome = Literal["acked", "timed_out", "refunded", "expired"]


class Alert(msgspec.Struct, frozen=True):
    """One tip alert for the overlay. Times are ms since the Unix epoch."""

    alert_id: uuid.UUID
    tip_id: uuid.UUID
    amount_cents: int
    from_name: str | None
    message: str | None
    priority: bool  # in the priority lane: shown before normal alerts still waiting
    seq: int  # arrival order within the event; the waiting queue is (priority first, seq)
    created_at: int
    shown_at: int | None = None
    ends_at: int | None = None  # when it times out unless acknowledged first


class TipsState(msgspec.Struct, frozen=True):
    """An event's tip state: goal progress, the alert on screen and the waiting queue."""

    version: int
    paid_cents: int
    goal_cents: int | None
    showing: Alert | None
    waiting: list[Alert]


# -- room events ----------------------------------------------------------------------


class GoalProgress(msgspec.Struct, frozen=True, tag="tips.goal"):
    """The sum of paid (not refunded) tips for the event against its goal changed."""

    paid_cents: int
    goal_cents: int | None
    version: int


class AlertQueued(msgspec.Struct, frozen=True, tag="tips.alert_queued"):
    """A paid tip's alert joined the waiting queue (ordered priority first, then seq)."""

    alert: Alert
    version: int


class AlertShow(msgspec.Struct, frozen=True, tag="tips.alert_show"):
    """This alert is now the one showing (it left the waiting queue); show it."""

    alert: Alert
    version: int


class AlertDone(msgspec.Struct, frozen=True, tag="tips.alert_done"):
    """The alert left the screen or the queue: acked, timed_out, refunded or expired."""

    alert_id: uuid.UUID
    outcome: Outcome
    version: int


TipsEvent = GoalProgress | AlertQueued | AlertShow | AlertDone

# -- params and results -----------------------------------------------------------------


class PaidParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tip_id: uuid.UUID
    amount_cents: Cents
    payment_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    platform_fee_cents: FeeCents = 0
    from_name: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class RefundedParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``partial``: part of the payment went back (already in the ledger): the tip stays
    paid and on screen, only the goal moves. Otherwise the tip is reversed."""

    tip_id: uuid.UUID
    partial: bool = False


class AckParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alert_id: uuid.UUID


class StateParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class TipResult(msgspec.Struct, frozen=True):
    """What a payment call did. ``changed`` is false for a repeat (nothing happened)."""

    tip_id: uuid.UUID
    tip_status: Literal["paid", "refunded"]
    changed: bool
    state: TipsState


class AckResult(msgspec.Struct, frozen=True):
    """``advanced`` is false when the alert had already left the screen (a late ack)."""

    advanced: bool
    state: TipsState
