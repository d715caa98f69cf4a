"""Issue #13, the writes: a Redis restart mid-stream loses no acknowledged chat and no
paid tip, and tip alerts keep moving.

Two real hubs share a throwaway redis-server (no persistence), real Postgres and the
fake Stripe. Redis is SIGKILLed mid-stream and started again 1 s later.

* Chat: fans chat on both nodes throughout, retrying an unanswered or refused message
  with its client_msg_id. Every acknowledged chat is stored once; every subscriber got
  it live, or was told ``recovered: false`` and then found it in ``chat_history``.
* Tips: Stripe delivers completed tip payments before, during and after the outage and,
  as Stripe does, redelivers any answered non-2xx. Each paid tip is in the ledger once,
  the goal is exact, and every alert reaches the overlay and goes through the screen by
  its timeout, including the one whose timer was running when Redis died.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from tests.integration.test_stripe import deliver, enable, paid_tip
from tests.integration.test_tips import Overlay
from tests.support.client import Client, token
from tests.support.fake_stripe import FakeStripe
from tests.support.hubproc import HubProcess
from tests.support.members import staff_token
from tests.support.redis_proc import RestartableRedis

Event = tuple[uuid.UUID, uuid.UUID]
DOWN = 1.0  # seconds Redis stays dead
RESUBSCRIBE_BOUND = 2.0  # issue #13: nodes listen again within 2 s of Redis answering


@pytest.fixture
def hubs(own_redis: RestartableRedis, prefix: str, owner_dsn: str, stripe_fake: FakeStripe
         ) -> Iterator[list[HubProcess]]:
    """Two hubs on the test's own Redis, with Postgres and the fake Stripe."""
    env = {"REDIS_URL": own_redis.url, "HUB_REDIS_PREFIX": prefix,
           "DATABASE_URL": owner_dsn, "HUB_CHAT_USER_BURST": "100000",
           "HUB_TIP_ALERT_TIMEOUT": "30", **stripe_fake.env()}
    with ThreadPoolExecutor(2) as pool:  # two start-ups at once: half the wait
        starting = [pool.submit(HubProcess, env) for _ in range(2)]
        wait(starting)
    started = [f.result() for f in starting if f.exception() is None]
    try:
        assert len(started) == 2, [f.exception() for f in starting]
        yield started
    finally:
        for hub in started:
            hub.terminate()  # both drain at once
        for hub in started:
            hub.stop()


async def revive(server: RestartableRedis, channel: str, nodes: int) -> float | None:
    """Start the killed Redis again ``DOWN`` s later; the seconds until ``nodes`` nodes
    listen on ``channel`` again (None if not within 5 s)."""
    await asyncio.sleep(DOWN)
    await asyncio.to_thread(server.start)
    restarted = time.monotonic()
    probe = aioredis.Redis.from_url(server.url)
    try:
        while time.monotonic() - restarted < 5:
            [(_, listeners)] = await probe.pubsub_numsub(channel)
            if listeners >= nodes:
                return time.monotonic() - restarted
            await asyncio.sleep(0.02)
        return None
    finally:
        await probe.aclose()


def channel_of(prefix: str, room: str) -> str:
    """The room's pub/sub channel (rooms.redis_broker names it so)."""
    return f"{prefix}:{{{room}}}"


# -- chat ---------------------------------------------------------------------------------

FANS = 12  # half on each node
STEADY = 2  # fans chatting on through the outage, one on each node
WATCHERS = 6
CHAT_EVERY = 0.12  # seconds between a steady fan's messages
ROUND_EVERY = 0.25  # seconds between rounds, in which every other fan posts at once
BEFORE, AFTER = 2.0, 3.0  # seconds of rounds before the kill and after every watcher
# was told to refetch. Rounds at once grow each node's Redis pool before the outage;
# after it, they take connections that went stale with the old server.
REPLY_WAIT = 3.0  # a fan's patience before sending the same message again


async def _open(hub: HubProcess, org: uuid.UUID, sub: str) -> ClientConnection:
    ws = await asyncio.wait_for(
        connect(f"{hub.ws_url}?token={token(org, sub=sub)}", compression=None), 10)
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
    return ws


