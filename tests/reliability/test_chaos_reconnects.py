"""Issue #13: random disconnects never lose, repeat or reorder a room message.

Two real hubs share Redis; 200 clients subscribe to one org room, each connecting to a
random node. A publisher sends 25 msg/s while 1,000 disconnect/reconnect cycles hit
random clients at random moments: a clean close, a TCP reset or a FIN without a close
frame, sometimes before the client's ``subscribed`` arrived. Each reconnect goes to a
random node and subscribes with the client's last ``{epoch, offset}``.

At the end every client must hold every published message exactly once, in order, and
every recovery must have said ``recovered: true`` (the run stays well inside the
history window: fewer messages than ``HUB_HISTORY_SIZE``, and far under its TTL).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from collections import Counter

from websockets.asyncio.client import connect

from tests.support.client import token
from tests.support.hubproc import HubProcess
from tests.support.recovering import CUTS, RecoveringClient, tally

CLIENTS = 200
CYCLES = 1000
RATE = 25.0  # publishes per second
CHAOS_SECONDS = 20.0  # the cycles are spread over this long: 50 per second
HISTORY_SIZE = 1000  # every message published stays in history (at most ~600 are)


async def test_chaos_reconnects_lose_nothing(hub_factory) -> None:
    """1,000 random cuts over 200 clients: every message exactly once, in order, recovered."""
    env = {"HUB_PUBLISH_RATE": "1000", "HUB_PUBLISH_BURST": "1000",
           "HUB_HISTORY_SIZE": str(HISTORY_SIZE)}
    hubs: list[HubProcess] = [hub_factory(**env), hub_factory(**env)]
    org = uuid.uuid4()
    room = f"org:{org}"
    rng = random.Random(13)
    urls = [h.ws_url for h in hubs]
    clients = [RecoveringClient(i, token(org, sub=f"fan-{i}"), room,
                                lambda: rng.choice(urls)) for i in range(CLIENTS)]
    runners = [asyncio.create_task(c.run()) for c in clients]
    closing: set[asyncio.Task[None]] = set()
    publisher = await asyncio.wait_for(connect(
        f"{hubs[0].ws_url}?token={token(org, sub='dj-1', roles=('dj',))}", compression=None), 10)
    try:
        assert json.loads(await asyncio.wait_for(publisher.recv(), 10))["type"] == "welcome"
        started = time.monotonic()
        while not all(c.live for c in clients):
            assert time.monotonic() - started < 30, "clients did not all subscribe"
            await asyncio.sleep(0.05)

        acked: list[tuple[str, int, int]] = []  # (epoch, offset, seq) of each `published`
        chaos_over = asyncio.Event()

        async def publish() -> None:
            seq = 0
            while not chaos_over.is_set():
                began = time.monotonic()
                seq += 1
                await publisher.send(json.dumps(
                    {"type": "publish", "room": room, "data": {"seq": seq}, "id": seq}))
                reply = json.loads(await asyncio.wait_for(publisher.recv(), 10))
                assert reply["type"] == "published" and reply["id"] == seq, reply
                acked.append((reply["epoch"], reply["offset"], seq))
                await asyncio.sleep(max(0.0, 1 / RATE - (time.monotonic() - began)))

        cuts: Counter[str] = Counter()

        async def chaos() -> None:
            gap = CHAOS_SECONDS / CYCLES
            end = next_at = time.monotonic() + CHAOS_SECONDS
            next_at -= CHAOS_SECONDS
            while sum(cuts[how] for how in CUTS) < CYCLES:
                # Random moments (a Poisson process), on schedule however late the loop runs.
                next_at += rng.expovariate(1 / gap)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                how, client = rng.choice(CUTS), rng.choice(clients)
                live = client.live
                if client.cut(how, closing):
                    cuts[how] += 1
                    cuts["while subscribed"] += live
                assert time.monotonic() < end + 30, f"only {cuts} cuts"
            chaos_over.set()

        chaos_began = time.monotonic()
        publishing = asyncio.create_task(publish())
        await asyncio.wait_for(chaos(), CHAOS_SECONDS + 40)
        chaos_took = time.monotonic() - chaos_began
        await asyncio.wait_for(publishing, 15)

        # Every client reconnects and catches up with the last message.
        last = acked[-1][1]
        deadline = time.monotonic() + 20
        while not all(c.live and c.position >= last for c in clients):
            lagging = [c.index for c in clients if not (c.live and c.position >= last)]
            assert time.monotonic() < deadline, f"clients never caught up: {lagging[:20]}"
            await asyncio.sleep(0.05)

        assert len({epoch for epoch, _, _ in acked}) == 1, "the room's history was reset"
        expected = [offset for _, offset, _ in acked]
        assert expected == list(range(expected[0], expected[0] + len(expected)))
        assert len(expected) < HISTORY_SIZE, "the run outgrew the history window"
        seqs = [seq for _, _, seq in acked]
        totals = Counter[str]()
        failures = []
        for c in clients:
            lost, duplicated, disorder = tally(c.offsets, expected)
            totals.update(lost=lost, duplicated=duplicated, disorder=disorder,
                          delivered=len(c.offsets))
            if (lost or duplicated or disorder or [d["seq"] for d in c.data] != seqs
                    or c.not_recovered or c.unexpected):
                failures.append(f"client {c.index}: lost {lost}, duplicated {duplicated}, "
                                f"out of order {disorder}, not recovered {c.not_recovered[:2]},"
                                f" unexpected {c.unexpected[:2]}")
        waits = sorted(w for c in clients for w in c.reconnect_seconds)
        print(f"\n{len(acked)} published over {chaos_took:.1f} s of chaos; cuts {dict(cuts)}; "
              f"{sum(c.recoveries for c in clients)} recoveries; delivered "
              f"{totals['delivered']} (expected {len(acked) * CLIENTS}); lost "
              f"{totals['lost']}, duplicated {totals['duplicated']}, out of order "
              f"{totals['disorder']}; connect failures "
              f"{sum(c.connect_failures for c in clients)}; reconnect median "
              f"{statistics.median(waits):.3f} s, max {waits[-1]:.3f} s")
        assert not failures, "\n".join(failures[:10]) + f"\n({len(failures)} clients)"
        assert sum(cuts[how] for how in CUTS) == CYCLES
        # Each cut of a subscribed connection ends in a recovery. A cut while the subscribe
        # was in flight may still see its `subscribed` (frames already on their way), so
        # recoveries land between the two counts.
        recoveries = sum(c.recoveries for c in clients)
        assert cuts["while subscribed"] <= recoveries <= CYCLES, (recoveries, cuts)
        assert totals["delivered"] == len(acked) * CLIENTS
    finally:
        for c in clients:
            c.stop()
        for task in [*runners, *closing]:
            task.cancel()
        await asyncio.gather(*runners, *closing, return_exceptions=True)
        await publisher.close()
