"""The tips service: paid tips become on-screen alerts, one at a time, and goal progress.

Payments reach it only from the server (``tips.paid`` / ``tips.refunded``, later called
by the Stripe webhook): both are safe to repeat and to arrive in either order. Overlays
acknowledge the alert they showed (``tips.ack``); the queue itself lives in
``tips_queue``, the SQL in ``tips_store``, the wire schema in ``tips_wire``.

Who may ack: staff, and the event's overlay credential (``ACKERS``). An ack takes the
alert off every screen, so a fan who could ack would wipe other fans' tips off the
overlay. An overlay page connects with its own credential (``POST
/api/events/{id}/overlay``), which may do nothing else.
"""

from __future__ import annotations

import uuid

import asyncpg

from persistence.audit import audit
from rooms.access import event_of
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomName
from rooms.principal import Principal
from rooms.roles import ANYONE, HOSTS, OVERLAY
from rooms.services import credits
from rooms.services import tips_store as store
from rooms.services.base import Context, Method, Service
from rooms.services.tips_queue import Batch, change, snapshot
from rooms.services.tips_wire import (
    AckParams,
    AckResult,
    AlertDone,
    AlertQueued,
    AlertShow,
    GoalProgress,
    PaidParams,
    RefundedParams,
    StateParams,
    TipResult,
    TipsState,
)

_REFUSED_BY_DB = (asyncpg.UniqueViolationError, asyncpg.InsufficientPrivilegeError)
ACKERS = HOSTS | OVERLAY  # performer, dj, moderator, admin, overlay: never a plain viewer


async def paid(ctx: Context, caller: Principal, room: RoomName, params: PaidParams) -> TipResult:
    """Record a confirmed payment and queue its alert; a repeat changes nothing.

    Raises:
        ServiceError: REFUSED when the ledger holds no payment ``payment_id`` of this tip
            for this amount (a credit is never made up), or the tip is another event's.
    """
    if params.platform_fee_cents > params.amount_cents:
        raise ServiceError(ErrorCode.INVALID_FIELD, "platform_fee_cents exceeds amount_cents")
    tip_id = params.tip_id

    async def body(conn: store.Conn, batch: Batch) -> tuple[str, bool]:
        nonlocal tip_id
        q = batch.q
        tip = await store.tip_for_update(conn, tip_id)
        if tip is not None and tip["event_id"] not in (None, q.event_id):
            raise ServiceError(ErrorCode.REFUSED, "that tip belongs to another event")
        if tip is not None and tip["status"] != "pending":
            return tip["status"], False  # paid twice, or paid after its refund
        if tip is None:
            other = await store.tip_by_payment(conn, params.payment_id)
            if other is not None:  # the same payment under another tip id: a repeat
                tip_id = other["id"]
                return other["status"], False
        await credits.require(conn, "payment", "tip", tip_id, params.payment_id,
                              params.amount_cents)
        # A refund that came first wins: record the payment, count nothing, show nothing.
        refunded = tip is None and await store.refund_recorded(conn, tip_id)
        status = "refunded" if refunded else "paid"
        await store.upsert_tip(conn, q.event_id, tip_id, status=status,
                               amount_cents=params.amount_cents,
                               fee_cents=params.platform_fee_cents, from_name=params.from_name,
                               message=params.message, payment_id=params.payment_id)
        if refunded:
            return status, False
        await batch.goal(conn)
        priority = q.priority_cents is not None and params.amount_cents >= q.priority_cents
        row = await store.queue_alert(conn, q, tip_id, priority)
        if row is not None:
            alert = store.alert_of(row, q.timeout_ms)
            batch.append(lambda v: AlertQueued(alert=alert, version=v))
        return status, True

    try:
        (status, changed), state = await change(ctx, caller, room, body)
    except _REFUSED_BY_DB:  # the tip or payment id is taken in another organization
        raise ServiceError(ErrorCode.REFUSED, "tip_id or payment_id is already used") from None
    return TipResult(tip_id=tip_id, tip_status="paid" if status == "paid" else "refunded",
                     changed=changed, state=state)


async def _partly_refunded(conn: store.Conn, batch: Batch, caller: Principal,
                           tip_id: uuid.UUID) -> bool:
    """Part of a paid tip went back: it stays paid and on screen; the goal moves."""
    tip = await store.tip_for_update(conn, tip_id)
    if tip is None or tip["event_id"] not in (None, batch.q.event_id):
        raise ServiceError(ErrorCode.REFUSED, "no such tip in this event")
    if tip["status"] != "paid":
        return False
    await audit(conn, caller.sub, "tip.partially_refunded", str(tip_id), {"by": caller.sub})
    await batch.goal(conn)
    return True


