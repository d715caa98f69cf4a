"""Issue #13: a Redis restart (no persistence) must never lose an acknowledged publish
silently. Two real hubs share a throwaway redis-server; 40 subscribers are split over
them; a publisher sends 20 msg/s while Redis is SIGKILLed and started again 1 s later.

Every message that got ``published`` must reach every subscriber exactly once and in
order, or the subscriber must have been told (a ``subscribed`` frame with
``recovered: false`` whose position is past the message, or in another epoch).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import redis
from websockets.asyncio.client import ClientConnection, connect

from tests.support.client import token
from tests.support.hubproc import HubProcess
from tests.support.redis_proc import RestartableRedis

SUBSCRIBERS = 40
RATE = 20.0  # publishes per second
BEFORE, AFTER = 2.0, 5.0  # seconds of publishing before the kill and after the restart


class Recorder:
    """One subscriber: every frame it gets, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def run(self) -> None:
        async for raw in self.ws:
            self.frames.append(json.loads(raw))


async def _open(ws_url: str, org: uuid.UUID, sub: str, roles: tuple[str, ...]
                ) -> ClientConnection:
    ws = await asyncio.wait_for(
        connect(f"{ws_url}?token={token(org, sub=sub, roles=roles)}", compression=None), 10)
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def _subscribe_recorders(hubs: list[HubProcess], org: uuid.UUID, room: str, n: int,
                               subscribers: list[Recorder],
                               tasks: list[asyncio.Task[None]]) -> None:
    """``n`` viewers subscribed to ``room``, alternating over ``hubs``, each recorded from
    its ``subscribed`` on (appended as they come, so the caller's cleanup sees them all)."""
    for i in range(n):
        ws = await _open(hubs[i % len(hubs)].ws_url, org, f"fan-{i}", ("viewer",))
        await ws.send(json.dumps({"type": "subscribe", "room": room}))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "subscribed", first
        rec = Recorder(ws)
        rec.frames.append(first)
        subscribers.append(rec)
        tasks.append(asyncio.create_task(rec.run()))


def _silent_losses(frames: list[dict[str, Any]], acked: list[tuple[str, int, int]]
                   ) -> tuple[list[int], list[str]]:
    """Acked seqs this subscriber neither got nor was told about; order/duplicate faults."""
    got: list[int] = []
    resets: list[tuple[int, str, int]] = []  # (seqs received before it, epoch, offset)
    faults: list[str] = []
    for f in frames[1:]:  # frames[0] is the reply to its own subscribe
        if f["type"] == "message":
            got.append(f["data"]["seq"])
        elif f["type"] == "subscribed":
            assert f["recovered"] is False, f
            resets.append((len(got), f["epoch"], f["offset"]))
            got.extend(p["data"]["seq"] for p in f.get("publications", []))
    if len(set(got)) != len(got):
        faults.append(f"duplicates: {sorted(s for s in set(got) if got.count(s) > 1)}")
    if got != sorted(got):
        faults.append("out of order")
    received = set(got)
    silent = [seq for epoch, offset, seq in acked if seq not in received
              and not any(e != epoch or o >= offset for _, e, o in resets)]
    return silent, faults


async def test_redis_restart_loses_nothing_silently(own_redis: RestartableRedis) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    org = uuid.uuid4()
    room = f"org:{org}"
    env = {"REDIS_URL": own_redis.url, "HUB_REDIS_PREFIX": prefix}
    hubs = [HubProcess(env), HubProcess(env)]
    subscribers: list[Recorder] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await _subscribe_recorders(hubs, org, room, SUBSCRIBERS, subscribers, tasks)
        publisher = await _open(hubs[0].ws_url, org, "dj-1", ("dj",))

        acked: list[tuple[str, int, int]] = []  # (epoch, offset, seq) of each `published`
        seq = 0
        restarted_at = 0.0

        async def publish_until(deadline: float) -> None:
            nonlocal seq
            while time.monotonic() < deadline:
                started = time.monotonic()
                seq += 1
                await publisher.send(json.dumps(
                    {"type": "publish", "room": room, "data": {"seq": seq}, "id": seq}))
                while True:  # replies come in request order; an error is a refusal
                    try:
                        reply = json.loads(await asyncio.wait_for(publisher.recv(), 5))
                    except TimeoutError:
                        break
                    if reply.get("id") == seq:
                        if reply["type"] == "published":
                            acked.append((reply["epoch"], reply["offset"], seq))
                        break
                await asyncio.sleep(max(0.0, 1 / RATE - (time.monotonic() - started)))

        await publish_until(time.monotonic() + BEFORE)
        own_redis.kill()
        down_until = time.monotonic() + 1.0
        await publish_until(down_until)  # refused or timing out: none of these is acked
        await asyncio.sleep(max(0.0, down_until - time.monotonic()))
        own_redis.start()
        restarted_at = time.monotonic()
        acked_before_restart = len(acked)

        # Both nodes must be listening on the room's channel again within 2 s.
        channel = f"{prefix}:{{{room}}}"
        probe = redis.Redis.from_url(own_redis.url)
        resubscribed_after = None
        try:
            publish_task = asyncio.create_task(publish_until(restarted_at + AFTER))
            while time.monotonic() - restarted_at < 5:
                [(_, listeners)] = await asyncio.to_thread(probe.pubsub_numsub, channel)
                if listeners >= 2:
                    resubscribed_after = time.monotonic() - restarted_at
                    break
                await asyncio.sleep(0.02)
            await publish_task
        finally:
            probe.close()
        await asyncio.sleep(1.5)  # the last live messages land

        # Presence lived in the Redis that died: each node must have added its members again.
        await subscribers[0].ws.send(json.dumps({"type": "presence", "room": room, "id": 1}))
        await asyncio.sleep(0.5)
        [presence] = [f for f in subscribers[0].frames if f["type"] == "presence"]

        after_restart = acked[acked_before_restart:]
        assert len(after_restart) >= AFTER * RATE * 0.5, "publishing did not resume"
        failures = []
        for i, rec in enumerate(subscribers):
            silent, faults = _silent_losses(rec.frames, acked)
            rec.frames = [f for f in rec.frames if f["type"] != "presence"]
            if silent or faults:
                failures.append(f"subscriber {i} (hub {i % 2}): silently lost {silent} {faults}")
            # Delivery resumed: the last acked message reached everyone.
            assert any(f["type"] == "message" and f["data"]["seq"] == acked[-1][2]
                       for f in rec.frames), f"subscriber {i}: delivery did not resume"
        told = sum(any(f["type"] == "subscribed" for f in rec.frames[1:]) for rec in subscribers)
        missed = sum(len({s for _, _, s in acked} - {f["data"]["seq"] for f in rec.frames
                                                       if f["type"] == "message"})
                     for rec in subscribers)
        print(f"resubscribed {resubscribed_after} s after Redis was back; "
              f"{len(acked)} acked, {len(after_restart)} after the restart; "
              f"{told} subscribers told recovered=false; {missed} (acked, subscriber) misses")
        assert not failures, "\n".join(failures[:10]) + f"\n({len(failures)} subscribers)"
        assert resubscribed_after is not None and resubscribed_after <= 2.0, resubscribed_after
        assert len(presence["members"]) == SUBSCRIBERS, len(presence["members"])
    finally:
        for t in tasks:
            t.cancel()
        for rec in subscribers:
            await rec.ws.close()
        for hub in hubs:
            hub.stop()
