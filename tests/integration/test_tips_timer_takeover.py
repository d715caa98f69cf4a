"""A tip alert's timeout survives the node that scheduled it: another node takes it over."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest

from tests.integration.test_tips import LONG, HubFactory, Overlay, alert_of, pay, statuses

TIMEOUT_MS = 2500  # the event's own timeout: long enough to stop a node inside it
BOUND_MS = 2500  # how late the other node may take the alert down (sweep: 1 s)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_alert_times_out_after_its_node_dies(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection,
        sig: signal.Signals) -> None:
    """The node that showed the alert dies mid-show; the other nodes time it out in time,
    once, and show the next alert, which then times out too."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET tip_alert_timeout_ms = $2 WHERE id = $1",
                             ev, TIMEOUT_MS)
    scheduler = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    survivor = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)  # a second sweeper: still one takeover
    room = f"event:{ev}"
    overlay = await Overlay.join(survivor, org, room)
    # Both through the scheduler: it shows the first and arms the only timer. (A change
    # on the survivor would arm a timer there too, hiding the fault.)
    first = alert_of(await pay(scheduler, room, 300, "Ann"))
    second = alert_of(await pay(scheduler, room, 400, "Bob"))
    scheduler.proc.send_signal(sig)
    await asyncio.wait_for(asyncio.to_thread(scheduler.proc.wait), 15)
    await overlay.until(overlay.showing_is(first))
    shown_at = overlay.state["showing"]["shown_at"]
    assert (await statuses(owner_conn, ev))[first] == "showing"  # its node died before it ended
    await overlay.until(overlay.showing_is(second), timeout=(TIMEOUT_MS + BOUND_MS) / 1000 + 5)
    assert overlay.outcome(first) == "timed_out"
    second_shown = overlay.state["showing"]["shown_at"]  # DB clock, ms
    assert TIMEOUT_MS <= second_shown - shown_at <= TIMEOUT_MS + BOUND_MS
    await overlay.until(lambda o: o.outcome(second) is not None, timeout=TIMEOUT_MS / 1000 + 5)
    assert overlay.outcome(second) == "timed_out"
    assert overlay.shown == [first, second]  # each shown once, never two at a time
    done = [e["alert_id"] for e in overlay.events if e["type"] == "tips.alert_done"]
    assert done == [first, second]  # each finished once, by one node
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM tip_alerts WHERE event_id = $1 AND status = 'timed_out'", ev) == 2
    await overlay.client.close()
