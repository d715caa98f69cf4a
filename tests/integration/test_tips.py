"""Tip alerts and goal progress: real hub processes, real Redis, real Postgres."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from tests.support.client import Client, api_call, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.ledger import ledger_row
from tests.support.members import staff_token

HubFactory = Callable[..., HubProcess]
Event = tuple[uuid.UUID, uuid.UUID]

LONG = "30"  # seconds: alerts in these tests leave the screen by ack, not by timeout


class Overlay:
    """A subscriber that builds the tips state as a UI would: snapshot, then events by version.

    It also checks the rule that matters on screen: an alert is shown only when nothing
    else is showing, and no alert is shown twice.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._state: dict[str, Any] | None = None
        self.pending: dict[int, dict[str, Any]] = {}
        self.shown: list[str] = []  # alert ids, in the order they went on screen
        self.events: list[dict[str, Any]] = []  # applied, in version order

    @classmethod
    async def join(cls, hub: HubProcess, org: uuid.UUID, room: str,
                   sub: str = "overlay") -> Overlay:
        # Acks need a staff token: an overlay connects as the performer.
        overlay = cls(await Client.open(hub.ws_url,
                                        await staff_token(hub, org, sub, "performer")))
        await overlay.client.subscribe(room)
        await overlay.until(lambda o: o._state is not None)
        return overlay

    @property
    def state(self) -> dict[str, Any]:
        """The state built so far (after the snapshot arrived)."""
        assert self._state is not None
        return self._state

    async def until(self, done: Callable[[Overlay], Any], timeout: float = 10.0) -> None:
        """Read frames until ``done(self)`` holds."""
        deadline = time.monotonic() + timeout
        while not done(self):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; state={self._state} pending={self.pending}"
            self._take(await self.client.recv(timeout=left))

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "snapshot" and frame["service"] == "tips":
            self._state = frame["state"]
            self.pending = {v: e for v, e in self.pending.items()
                            if v > frame["state"]["version"]}
        elif frame["type"] == "message" and str(frame["data"].get("type")).startswith("tips."):
            self.pending[frame["data"]["version"]] = frame["data"]
        if self._state is not None:
            while self._state["version"] + 1 in self.pending:
                self._apply(self.pending.pop(self._state["version"] + 1))

    def _apply(self, event: dict[str, Any]) -> None:
        s = self.state
        kind = event["type"]
        if kind == "tips.goal":
            s["paid_cents"], s["goal_cents"] = event["paid_cents"], event["goal_cents"]
        elif kind == "tips.alert_queued":
            s["waiting"] = sorted([*s["waiting"], event["alert"]],
                                  key=lambda a: (not a["priority"], a["seq"]))
        elif kind == "tips.alert_show":
            assert s["showing"] is None, f"two alerts at once: {s['showing']} and {event}"
            alert = event["alert"]
            assert alert["alert_id"] not in self.shown, f"shown twice: {alert}"
            s["waiting"] = [a for a in s["waiting"] if a["alert_id"] != alert["alert_id"]]
            s["showing"] = alert
            self.shown.append(alert["alert_id"])
        elif kind == "tips.alert_done":
            if s["showing"] is not None and s["showing"]["alert_id"] == event["alert_id"]:
                s["showing"] = None
            else:
                s["waiting"] = [a for a in s["waiting"] if a["alert_id"] != event["alert_id"]]
        s["version"] = event["version"]
        self.events.append(event)

    def showing(self) -> str | None:
        return None if self.state["showing"] is None else str(self.state["showing"]["alert_id"])

    def outcome(self, alert_id: str) -> str | None:
        """How the alert left the screen or queue, once its alert_done was applied."""
        return next((str(e["outcome"]) for e in self.events if e["type"] == "tips.alert_done"
                     and e["alert_id"] == alert_id), None)

    def showing_is(self, alert_id: str) -> Callable[[Overlay], bool]:
        return lambda o: o.showing() == alert_id

    async def ack_showing(self, room: str) -> dict[str, Any]:
        alert_id = self.showing()
        assert alert_id is not None
        return await self.client.call(room, "tips.ack", {"alert_id": alert_id})


