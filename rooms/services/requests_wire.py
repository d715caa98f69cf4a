"""The requests service's wire schema: call params, results, the snapshot and room event."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Artist = Annotated[str, msgspec.Meta(max_length=200)]
Note = Annotated[str, msgspec.Meta(max_length=280)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Cents = Annotated[int, msgspec.Meta(ge=1, le=100_000_00)]
Version = Annotated[int, msgspec.Meta(ge=0)]

Op = Literal["added", "voted", "accepted", "playing", "played", "declined", "moved",
             "paid", "refunded"]


class RequestItem(msgspec.Struct, frozen=True):
    """One song request as everyone in the room sees it.

    ``status``: pending, accepted, playing, played or declined. ``payment``: none,
    pending_payment (submitted as paid, not confirmed yet: ranks as unpaid), paid or
    refunded. ``position``: 1-based place in the queue, 0 while playing, null once closed.
    ``lined_up``: the DJ placed it (accept or move), so votes and payments don't move it.
    ``requester``: the requester's sub; a fan who texted shows as ``sms:…`` and the last
    four digits of the number, never the number. ``requester_name``: the display name the
    requester joined with (guests), else null; untrusted text, shown as text.
    """

    id: uuid.UUID
    title: str
    artist: str
    note: str
    requester: str
    status: str
    payment: str
    paid_cents: int
    offered_cents: int
    votes: int
    position: int | None
    lined_up: bool
    decline_reason: str | None
    time: int  # submitted, ms since the Unix epoch
    requester_name: str | None = None


class QueueState(msgspec.Struct, frozen=True):
    """The whole queue of an event: the snapshot, and the state sent with 4412."""

    version: int
    now_playing: RequestItem | None
    queue: list[RequestItem]


class RequestsChanged(msgspec.Struct, tag="requests", frozen=True):
    """The queue changed: ``op`` on ``request``, then the whole new queue at ``version``.

    ``op``: added, voted, accepted, playing, played, declined, moved, paid or refunded.
    Each request: id, title, artist, note, requester, status (pending, accepted, playing,
    played, declined), payment (none, pending_payment, paid, refunded), paid_cents,
    offered_cents, votes, position (1-based; 0 playing; null closed), lined_up (placed by
    the DJ), decline_reason, time (ms). Clients replace their queue with ``now_playing``
    + ``queue`` when ``version`` is newer than theirs: the full queue per event makes that
    one rule enough to stay in sync, and the snapshot has the same shape.
    """

    op: Op
    version: int
    request: RequestItem
    now_playing: RequestItem | None
    queue: list[RequestItem]


# -- params -------------------------------------------------------------------------------

class Submit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: Title
    artist: Artist = ""
    note: Note = ""
    amount_cents: Annotated[int, msgspec.Meta(ge=0, le=100_000_00)] = 0  # 0 = free request


class Vote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    request_id: uuid.UUID


class Mine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class DjAction(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """accept, play_now, played: the request and the queue version the DJ saw."""

    request_id: uuid.UUID
    version: Version


class Decline(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    request_id: uuid.UUID
    version: Version
    reason: Reason


class Move(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    request_id: uuid.UUID
    version: Version
    position: Annotated[int, msgspec.Meta(ge=1)]


class Payment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    request_id: uuid.UUID
    amount_cents: Cents
    # The ledger's payment_ref (a refund: its refund id); required in effect: without a
    # ledger row it is refused. A repeat with the same id is ignored.
    payment_id: str | None = None


# -- results ------------------------------------------------------------------------------

class Submitted(msgspec.Struct, frozen=True):
    """``merged``: the song was already open, so this became a vote on that request;
    ``counted`` is false when that vote was already there."""

    request: RequestItem
    merged: bool
    counted: bool
    version: int


class Voted(msgspec.Struct, frozen=True):
    """``counted`` is false when this fan had already voted (a no-op, not an error)."""

    request: RequestItem
    counted: bool
    version: int


class MyRequest(msgspec.Struct, frozen=True):
    """``eta_seconds``: position x the event's average song length; 0 while playing,
    null once played or declined."""

    request: RequestItem
    eta_seconds: int | None


class MyRequests(msgspec.Struct, frozen=True):
    version: int
    requests: list[MyRequest]


class PaymentApplied(msgspec.Struct, frozen=True):
    """``applied`` is false for a repeated ``payment_id`` (nothing changed)."""

    request: RequestItem
    applied: bool
    version: int