class Fan:
    """Chats one message at a time; an error or no answer: the same client_msg_id again."""

    def __init__(self, ws: ClientConnection, sub: str, room: str) -> None:
        self.ws, self.sub, self.room = ws, sub, room
        self.acked: dict[str, str] = {}  # client_msg_id -> message_id
        self.retries = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._sent = 0

    async def read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            waiter = self._waiting.pop(frame.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)

    async def chat_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            await self.post_next()
            await asyncio.sleep(max(0.0, CHAT_EVERY - (time.monotonic() - started)))

    async def post_next(self) -> None:
        self._sent += 1
        await self.post(f"{self.sub}-{self._sent}", deadline=time.monotonic() + 30)

    async def post(self, client_msg_id: str, deadline: float) -> None:
        while True:
            self._next_id += 1
            waiter = self._waiting[self._next_id] = asyncio.get_running_loop().create_future()
            await self.ws.send(json.dumps({"type": "chat", "room": self.room,
                                           "text": client_msg_id,
                                           "client_msg_id": client_msg_id,
                                           "id": self._next_id}))
            try:
                reply = await asyncio.wait_for(waiter, REPLY_WAIT)
            except TimeoutError:
                reply = {"type": "timeout"}
            if reply["type"] == "chat_sent":
                self.acked[client_msg_id] = reply["message_id"]
                return
            self.retries += 1
            assert time.monotonic() < deadline, f"{client_msg_id}: never acknowledged"
            await asyncio.sleep(0.2)


async def rounds(fans: list[Fan], seconds: float) -> None:
    """Every ``ROUND_EVERY`` s, each fan posts a message, all at once."""
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.monotonic()
        await asyncio.gather(*(f.post_next() for f in fans))
        await asyncio.sleep(max(0.0, ROUND_EVERY - (time.monotonic() - started)))


