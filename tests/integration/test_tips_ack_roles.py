"""Only staff take a tip alert off the overlay: a viewer's ack is refused and changes nothing."""

from __future__ import annotations

import asyncpg

from tests.integration.test_tips import LONG, HubFactory, Overlay, alert_of, pay, statuses
from tests.support.client import Client, token
from tests.support.members import add_member


async def test_viewer_ack_is_refused_and_the_alert_stays(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection) -> None:
    """A viewer's tips.ack (even a burst of them) gets 4403; the alert keeps showing."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    first = alert_of(await pay(hub, room, 500, "Ann"))
    second = alert_of(await pay(hub, room, 700, "Bob"))
    await overlay.until(overlay.showing_is(first))
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    await fan.subscribe(room)
    for _ in range(5):
        refused = await fan.call(room, "tips.ack", {"alert_id": first}, expect_error=True)
        assert refused["code"] == 4403
    assert (await statuses(owner_conn, ev))[first] == "showing"
    state = await fan.call(room, "tips.state")
    assert state["showing"]["alert_id"] == first
    assert [a["alert_id"] for a in state["waiting"]] == [second]
    await fan.close()


async def test_staff_ack_takes_the_alert_down(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection,
        owner_dsn: str) -> None:
    """Each staff role may ack; the next alert shows at once."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    alerts = [alert_of(await pay(hub, room, 100 * n, f"fan{n}")) for n in range(1, 5)]
    for role, alert in zip(("performer", "dj", "moderator", "admin"), alerts, strict=True):
        await overlay.until(overlay.showing_is(alert))
        await add_member(owner_dsn, org, f"staff-{role}", role)
        staff = await Client.open(hub.ws_url, token(org, sub=f"staff-{role}", roles=(role,)))
        result = await staff.call(room, "tips.ack", {"alert_id": alert})
        assert result["advanced"] is True
        await staff.close()
    await overlay.until(lambda o: o.state["showing"] is None)
    assert overlay.shown == alerts
    assert set((await statuses(owner_conn, ev)).values()) == {"acked"}
    await overlay.client.close()


async def test_staff_keep_a_waiting_alert_off_the_stream(
        hub_factory: HubFactory, event: tuple, owner_conn: asyncpg.Connection,
        owner_dsn: str) -> None:
    """A DJ hides an alert still waiting: it never shows, the one on screen stays, the
    money still counts, and the hide is audited; a viewer cannot hide one."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    first = alert_of(await pay(hub, room, 500, "Ann"))
    rude = alert_of(await pay(hub, room, 100, "rude words"))
    last = alert_of(await pay(hub, room, 300, "Cy"))
    await overlay.until(overlay.showing_is(first))
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    await fan.subscribe(room)
    refused = await fan.call(room, "tips.ack", {"alert_id": rude}, expect_error=True)
    assert refused["code"] == 4403
    await add_member(owner_dsn, org, "dj-hide", "dj")
    dj = await Client.open(hub.ws_url, token(org, sub="dj-hide", roles=("dj",)))
    result = await dj.call(room, "tips.ack", {"alert_id": rude})
    assert result["advanced"] is False
    assert result["state"]["showing"]["alert_id"] == first
    assert [a["alert_id"] for a in result["state"]["waiting"]] == [last]
    assert (await statuses(owner_conn, ev))[rude] == "acked"
    await dj.call(room, "tips.ack", {"alert_id": first})  # the next one is Cy, not the hidden
    await overlay.until(overlay.showing_is(last))
    assert rude not in overlay.shown
    assert (await fan.call(room, "tips.state"))["paid_cents"] == 900
    hidden = await owner_conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'tip.alert_hidden' AND target = $1",
        rude)
    assert hidden == 1
    for client in (fan, dj, overlay.client):
        await client.close()