async def pay(hub: HubProcess, room: str, cents: int, name: str, *,
              tip_id: uuid.UUID | None = None, payment_id: str | None = None) -> dict[str, Any]:
    """Confirm a payment as the server would; return the result."""
    tip = tip_id or uuid.uuid4()
    payment_id = payment_id or f"pi_{tip.hex}"
    await ledger_row(hub, room, "tip", tip, cents, payment_id)  # as the webhook records it
    resp = await api_call(hub.url, room, "tips.paid", {
        "tip_id": str(tip), "amount_cents": cents, "from_name": name, "message": f"{name}!",
        "payment_id": payment_id, "platform_fee_cents": cents // 10})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def refund(hub: HubProcess, room: str, tip_id: str | uuid.UUID) -> dict[str, Any]:
    resp = await api_call(hub.url, room, "tips.refunded", {"tip_id": str(tip_id)})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def alert_of(result: dict[str, Any]) -> str:
    """The alert id a paid tip got, from the state in its result."""
    state = result["state"]
    alerts = [state["showing"], *state["waiting"]] if state["showing"] else state["waiting"]
    return next(str(a["alert_id"]) for a in alerts if a["tip_id"] == result["tip_id"])


async def nobody_in(hub: HubProcess, room: str) -> None:
    """Wait until presence (across nodes) shows no subscriber in the room."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        async def empty() -> None:
            while (await http.get(f"/api/rooms/{room}/presence",
                                  headers={"X-API-Key": API_KEY})).json()["count"]:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(empty(), 10)


async def statuses(owner: asyncpg.Connection, ev: uuid.UUID) -> dict[str, str]:
    rows = await asyncio.wait_for(owner.fetch(
        "SELECT id, status FROM tip_alerts WHERE event_id = $1", ev), 10)
    return {str(r["id"]): r["status"] for r in rows}


async def test_three_quick_tips_show_one_at_a_time_big_tip_first(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Three tips in a row: one alert at a time, in order, the priority tip jumping the queue."""
    org, ev = event
    await owner_conn.execute("UPDATE organizations SET tip_priority_cents = 2000 WHERE id = $1",
                             org)
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    first = alert_of(await pay(hub, room, 300, "Ann"))
    small = alert_of(await pay(hub, room, 500, "Bob"))
    big = alert_of(await pay(hub, room, 2000, "Cat"))  # exactly the threshold: priority
    await overlay.until(lambda o: len(o.events) == 7)  # 3 goals, 3 queued, 1 show
    assert overlay.shown == [first]
    assert [a["alert_id"] for a in overlay.state["waiting"]] == [big, small]
    assert [a["priority"] for a in overlay.state["waiting"]] == [True, False]
    for expected in (big, small):
        await overlay.ack_showing(room)
        await overlay.until(overlay.showing_is(expected))
    await overlay.ack_showing(room)
    await overlay.until(lambda o: o.state["showing"] is None)
    assert overlay.shown == [first, big, small]
    assert overlay.state["waiting"] == [] and overlay.state["paid_cents"] == 2800
    assert set((await statuses(owner_conn, ev)).values()) == {"acked"}
    await overlay.client.close()


async def test_ack_advances_immediately(hub_factory: HubFactory, event: Event) -> None:
    """With a 30 s timeout, an ack takes the alert down and shows the next at once."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    first = alert_of(await pay(hub, room, 300, "Ann"))
    second = alert_of(await pay(hub, room, 400, "Bob"))
    await overlay.until(lambda o: o.showing() == first)
    started = time.monotonic()
    result = await overlay.ack_showing(room)
    await overlay.until(lambda o: o.showing() == second, timeout=3)
    assert time.monotonic() - started < 3
    assert result["advanced"] is True and result["state"]["showing"]["alert_id"] == second
    assert overlay.outcome(first) == "acked"
    again = await overlay.client.call(room, "tips.ack", {"alert_id": first})
    assert again["advanced"] is False  # a late second ack changes nothing
    refused = await overlay.client.call(room, "tips.ack", {"alert_id": str(uuid.uuid4())},
                                        expect_error=True)
    assert refused["code"] == 4422
    await overlay.client.close()


async def test_timeout_advances_without_ack_across_nodes(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Nobody acks: the event's own timeout moves the queue, for an overlay on another node."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET tip_alert_timeout_ms = 700 WHERE id = $1", ev)
    paying = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    watching = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(watching, org, room)
    first = alert_of(await pay(paying, room, 300, "Ann"))
    second = alert_of(await pay(paying, room, 400, "Bob"))
    await overlay.until(lambda o: o.showing() == first)
    shown_at = overlay.state["showing"]["shown_at"]
    assert overlay.state["showing"]["ends_at"] == shown_at + 700
    await overlay.until(lambda o: o.showing() == second, timeout=5)
    await overlay.until(lambda o: o.outcome(second) is not None, timeout=5)
    assert overlay.outcome(first) == "timed_out"
    assert overlay.outcome(second) == "timed_out"
    second_shown = next(e["alert"]["shown_at"] for e in overlay.events
                        if e["type"] == "tips.alert_show" and e["alert"]["alert_id"] == second)
    assert second_shown - shown_at >= 650  # not before the timeout (DB clock, ms)
    assert overlay.shown == [first, second] and overlay.state["showing"] is None
    await overlay.client.close()


async def test_overlay_reconnecting_mid_queue_gets_the_rest_once(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """An overlay gone mid-queue: the queue pauses, then replays the rest on reconnect, once."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT="1")
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    ids = [alert_of(await pay(hub, room, 100 * n, f"fan{n}")) for n in (1, 2, 3)]
    await overlay.until(lambda o: o.showing() == ids[0])
    await overlay.client.close()  # mid-show, no ack
    await nobody_in(hub, room)
    ids.append(alert_of(await pay(hub, room, 400, "fan4")))  # arrives while nobody watches
    seen = await statuses(owner_conn, ev)
    deadline = time.monotonic() + 15  # the 1 s timeout, generously bounded for a busy box
    while seen[ids[0]] != "timed_out" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        seen = await statuses(owner_conn, ev)
    assert seen[ids[0]] == "timed_out"
    assert [seen[i] for i in ids[1:]] == ["waiting"] * 3  # paused: nothing shown to nobody
    back = await Overlay.join(hub, org, room)
    assert back.state["showing"] is None  # the snapshot, then the replay goes live
    assert [a["alert_id"] for a in back.state["waiting"]] == ids[1:]
    for expected in ids[1:]:
        await back.until(back.showing_is(expected))
        await back.ack_showing(room)
    await back.until(lambda o: o.state["showing"] is None and not o.state["waiting"])
    assert overlay.shown + back.shown == ids  # every alert once, in order
    await back.client.close()


async def test_stale_alerts_expire_instead_of_showing(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Alerts older than HUB_TIP_ALERT_MAX_AGE are expired, not shown, when an overlay joins."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG, HUB_TIP_ALERT_MAX_AGE="1")
    room = f"event:{ev}"
    old = [alert_of(await pay(hub, room, 100 * n, f"fan{n}")) for n in (1, 2)]
    await asyncio.sleep(1.2)
    overlay = await Overlay.join(hub, org, room)
    await overlay.until(lambda o: all(o.outcome(a) for a in old))
    assert [overlay.outcome(a) for a in old] == ["expired", "expired"]
    fresh = alert_of(await pay(hub, room, 300, "fan3"))
    await overlay.until(lambda o: o.showing() == fresh)
    assert overlay.shown == [fresh]
    assert overlay.state["paid_cents"] == 600  # expired alerts still count toward the goal
    await overlay.client.close()


async def test_refund_reverses_goal_and_drops_pending_alert(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """A refund takes the tip out of the goal and its waiting alert out of the queue."""
    org, ev = event
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 5000 WHERE id = $1", ev)
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    shown = await pay(hub, room, 1000, "Ann")
    pending = await pay(hub, room, 700, "Bob")
    await overlay.until(lambda o: o.state["paid_cents"] == 1700 and len(o.state["waiting"]) == 1)
    assert overlay.state["goal_cents"] == 5000
    result = await refund(hub, room, pending["tip_id"])
    assert result["changed"] is True and result["state"]["waiting"] == []
    await overlay.until(lambda o: o.state["paid_cents"] == 1000 and not o.state["waiting"])
    assert overlay.outcome(alert_of(pending)) == "refunded"
    await refund(hub, room, shown["tip_id"])  # already on screen: stays, goal drops
    await overlay.until(lambda o: o.state["paid_cents"] == 0)
    assert overlay.showing() == alert_of(shown)
    version = overlay.state["version"]
    assert (await refund(hub, room, pending["tip_id"]))["changed"] is False
    assert (await refund(hub, room, pending["tip_id"]))["state"]["version"] == version
    rows = await owner_conn.fetch("SELECT status FROM tips WHERE event_id = $1", ev)
    assert [r["status"] for r in rows] == ["refunded", "refunded"]
    audited = await owner_conn.fetch(
        "SELECT target FROM audit_log WHERE organization_id = $1 AND action = 'tip.refunded'",
        org)
    assert sorted(r["target"] for r in audited) == sorted([pending["tip_id"], shown["tip_id"]])
    await overlay.client.close()


async def test_paid_twice_queues_one_alert(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """The same payment confirmed again (same tip or same payment id) alerts and counts once."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    overlay = await Overlay.join(hub, org, room)
    tip = uuid.uuid4()
    first = await pay(hub, room, 500, "Ann", tip_id=tip, payment_id="pi_once")
    again = await pay(hub, room, 500, "Ann", tip_id=tip, payment_id="pi_once")
    other_id = await pay(hub, room, 500, "Ann", payment_id="pi_once")  # a retry, new tip id
    assert first["changed"] is True
    assert again["changed"] is False and other_id["changed"] is False
    assert other_id["tip_id"] == str(tip)
    assert again["state"]["version"] == first["state"]["version"]
    await overlay.until(lambda o: o.state["version"] == first["state"]["version"])
    assert [e["type"] for e in overlay.events] == [
        "tips.goal", "tips.alert_queued", "tips.alert_show"]
    assert overlay.state["paid_cents"] == 500
    assert await owner_conn.fetchval("SELECT count(*) FROM tip_alerts WHERE event_id = $1",
                                     ev) == 1
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    forbidden = await fan.call(room, "tips.paid", {
        "tip_id": str(uuid.uuid4()), "amount_cents": 100, "payment_id": "pi_fake"},
        expect_error=True)
    assert forbidden["code"] == 4403  # payments only ever come from the server
    await fan.close()
    await overlay.client.close()


async def test_refund_before_paid_leaves_nothing_counted(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Refund first, payment second (webhooks out of order): nothing counted, no alert."""
    org, ev = event
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    tip = uuid.uuid4()
    early = await refund(hub, room, tip)
    assert early["changed"] is True and early["state"]["version"] == 0
    late = await pay(hub, room, 900, "Ann", tip_id=tip)
    assert late["changed"] is False and late["tip_status"] == "refunded"
    assert (await refund(hub, room, tip))["changed"] is False
    state = (await pay(hub, room, 900, "Ann", tip_id=tip))["state"]
    assert (state["paid_cents"], state["showing"], state["waiting"]) == (0, None, [])
    row = await owner_conn.fetchrow("SELECT status, amount_cents FROM tips WHERE id = $1", tip)
    assert row is not None and dict(row) == {"status": "refunded", "amount_cents": 900}
    assert await owner_conn.fetchval("SELECT count(*) FROM tip_alerts WHERE event_id = $1",
                                     ev) == 0
    overlay = await Overlay.join(hub, org, room)
    assert overlay.state["paid_cents"] == 0 and overlay.state["version"] == 0
    await overlay.client.close()


async def test_late_joiner_snapshot_equals_live_state(
        hub_factory: HubFactory, event: Event, owner_conn: asyncpg.Connection) -> None:
    """A late joiner's snapshot equals what live watchers on two nodes built from events."""
    org, ev = event
    await owner_conn.execute("UPDATE organizations SET tip_priority_cents = 1000 WHERE id = $1",
                             org)
    await owner_conn.execute("UPDATE events SET tip_goal_cents = 10000 WHERE id = $1", ev)
    a = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    b = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    room = f"event:{ev}"
    watchers = [await Overlay.join(a, org, room, "w1"), await Overlay.join(b, org, room, "w2")]
    paid = [await pay(node, room, cents, f"fan{cents}")
            for node, cents in ((a, 300), (b, 1500), (a, 200), (b, 400), (a, 2500))]
    await watchers[0].until(lambda o: o.showing() is not None)
    await watchers[0].ack_showing(room)
    await refund(b, room, paid[3]["tip_id"])
    final = (await refund(a, room, paid[2]["tip_id"]))["state"]
    for w in watchers:
        await w.until(lambda o: o.state["version"] == final["version"])
    late = await Overlay.join(b, org, room, "late")
    assert late.state == watchers[0].state == watchers[1].state
    assert late.state["paid_cents"] == 300 + 1500 + 2500
    assert late.state["showing"]["amount_cents"] == 1500
    assert [x["amount_cents"] for x in late.state["waiting"]] == [2500]
    for o in (*watchers, late):
        await o.client.close()