class Watcher:
    """A subscriber that, told ``recovered: false``, reads the whole chat history again."""

    def __init__(self, ws: ClientConnection, room: str) -> None:
        self.ws, self.room = ws, room
        self.live: list[str] = []  # message ids of chat events, as they arrived
        self.resets = 0
        self.refetched: set[str] = set()  # message ids in chat_history read after a reset
        self.reads = 0
        self.refetches = 0  # complete history reads
        self._pages: dict[int, int | None] = {}  # request id -> the page's ``before``

    async def run(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "message" and frame["data"].get("type") == "chat":
                self.live.append(frame["data"]["message_id"])
            elif kind == "subscribed" and frame.get("id") is None:
                assert frame["recovered"] is False, frame
                self.resets += 1
                await self._page(None)
            elif kind == "chat_page":
                self.refetched.update(m["message_id"] for m in frame["messages"])
                if frame["before"] is not None:
                    await self._page(frame["before"])
                else:
                    self.refetches += 1
            elif kind == "error" and frame.get("id") in self._pages:
                await asyncio.sleep(0.2)  # as a client would: read that page again
                await self._page(self._pages[frame["id"]])

    async def _page(self, before: int | None) -> None:
        self.reads += 1
        self._pages[1000 + self.reads] = before
        await self.ws.send(json.dumps({"type": "chat_history", "room": self.room,
                                       "before": before, "limit": 100, "id": 1000 + self.reads}))


async def test_acknowledged_chat_survives_a_redis_restart(
        hubs: list[HubProcess], own_redis: RestartableRedis, prefix: str, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """Chat on both nodes through a Redis restart: every acked chat stored once, and
    every subscriber got it live or was told to refetch and found it."""
    org, ev = event
    room = f"event:{ev}"
    sockets: list[ClientConnection] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        watchers = []
        for i in range(WATCHERS):
            ws = await _open(hubs[i % 2], org, f"watch-{i}")
            sockets.append(ws)
            await ws.send(json.dumps({"type": "subscribe", "room": room, "id": 1}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            watchers.append(Watcher(ws, room))
        fans = []
        for i in range(FANS):
            ws = await _open(hubs[i % 2], org, f"fan-{i}")
            sockets.append(ws)
            fans.append(Fan(ws, f"fan-{i}", room))
        tasks += [asyncio.create_task(w.run()) for w in watchers]
        tasks += [asyncio.create_task(f.read()) for f in fans]

        steady, crowd = fans[:STEADY], fans[STEADY:]
        await rounds(crowd, BEFORE)
        stop = asyncio.Event()
        chatting = asyncio.gather(*(f.chat_until(stop) for f in steady))
        await asyncio.to_thread(own_redis.kill)
        resubscribed = await revive(own_redis, channel_of(prefix, room), 2)
        deadline = time.monotonic() + 10
        while not all(w.refetches for w in watchers):
            assert time.monotonic() < deadline, [w.resets for w in watchers]
            await asyncio.sleep(0.02)
        await rounds(crowd, AFTER)
        stop.set()
        await asyncio.wait_for(chatting, 40)
        # Every fan's last message reached every watcher (or its refetch): all is in.
        last = {f.acked[max(f.acked, key=lambda c: int(c.rsplit("-", 1)[1]))] for f in fans}
        deadline = time.monotonic() + 10
        while not all(last <= {*w.live, *w.refetched} for w in watchers):
            assert time.monotonic() < deadline, "delivery did not resume"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a late duplicate would land here

        acked = {(f.sub, c): m for f in fans for c, m in f.acked.items()}
        rows = await owner_conn.fetch(
            "SELECT author, client_msg_id, array_agg(id::text) AS ids FROM chat_messages"
            " WHERE room = $1 GROUP BY author, client_msg_id", room)
        stored = {(r["author"], r["client_msg_id"]): r["ids"] for r in rows}
        lost = [k for k in acked if k not in stored]
        duplicated = [k for k, ids in stored.items() if len(ids) > 1]
        wrong_id = [k for k, m in acked.items() if k in stored and stored[k] != [m]]
        unacked = sorted(set(stored) - set(acked))  # stored, the fan never heard back
        missed = []
        for i, w in enumerate(watchers):
            got = {*w.live, *w.refetched}
            missed += [(i, m) for m in acked.values() if m not in got]
        twice = [(i, m) for i, w in enumerate(watchers) for m in set(w.live)
                 if w.live.count(m) > 1]
        retries = sum(f.retries for f in fans)
        print(f"\nchat: {len(acked)} acked, {len(stored)} in Postgres, {len(lost)} lost,"
              f" {len(duplicated)} duplicated, {retries} retries;"
              f" watchers told recovered=false: {[w.resets for w in watchers]};"
              f" live misses covered by chat_history:"
              f" {sum(len(set(acked.values()) - set(w.live)) for w in watchers) - len(missed)},"
              f" silently missed: {len(missed)} {sorted({m for _, m in missed})[:10]};"
              f" resubscribed {resubscribed} s after Redis was back")
        assert (lost, duplicated, wrong_id, unacked) == ([], [], [], [])
        assert (missed, twice) == ([], [])
        assert retries > 0, "no chat met the outage: the test proved nothing"
        assert resubscribed is not None and resubscribed <= RESUBSCRIBE_BOUND, resubscribed
    finally:
        for t in tasks:
            t.cancel()
        for ws in sockets:
            await ws.close()


async def test_a_chat_saved_but_not_broadcast_says_so_and_its_retry_broadcasts_it(
        hubs: list[HubProcess], own_redis: RestartableRedis, prefix: str, event: Event,
        owner_conn: asyncpg.Connection) -> None:
    """Redis is down between a chat's commit and its broadcast (every try fails): the
    4503 says the chat was saved, not that nothing changed; the row is there once; sent
    again once Redis is back, it is acknowledged as the same message and broadcast."""
    org, ev = event
    room = f"event:{ev}"
    watcher = await _open(hubs[0], org, "watch")
    fan = await _open(hubs[0], org, "fan")

    async def ask(frame: dict[str, Any]) -> dict[str, Any]:
        await fan.send(json.dumps(frame))
        reply: dict[str, Any] = json.loads(await asyncio.wait_for(fan.recv(), 10))
        return reply

    def chat(key: str, request_id: int) -> dict[str, Any]:
        return {"type": "chat", "room": room, "text": f"line {key}", "client_msg_id": key,
                "id": request_id}

    try:
        await watcher.send(json.dumps({"type": "subscribe", "room": room, "id": 1}))
        assert json.loads(await asyncio.wait_for(watcher.recv(), 10))["type"] == "subscribed"
        assert (await ask(chat("k-1", 1)))["type"] == "chat_sent"
        await asyncio.to_thread(own_redis.kill)
        refused = await ask(chat("k-2", 2))
        assert (refused["type"], refused["code"]) == ("error", 4503), refused
        assert refused["reason"].startswith("saved, but not broadcast"), refused
        rows = await owner_conn.fetch(
            "SELECT id FROM chat_messages WHERE room = $1 AND client_msg_id = 'k-2'", room)
        assert len(rows) == 1, rows

        await revive(own_redis, channel_of(prefix, room), 2)
        deadline, request_id, sent = time.monotonic() + 10, 2, None
        while sent is None:
            request_id += 1
            reply = await ask(chat("k-2", request_id))
            if reply["type"] == "chat_sent":
                sent = reply
            else:  # a pooled connection that went stale with the old server
                assert reply.get("code") == 4503 and time.monotonic() < deadline, reply
                await asyncio.sleep(0.2)
        assert sent["message_id"] == str(rows[0]["id"]), (sent, rows)
        broadcast = None
        while broadcast is None:
            frame = json.loads(await asyncio.wait_for(watcher.recv(), 10))
            if frame["type"] == "message" and frame["data"].get("message_id") == sent[
                    "message_id"]:
                broadcast = frame["data"]
        assert broadcast["text"] == "line k-2", broadcast
        count = await owner_conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE room = $1 AND client_msg_id = 'k-2'", room)
        assert count == 1
    finally:
        await watcher.close()
        await fan.close()


# -- tips ---------------------------------------------------------------------------------

TIPS_BEFORE, TIPS_DURING, TIPS_AFTER = 3, 3, 3
ALERT_MS = 800  # the event's alert timeout, under DOWN: the timer on screen fires mid-outage


class RejoiningOverlay(Overlay):
    """The tips overlay, which subscribes again for fresh snapshots when told
    ``recovered: false`` (as docs/protocol.md says to), and notes every alert it saw."""

    def __init__(self, client: Client, room: str) -> None:
        super().__init__(client)
        self.room = room
        self.resets = 0
        self.seen: set[str] = set()  # alert ids the overlay learnt of, by event or snapshot

    async def until(self, done: Callable[[Overlay], Any], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; state={self._state} pending={self.pending}"
            frame = await self.client.recv(timeout=left)
            if frame["type"] == "subscribed" and frame.get("id") is None:
                assert frame["recovered"] is False, frame
                self.resets += 1
                await self.client.send({"type": "unsubscribe", "room": self.room, "id": 2})
                await self.client.send({"type": "subscribe", "room": self.room, "id": 3})
            elif frame["type"] == "error" and frame.get("id") == 3:
                await asyncio.sleep(0.2)  # as a client would: subscribe again
                await self.client.send({"type": "subscribe", "room": self.room, "id": 3})
            self._take(frame)

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "snapshot" and frame["service"] == "tips":
            state = frame["state"]
            alerts = [state["showing"], *state["waiting"]] if state["showing"] else [
                *state["waiting"]]
            self.seen.update(str(a["alert_id"]) for a in alerts)
        elif frame["type"] == "message" and str(frame["data"].get("type")).startswith("tips."):
            data = frame["data"]
            alert_id = data["alert"]["alert_id"] if "alert" in data else data.get("alert_id")
            if alert_id is not None:
                self.seen.add(str(alert_id))
        super()._take(frame)


class Stripe:
    """Delivers webhooks as Stripe does: signed afresh each attempt, and an answer that
    is not 2xx (or none at all) is delivered again, with backoff."""

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        self.attempts: list[tuple[str, int | str]] = []  # (session id, status or error)

    async def deliver(self, hub: HubProcess, session_id: str, deadline: float) -> str:
        """The status in the 2xx answer that ended the deliveries ("applied", or
        "duplicate" when an earlier attempt applied it but was not answered 2xx)."""
        body = self.fake.completed(session_id)  # one event, one id, every attempt
        backoff = 0.25
        while True:
            try:
                answer = await deliver(hub, body)
            except httpx.HTTPError as exc:
                self.attempts.append((session_id, type(exc).__name__))
            else:
                self.attempts.append((session_id, answer.status_code))
                if 200 <= answer.status_code < 300:
                    status: str = answer.json()["status"]
                    return status
            assert time.monotonic() < deadline, f"{session_id}: never accepted"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


async def test_paid_tips_and_alert_timers_survive_a_redis_restart(
        hubs: list[HubProcess], own_redis: RestartableRedis, prefix: str,
        stripe_fake: FakeStripe, event: Event, owner_conn: asyncpg.Connection) -> None:
    """Tip payments before, during and after a Redis restart: each in the ledger once,
    the goal exact, every alert seen by the overlay and timed out in turn, the alert
    whose timer was running when Redis died included."""
    org, ev = event
    room = f"event:{ev}"
    await enable(owner_conn, stripe_fake, org)
    await owner_conn.execute("UPDATE events SET tip_alert_timeout_ms = $2,"
                             " tip_goal_cents = 100000 WHERE id = $1", ev, ALERT_MS)
    total = TIPS_BEFORE + TIPS_DURING + TIPS_AFTER
    tips = [await paid_tip(hubs[i % 2], stripe_fake, org, ev, amount=100 * (i + 1))
            for i in range(total)]
    stripe = Stripe(stripe_fake)
    answers: dict[str, str] = {}

    async def pay(i: int, deadline: float) -> None:
        session = tips[i]["session_id"]
        answers[session] = await stripe.deliver(hubs[i % 2], session, deadline)

    for i in range(TIPS_BEFORE):  # nobody watches yet: their alerts wait
        await pay(i, time.monotonic() + 20)
    overlay = RejoiningOverlay(await Client.open(
        hubs[1].ws_url, await staff_token(hubs[1], org, "overlay", "performer")), room)
    try:
        await overlay.client.subscribe(room)
        await overlay.until(lambda o: o._state is not None)
        await overlay.until(lambda o: o.showing() is not None)  # the join replays them
        await asyncio.to_thread(own_redis.kill)
        # The alert on screen as Redis died: its timer was armed, in one node only.
        on_screen = await owner_conn.fetchrow(
            "SELECT id, extract(epoch FROM now() - shown_at) * 1000 AS age_ms"
            " FROM tip_alerts WHERE event_id = $1 AND status = 'showing'", ev)
        assert on_screen is not None and on_screen["age_ms"] < ALERT_MS, on_screen
        outage = asyncio.create_task(revive(own_redis, channel_of(prefix, room), 1))
        during = [asyncio.create_task(pay(TIPS_BEFORE + i, time.monotonic() + 30))
                  for i in range(TIPS_DURING)]
        resubscribed = await outage
        back = time.monotonic()
        after = [asyncio.create_task(pay(TIPS_BEFORE + TIPS_DURING + i,
                                         time.monotonic() + 30)) for i in range(TIPS_AFTER)]
        await asyncio.wait_for(asyncio.gather(*during, *after), 40)

        expected = sum(t["amount_cents"] for t in tips)
        drain = total * ALERT_MS / 1000 + 15
        await overlay.until(lambda o: o.state["paid_cents"] == expected and not o.state[
            "waiting"] and o.state["showing"] is None and len(overlay.seen) == total, drain)
        took = time.monotonic() - back
        alerts = await owner_conn.fetch(
            "SELECT a.id::text, a.status, a.shown_at, a.done_at, t.id AS tip_id"
            " FROM tip_alerts a JOIN tips t ON t.id = a.tip_id WHERE a.event_id = $1", ev)
        ledger = await owner_conn.fetch(
            "SELECT target_id, count(*) AS n, sum(amount_cents) AS cents FROM ledger_entries"
            " WHERE event_id = $1 AND kind = 'payment' GROUP BY target_id", ev)
        paid = await owner_conn.fetch(
            "SELECT id, amount_cents FROM tips WHERE event_id = $1 AND status = 'paid'", ev)
        state = await overlay.client.call(room, "tips.state")
        first = next(a for a in alerts if a["id"] == str(on_screen["id"]))
        late = (first["done_at"] - first["shown_at"]).total_seconds() - ALERT_MS / 1000
        refused = sum(1 for _, s in stripe.attempts if s != 200)
        print(f"\ntips: {total} paid, {len(ledger)} in the ledger"
              f" ({sum(r['n'] for r in ledger)} payment rows), {len(alerts)} alerts,"
              f" {sum(a['status'] == 'timed_out' for a in alerts)} shown and timed out,"
              f" {len(overlay.seen)} seen by the overlay, overlay resets {overlay.resets};"
              f" goal expected {expected}, overlay {overlay.state['paid_cents']},"
              f" tips.state {state['paid_cents']}; {len(stripe.attempts)} deliveries,"
              f" {refused} not 2xx ({sorted(set(answers.values()))} at the end);"
              f" the alert on screen at the kill timed out {late:.2f} s late;"
              f" queue drained {took:.1f} s after Redis was back;"
              f" resubscribed {resubscribed} s after Redis was back")
        tip_ids = {uuid.UUID(t["tip_id"]) for t in tips}
        assert {r["id"] for r in paid} == tip_ids
        assert {r["target_id"]: (r["n"], r["cents"]) for r in ledger} == {
            uuid.UUID(t["tip_id"]): (1, t["amount_cents"]) for t in tips}
        assert sorted(a["tip_id"] for a in alerts) == sorted(tip_ids)  # one alert each
        assert {a["status"] for a in alerts} == {"timed_out"}
        assert all(a["shown_at"] is not None for a in alerts)
        assert overlay.seen == {a["id"] for a in alerts}
        assert (overlay.state["paid_cents"], state["paid_cents"]) == (expected, expected)
        assert state["goal_cents"] == 100000
        assert refused > 0, "no delivery met the outage: the test proved nothing"
        assert first["status"] == "timed_out" and late < DOWN + RESUBSCRIBE_BOUND + 3, late
        assert overlay.resets >= 1
        assert resubscribed is not None and resubscribed <= RESUBSCRIBE_BOUND, resubscribed
    finally:
        await overlay.client.close()
