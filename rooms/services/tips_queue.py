"""The server-side alert scheduler: at most one alert shows per event, in lane order.

Every change runs the same path (``change``): check presence, lock the event's queue row,
apply the change, ``settle`` the queue, bump the version once per room event, commit, then
publish the events and arm this process's timer for the alert on screen.

Multi-node safety: the timer is per process and any node may run it. Firing runs the
same locked path, and the time-out itself is a conditional UPDATE on the showing alert's
id and ``shown_at``: an ack, or another node's timer, that got there first makes it a
no-op. Locked changes also time out an overdue alert by the database clock. A node that
dies or stops with the only timer is covered by every other node's sweep
(``tips_sweep``), which finds overdue alerts in Postgres and runs this same path.

Nobody watching: when the room has no subscriber (presence, across nodes), nothing new
is put on screen. Alerts wait, and replay when an overlay subscribes again; those older
than HUB_TIP_ALERT_MAX_AGE expire instead of showing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from rooms.access import event_of
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.services import tips_store as store
from rooms.services.base import Context
from rooms.services.tips_wire import (
    AlertDone,
    AlertShow,
    GoalProgress,
    Outcome,
    TipsEvent,
    TipsState,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Batch:
    """The room events one locked change emits; each takes the next queue version."""

    q: store.Queue
    events: list[TipsEvent] = field(default_factory=list)

    def done(self, alert_id: uuid.UUID, outcome: Outcome) -> None:
        self.q.version += 1
        self.events.append(AlertDone(alert_id=alert_id, outcome=outcome, version=self.q.version))

    def append(self, make: Callable[[int], TipsEvent]) -> None:
        self.q.version += 1
        self.events.append(make(self.q.version))

    async def goal(self, conn: store.Conn) -> None:
        paid = await store.paid_cents(conn, self.q.event_id)
        self.append(lambda v: GoalProgress(paid_cents=paid, goal_cents=self.q.goal_cents,
                                           version=v))


@dataclass(frozen=True)
class Showing:
    """The alert on screen after a change: what this node's timer watches."""

    alert_id: uuid.UUID
    shown_at: datetime
    remaining: float  # seconds until it times out


Expect = tuple[uuid.UUID, datetime]  # a timer's alert id and shown_at


async def settle(conn: store.Conn, batch: Batch, *, present: bool, max_age_ms: int,
                 expect: Expect | None = None) -> Showing | None:
    """Time out an overdue alert, expire stale ones, show the next if someone watches."""
    q = batch.q
    timeout = timedelta(milliseconds=q.timeout_ms)
    live = await store.live_alerts(conn, q.event_id)
    showing = live[0] if live and live[0]["status"] == "showing" else None
    if showing is not None:
        mine = expect is not None and expect == (showing["id"], showing["shown_at"])
        if (mine or showing["shown_at"] + timeout <= q.now) and await store.finish(
                conn, showing["id"], "timed_out", from_status="showing",
                shown_at=showing["shown_at"]):
            batch.done(showing["id"], "timed_out")
            showing = None
    for alert_id in await store.expire_stale(conn, q.event_id, max_age_ms):
        batch.done(alert_id, "expired")
    if showing is None and present:
        row = await store.show_next(conn, q.event_id)
        if row is not None:
            alert = store.alert_of(row, q.timeout_ms)
            batch.append(lambda v: AlertShow(alert=alert, version=v))
            showing = row
    if showing is None:
        return None
    left = showing["shown_at"] + timeout - q.now
    return Showing(showing["id"], showing["shown_at"], max(left.total_seconds(), 0.0))


async def state(conn: store.Conn, q: store.Queue) -> TipsState:
    live = [store.alert_of(r, q.timeout_ms) for r in await store.live_alerts(conn, q.event_id)]
    showing = live[0] if live and live[0].shown_at is not None else None
    return TipsState(version=q.version, paid_cents=await store.paid_cents(conn, q.event_id),
                     goal_cents=q.goal_cents, showing=showing,
                     waiting=live[1:] if showing is not None else live)