async def refunded(ctx: Context, caller: Principal, room: RoomName,
                   params: RefundedParams) -> TipResult:
    """Reverse a tip: out of the goal, out of the waiting queue; before payment, a tombstone.
    A partial refund only moves the goal (the ledger has the refunded amount)."""

    async def body(conn: store.Conn, batch: Batch) -> bool:
        if params.partial:
            return await _partly_refunded(conn, batch, caller, params.tip_id)
        q = batch.q
        tip = await store.tip_for_update(conn, params.tip_id)
        if tip is None:  # refund first: a later tips.paid for this tip becomes a no-op
            return await store.record_early_refund(conn, q.event_id, params.tip_id)
        if tip["event_id"] not in (None, q.event_id):
            raise ServiceError(ErrorCode.REFUSED, "that tip belongs to another event")
        if tip["status"] == "refunded":
            return False
        await store.mark_refunded(conn, params.tip_id)
        # Refunds are audited where they take effect, whichever path they came by
        # (our refund API, Stripe's dashboard, a chargeback).
        await audit(conn, caller.sub, "tip.refunded", str(params.tip_id),
                    {"was": tip["status"], "by": caller.sub})
        if tip["status"] == "paid":
            await batch.goal(conn)
        alert_id = await store.drop_waiting(conn, params.tip_id)
        if alert_id is not None:
            batch.done(alert_id, "refunded")
        return True

    try:
        changed, state = await change(ctx, caller, room, body)
    except _REFUSED_BY_DB:
        raise ServiceError(ErrorCode.REFUSED, "tip_id is already used") from None
    return TipResult(tip_id=params.tip_id, tip_status="refunded", changed=changed, state=state)


async def ack(ctx: Context, caller: Principal, room: RoomName, params: AckParams) -> AckResult:
    """The overlay finished showing this alert: take it down and show the next one now.

    Staff may also ack an alert still waiting, to keep it off the stream (a tip whose
    name or message should not go on air); that is audited. An overlay acks only what it
    shows."""
    hides = not HOSTS.isdisjoint(caller.roles)

    async def body(conn: store.Conn, batch: Batch) -> bool:
        row = await store.alert_by_id(conn, batch.q.event_id, params.alert_id)
        if row is None:
            raise ServiceError(ErrorCode.REFUSED, "no such alert in this event")
        if row["status"] == "waiting":
            if not hides:
                raise ServiceError(ErrorCode.REFUSED, "that alert is not showing yet")
            if not await store.finish(conn, params.alert_id, "acked", from_status="waiting"):
                return False  # it started showing, or went, meanwhile: ack again
            await audit(conn, caller.sub, "tip.alert_hidden", str(params.alert_id),
                        {"by": caller.sub})
            batch.done(params.alert_id, "acked")
            return False  # nothing new shows: the one on screen stays
        if row["status"] != "showing":
            return False  # a second overlay's ack, or it timed out first: harmless
        await store.finish(conn, params.alert_id, "acked", from_status="showing")
        batch.done(params.alert_id, "acked")
        return True

    advanced, state = await change(ctx, caller, room, body)
    return AckResult(advanced=advanced, state=state)


async def current(ctx: Context, caller: Principal, room: RoomName,
                  params: StateParams) -> TipsState:
    """The event's tip state, as the snapshot after subscribe has it."""
    state = await snapshot(ctx, caller, room)
    if state is None:
        event_of(room, "tips")  # an org room: refused
        raise ServiceError(ErrorCode.UNKNOWN_ROOM, "unknown event")
    return state


SERVICE = Service(
    name="tips",
    doc="""
Tip alerts and goal progress for an event room. A payment confirmed by the server queues
one alert per tip; the hub shows them one at a time (priority lane first: tips of at
least the org's `tip_priority_cents`, then arrival order). An alert leaves the screen
when its overlay acks it (connected with the event's overlay credential, or a
performer, dj, moderator or admin token; a viewer's ack is refused with 4403) or after
the event's `tip_alert_timeout_ms` (default `HUB_TIP_ALERT_TIMEOUT`, 8 s), whichever
node scheduled it and whether or not that node is still running. With nobody
subscribed nothing new is shown: alerts wait and replay on the next subscribe, unless
older than `HUB_TIP_ALERT_MAX_AGE` (10 min), which expire. Every event carries the new
`version`; apply them in version order after the snapshot (a gap means: resubscribe).
Goal progress is read from the money ledger: paid tips' payments less their refunds (a
partial refund lowers it by the refunded amount). `tips.paid` credits only a payment the
ledger holds (4422 otherwise).
""",
    methods=(
        Method("paid", PaidParams, paid, server_only=True,
               doc="Payment confirmed: record the tip paid, queue its alert (idempotent;"
                   " needs the payment in the ledger)."),
        Method("refunded", RefundedParams, refunded, server_only=True,
               doc="Refund: uncount the tip, drop its waiting alert; before payment, "
                   "makes a later paid a no-op; partial: only the goal moves."),
        Method("ack", AckParams, ack, roles=ACKERS,
               doc="The overlay showed this alert: take it down, show the next now"
                   " (overlay or staff; a viewer gets 4403). Staff may also take one"
                   " still waiting off the stream (audited)."),
        Method("state", StateParams, current, roles=ANYONE | OVERLAY,
               doc="The event's goal progress, showing alert and waiting queue."),
    ),
    snapshot=snapshot,
    events=(GoalProgress, AlertQueued, AlertShow, AlertDone),
)
