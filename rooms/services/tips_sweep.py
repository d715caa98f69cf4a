"""Every node's backstop for tip alert timers: finish alerts showing past their timeout.

A showing alert's timer lives in the process that put it on screen. When that process
is killed or stopped, nobody would take the alert down until the next change or
subscribe, and it stayed on the overlay for as long as that took. The deadline is in
Postgres already (``shown_at`` + the event's timeout), so every node asks, every
``HUB_TIP_ALERT_SWEEP`` seconds, for alerts past it (``app_overdue_tip_alerts``, ids
only, across orgs) and settles each event's queue through the usual locked path. The
time-out there is a conditional UPDATE under the event's row lock, so however many
nodes sweep at once, exactly one finishes the alert and shows the next; the rest find
nothing overdue and change nothing.
"""

from __future__ import annotations

from rooms.names import RoomKind, RoomName
from rooms.services.base import Context
from rooms.services.tips_queue import advance

BATCH = 200  # events per sweep; the rest wait one interval (they are already late)


async def sweep(ctx: Context) -> int:
    """Settle every event whose showing alert is overdue; return how many were found."""
    rows = await ctx.pool.fetch(
        "SELECT organization_id, event_id FROM app_overdue_tip_alerts($1, $2)",
        ctx.tips.alert_timeout_ms, BATCH)
    for row in rows:
        await advance(ctx, row["organization_id"],
                      RoomName(RoomKind.EVENT, row["event_id"]), None)
    return len(rows)