Body = Callable[[store.Conn, Batch], Awaitable[T]]


async def change(ctx: Context, caller: Principal, room: RoomName, body: Body[T], *,
                 expect: Expect | None = None) -> tuple[T, TipsState]:
    """Run ``body`` under the event's queue lock, settle, commit, publish, re-arm the timer."""
    event_id = event_of(room, "tips")
    present = bool(await ctx.node.presence_snapshot(str(room)))
    async with ctx.tx(caller) as conn:
        q = await store.read_queue(conn, event_id, ctx.tips.alert_timeout_ms, lock=True)
        if q is None:
            raise ServiceError(ErrorCode.UNKNOWN_ROOM, "unknown event")
        batch = Batch(q)
        result = await body(conn, batch)
        showing = await settle(conn, batch, present=present,
                               max_age_ms=ctx.tips.alert_max_age_ms, expect=expect)
        if batch.events:  # next_seq only moves with an alert_queued event
            await store.save_queue(conn, q)
        current = await state(conn, q)
    for event in batch.events:
        await ctx.publish(room, event)
    # The timer outlives this call: it runs on its own, not in a caller's transaction.
    await ctx.later(lambda: TIMERS.watch(ctx.joined(None), caller.org, room, showing))
    return result, current


async def snapshot(ctx: Context, caller: Principal, room: RoomName) -> TipsState | None:
    """The event's tip state (read only). Kicks the queue if it is due to move."""
    if room.kind is not RoomKind.EVENT:
        return None
    async with ctx.tx(caller) as conn:
        q = await store.read_queue(conn, room.id, ctx.tips.alert_timeout_ms, lock=False)
        if q is None:
            return None
        current = await state(conn, q)
    now = store.ms(q.now)
    stale = now - ctx.tips.alert_max_age_ms
    due = (current.showing is None and bool(current.waiting)) or (
        current.showing is not None and (current.showing.ends_at or 0) <= now) or any(
        a.created_at < stale for a in current.waiting)
    if due:  # e.g. an overlay came back to a paused queue: replay (after this snapshot)
        TIMERS.kick(ctx.joined(None), caller.org, room)  # runs later, on its own transaction
    return current


class Timers:
    """This process's timers, one per event: when the alert on screen times out."""

    def __init__(self) -> None:
        self._handles: dict[uuid.UUID, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, ctx: Context, org: uuid.UUID, room: RoomName,
              showing: Showing | None) -> None:
        if showing is None:
            self._cancel(room.id)
        else:
            self._arm(room.id, showing.remaining, lambda: advance(
                ctx, org, room, (showing.alert_id, showing.shown_at)))

    def kick(self, ctx: Context, org: uuid.UUID, room: RoomName) -> None:
        """Settle the queue soon; repeated kicks before it runs coalesce into one."""
        self._arm(room.id, 0.0, lambda: advance(ctx, org, room, None))

    def _arm(self, key: uuid.UUID, delay: float,
             make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._cancel(key)
        loop = asyncio.get_running_loop()
        # Only a handle that has not fired is ever cancelled: a running advance is never
        # interrupted between its commit and its publish.
        self._handles[key] = loop.call_later(delay, self._fire, key, make)

    def _cancel(self, key: uuid.UUID) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: uuid.UUID, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._handles.pop(key, None)
        task = asyncio.get_running_loop().create_task(make())
        self._tasks.add(task)  # a strong reference until it finishes
        task.add_done_callback(self._tasks.discard)


async def advance(ctx: Context, org: uuid.UUID, room: RoomName, expect: Expect | None) -> None:
    """Settle the event's queue as the server (a timer, a kick or the sweep)."""
    async def nothing(conn: store.Conn, batch: Batch) -> None:
        return None

    try:
        await change(ctx, Principal.server(org), room, nothing, expect=expect)
    except Exception:  # the next change, subscribe or node retries; log and move on
        log.exception("tips queue for %s did not advance", room)


TIMERS = Timers()
