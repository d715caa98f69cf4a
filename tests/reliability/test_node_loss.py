"""Issue #13: losing a hub node mid-stream loses no message, no acknowledged chat, and its
members leave presence on their own.

Two real hubs share Redis and Postgres. 40 subscribers are split over them, a DJ on the
surviving node publishes 25 msg/s, and six fans (three per node) send chats with
``client_msg_id`` at 5/s each, pipelined. Node A is SIGKILLed mid-stream. The test plays
load balancer: every client that loses its connection comes back on node B. Subscribers
recover from their last ``{epoch, offset}``; fans resend every chat not yet answered with
``chat_sent``, under the same ``client_msg_id``.

Afterwards every subscriber holds every room message (publishes and chats) exactly once
and in order, every acknowledged chat is in Postgres once with the id its ack named, and
node A's members are gone from presence within ``HUB_PRESENCE_TTL`` (plus slack).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.client import token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import add_member
from tests.support.recovering import RecoveringClient, tally

SUBSCRIBERS = 40
FANS = 6
RATE = 25.0  # DJ publishes per second
CHAT_RATE = 5.0  # chats per second per fan
BURST = 10  # chats each of node A's fans sends back to back just before the kill
BEFORE, AFTER = 3.0, 3.0  # seconds of traffic before the kill and after it
PRESENCE_TTL = 3.0
PRESENCE_SLACK = 2.0  # the last refresh may be up to TTL/3 old; a loaded machine lags


class Fan:
    """Sends chats (``client_msg_id`` = name-n, pipelined, answers read by a second task);
    when its connection drops, reconnects to ``url`` and resends every unanswered chat."""

    def __init__(self, name: str, tok: str, room: str, url: str) -> None:
        self.name = name
        self.url = url  # the test swaps it for the surviving node's
        self._token = tok
        self._room = room
        self._n = 0
        self.unacked: dict[str, str] = {}  # client_msg_id -> the frame sent
        self.acks: dict[str, list[str]] = {}  # client_msg_id -> message_ids answered
        self.errors: list[dict[str, Any]] = []
        self.in_flight_at_loss: list[str] = []  # client_msg_ids unanswered when the link dropped
        self.resent = 0
        self.sending = True
        self.burst = 0  # extra chats to send back to back at the next tick

    async def run(self) -> None:
        lost = False
        while True:
            try:
                ws = await asyncio.wait_for(connect(
                    f"{self.url}?token={self._token}", compression=None), 10)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            try:
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
                if lost:
                    for frame in list(self.unacked.values()):
                        await ws.send(frame)
                        self.resent += 1
                if await self._connection(ws):
                    return
            except ConnectionClosed:
                pass
            lost = True
            self.in_flight_at_loss += list(self.unacked)

    async def _connection(self, ws: ClientConnection) -> bool:
        """Chat until told to stop and every chat is answered (True), or the link drops."""
        reader = asyncio.create_task(self._read(ws))
        try:
            while not reader.done():
                if self.sending:
                    count, self.burst = 1 + self.burst, 0
                    for _ in range(count):
                        self._n += 1
                        cid = f"{self.name}-{self._n}"
                        self.unacked[cid] = json.dumps({
                            "type": "chat", "room": self._room, "text": f"{cid} says hi",
                            "client_msg_id": cid, "id": self._n})
                        await ws.send(self.unacked[cid])
                    await asyncio.sleep(1 / CHAT_RATE)
                elif not self.unacked:
                    await ws.close()
                    return True
                else:
                    await asyncio.sleep(0.02)
            return False
        finally:
            reader.cancel()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "chat_sent":
                    cid = f"{self.name}-{frame['id']}"
                    self.acks.setdefault(cid, []).append(frame["message_id"])
                    self.unacked.pop(cid, None)
                else:
                    self.errors.append(frame)
        except ConnectionClosed:
            pass


async def _presence(http: httpx.AsyncClient, room: str) -> set[str]:
    resp = await http.get(f"/api/rooms/{room}/presence", headers={"X-API-Key": API_KEY})
    resp.raise_for_status()
    return {m["client"] for m in resp.json()["members"]}


async def test_node_loss_loses_no_message_and_no_acknowledged_chat(
        hub_factory, event, owner_conn: asyncpg.Connection, owner_dsn: str) -> None:
    """SIGKILL one of two nodes mid-stream: 0 lost, 0 duplicated, acked chats all stored."""
    org, ev = event
    room = f"event:{ev}"
    env = {"HUB_PRESENCE_TTL": str(PRESENCE_TTL), "HUB_CHAT_USER_BURST": "10000",
           "HUB_PUBLISH_RATE": "1000", "HUB_PUBLISH_BURST": "1000"}
    doomed: HubProcess = hub_factory(db=True, **env)
    survivor: HubProcess = hub_factory(db=True, **env)
    homes = [doomed.ws_url, survivor.ws_url]
    await add_member(owner_dsn, org, "dj-1", "dj")
    subscribers = [RecoveringClient(i, token(org, sub=f"viewer-{i}"), room,
                                    lambda i=i: homes[i % 2]) for i in range(SUBSCRIBERS)]
    fans = [Fan(f"fan{i}", token(org, sub=f"fan-{i}"), room, homes[i % 2])
            for i in range(FANS)]
    tasks = [asyncio.create_task(c.run()) for c in subscribers]
    dj = await asyncio.wait_for(connect(
        f"{survivor.ws_url}?token={token(org, sub='dj-1', roles=('dj',))}",
        compression=None), 10)
    http = httpx.AsyncClient(base_url=survivor.url, timeout=10)
    try:
        assert json.loads(await asyncio.wait_for(dj.recv(), 10))["type"] == "welcome"
        started = time.monotonic()
        while not all(c.live for c in subscribers):
            assert time.monotonic() - started < 30, "subscribers did not all subscribe"
            await asyncio.sleep(0.05)
        on_doomed = {c.client_id for c in subscribers if c.url == doomed.ws_url}
        assert len(on_doomed) == SUBSCRIBERS // 2
        assert await _presence(http, room) == {c.client_id for c in subscribers}

        acked: list[tuple[int, int]] = []  # (offset, seq) of each `published`
        seq = 0

        async def publish_one() -> None:
            nonlocal seq
            seq += 1
            await dj.send(json.dumps(
                {"type": "publish", "room": room, "data": {"seq": seq}, "id": seq}))
            reply = json.loads(await asyncio.wait_for(dj.recv(), 10))
            assert reply["type"] == "published" and reply["id"] == seq, reply
            acked.append((reply["offset"], seq))

        async def publish(until: float) -> None:
            while time.monotonic() < until:
                began = time.monotonic()
                await publish_one()
                await asyncio.sleep(max(0.0, 1 / RATE - (time.monotonic() - began)))

        tasks += [asyncio.create_task(f.run()) for f in fans]
        await publish(time.monotonic() + BEFORE)
        for c in subscribers:  # the load balancer takes node A out
            c.next_url = lambda: survivor.ws_url
        for f in fans:
            f.url = survivor.ws_url
        # Node A's fans pipeline a burst; the kill lands while it is being answered.
        for f in fans[::2]:
            f.burst = BURST
        answered, deadline = sum(len(f.acks) for f in fans[::2]), time.monotonic() + 10
        while any(f.burst for f in fans[::2]) or sum(
                len(f.acks) for f in fans[::2]) < answered + 3:
            assert time.monotonic() < deadline, "the burst was not answered"
            await asyncio.sleep(0.001)
        acked_before_kill = {cid for f in fans for cid in f.acks}
        doomed.proc.kill()
        killed_at, killed_wall = time.monotonic(), time.time()
        gone_after: float | None = None

        async def watch_presence() -> None:
            nonlocal gone_after
            while time.monotonic() - killed_at < PRESENCE_TTL + PRESENCE_SLACK + 5:
                if not (await _presence(http, room)) & on_doomed:
                    gone_after = time.monotonic() - killed_at
                    return
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(watch_presence())
        await publish(time.monotonic() + AFTER)
        for f in fans:
            f.sending = False
        await asyncio.wait_for(asyncio.gather(*tasks[SUBSCRIBERS:]), 20)  # every chat answered
        await asyncio.wait_for(watcher, PRESENCE_TTL + PRESENCE_SLACK + 10)
        await publish_one()  # after every chat: its offset is the room's last
        last = acked[-1][0]
        deadline = time.monotonic() + 15
        while not all(c.live and c.position >= last for c in subscribers):
            assert time.monotonic() < deadline, "subscribers never caught up"
            await asyncio.sleep(0.05)
        present = await _presence(http, room)

        # Room messages: every subscriber has offsets 1..last, each once, in order.
        expected = list(range(1, last + 1))
        totals: Counter[str] = Counter()
        failures = []
        chat_ids_seen: Counter[str] = Counter()
        for c in subscribers:
            lost, duplicated, disorder = tally(c.offsets, expected)
            totals.update(lost=lost, duplicated=duplicated, disorder=disorder,
                          delivered=len(c.offsets))
            seqs = [d["seq"] for d in c.data if "seq" in d]
            if (lost or duplicated or disorder or seqs != [s for _, s in acked]
                    or c.not_recovered or c.unexpected):
                failures.append(f"subscriber {c.index}: lost {lost}, duplicated {duplicated},"
                                f" out of order {disorder}, not recovered "
                                f"{c.not_recovered[:2]}, unexpected {c.unexpected[:2]}")
            chat_ids_seen.update({d["message_id"] for d in c.data if d.get("type") == "chat"})
        moved = [c for c in subscribers if c.subscribed_at[-1] > killed_at]
        waits = sorted(c.subscribed_at[-1] - killed_at for c in moved)

        # Chats: every acknowledged one stored once, under the id its ack named.
        rows = await owner_conn.fetch(
            "SELECT id::text, author, client_msg_id, extract(epoch FROM created_at) AS at"
            " FROM chat_messages WHERE room = $1", room)
        stored: dict[str, list[str]] = {}
        for r in rows:
            stored.setdefault(r["client_msg_id"], []).append(r["id"])
        acks = {cid: ids for f in fans for cid, ids in f.acks.items()}
        sent = sum(f._n for f in fans)
        missing = [cid for cid in acks if cid not in stored]
        duplicates = sum(len(ids) - 1 for ids in stored.values())
        conflicting = [cid for cid, ids in acks.items() if set(ids) != set(stored.get(cid, []))]
        in_flight = [cid for f in fans for cid in f.in_flight_at_loss]
        # In flight, yet node A had stored it: its resend was answered from that row.
        stored_by_a = [r for r in rows if r["client_msg_id"] in in_flight and r["at"] < killed_wall]
        unbroadcast = [cid for cid, ids in stored.items()
                       if chat_ids_seen[ids[0]] != SUBSCRIBERS]
        print(f"\n{len(acked)} published, {last} room messages, delivered "
              f"{totals['delivered']} (expected {last * SUBSCRIBERS}); lost {totals['lost']}, "
              f"duplicated {totals['duplicated']}, out of order {totals['disorder']}; "
              f"{len(moved)} subscribers moved, reconnected after median "
              f"{statistics.median(waits):.3f} s, max {waits[-1]:.3f} s; chats sent {sent}, "
              f"acked before the kill {len(acked_before_kill)}, acked {len(acks)}, in flight "
              f"at the kill {len(in_flight)} ({len(stored_by_a)} already stored by node A), resent "
              f"{sum(f.resent for f in fans)}, stored {len(rows)}, missing {len(missing)}, "
              f"duplicates {duplicates}, stored but not broadcast to all {len(unbroadcast)}; "
              f"presence dropped node A's members after {gone_after} s")
        assert not failures, "\n".join(failures[:10]) + f"\n({len(failures)} subscribers)"
        assert totals["delivered"] == last * SUBSCRIBERS
        assert len(moved) == SUBSCRIBERS // 2, "only node A's subscribers move"
        assert [f.errors for f in fans] == [[]] * FANS
        assert len(acks) == sent and not missing and not duplicates and not conflicting
        assert len(rows) == sent
        assert len(in_flight) == sum(f.resent for f in fans)
        # Known gap: node A stored these and died before broadcasting them; the resend is
        # answered from the row and broadcasts nothing. Any other chat reached everyone.
        assert set(unbroadcast) <= {r["client_msg_id"] for r in stored_by_a}, unbroadcast
        assert gone_after is not None and gone_after <= PRESENCE_TTL + PRESENCE_SLACK, \
            gone_after
        assert present == {c.client_id for c in subscribers}
    finally:
        for c in subscribers:
            c.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(dj.close(), http.aclose())
