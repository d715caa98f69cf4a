"""The fan-out load both benchmarks put on a server: subscribers in one room, fed open-loop.

``fanout.py`` measures it alone (the hub against a baseline or an older hub),
``persist.py`` beside a chat load on the same hub. Subscribers are
``fanout_client.py`` processes; this process publishes through the hub's own
``RedisBroker``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from hdrh.histogram import HdrHistogram

from loadtests.fanout_client import new_histogram
from loadtests.harness import RESULTS
from loadtests.harness.cpu import CpuReading
from loadtests.harness.procs import LineClient
from loadtests.harness.redis_keys import drop_keys
from rooms.redis_broker import RedisBroker

MESSAGE_BYTES = 100


@dataclass
class FanoutFigures:
    """What a round measured in the fan-out room; each benchmark adds its own fields."""

    # The subclass's own fields that lead its JSON record (they are declared after these).
    LEAD: ClassVar[tuple[str, ...]] = ()

    connected: int = 0
    connect_failed: int = 0
    connect_s: float = 0.0
    published: int = 0
    publish_errors: int = 0
    publisher_max_lag_ms: float = 0.0
    expected: int = 0
    received: int = 0
    loss: float = 0.0
    closed: int = 0
    out_of_order: int = 0
    deliveries_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        return {**{k: d[k] for k in self.LEAD}, **d}


# -- publisher ------------------------------------------------------------------------


def _payload(intended_ns: int, seq: int) -> bytes:
    head = b'{"t":%d,"seq":%d,"pad":"' % (intended_ns, seq)
    return head + b"x" * max(0, MESSAGE_BYTES - len(head) - 2) + b'"}'


async def publish_open_loop(broker: Any, room: str, rate: float, duration: float,
                            first_seq: int = 0) -> tuple[int, int, int, float]:
    """Publish ``rate * duration`` messages through ``broker`` on an open-loop schedule,
    numbered from ``first_seq`` (a later window on the same subscribers goes on counting).

    Returns (first intended ns, published, errors, max lag of the actual send
    behind the schedule in ms). Each publish runs as its own task, so a slow
    Redis call never delays the next scheduled one.
    """
    count = max(1, round(rate * duration))
    interval_ns = 1e9 / rate
    start = time.time_ns() + 50_000_000
    tasks: list[asyncio.Task[Any]] = []
    max_lag = 0
    for k in range(count):
        intended = start + int(k * interval_ns)
        delay = intended - time.time_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        max_lag = max(max_lag, time.time_ns() - intended)
        tasks.append(asyncio.create_task(broker.publish(room, _payload(intended,
                                                                       first_seq + k))))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = sum(isinstance(r, BaseException) for r in results)
    return start, count - errors, errors, max_lag / 1e6


@contextlib.asynccontextmanager
async def publisher(redis_url: str, prefix: str) -> AsyncIterator[RedisBroker]:
    """The hub's own broker, connected and its Lua script loaded; the prefix's keys dropped
    afterwards."""
    broker = RedisBroker(redis_url, prefix=prefix)
    try:
        await broker.publish(f"org:{uuid.uuid4()}", b"{}")  # on a room nobody watches
        yield broker
    finally:
        await broker.close()
        await drop_keys(redis_url, prefix)


async def publish(res: FanoutFigures, broker: RedisBroker, room: str, rate: float,
                  duration: float, first_seq: int = 0) -> int:
    """Publish the round's messages; returns the first intended send time, ns."""
    first_ns, res.published, res.publish_errors, res.publisher_max_lag_ms = (
        await publish_open_loop(broker, room, rate, duration, first_seq))
    res.expected = res.connected * res.published
    return first_ns


# -- subscribers ----------------------------------------------------------------------


class SubscriberFleet:
    """A round's subscribers: ``ceil(n / --per-process)`` client processes on the client
    core, each from its own loopback source address."""

    def __init__(self) -> None:
        self.clients: list[LineClient] = []

    async def connect(self, res: FanoutFigures, *, n: int, mode: str, port: int, room: str,
                      org: str, secret: str, args: argparse.Namespace, logdir: Path,
                      tag: str) -> list[str]:
        """Start the processes and wait until each has opened its share; returns their
        connection errors."""
        procs = max(1, math.ceil(n / args.per_process))
        counts = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        t0 = time.monotonic()
        for i, count in enumerate(counts):
            cmd = [sys.executable, "-m", "loadtests.fanout_client", "--port", str(port),
                   "--mode", mode, "--count", str(count), "--index", str(i),
                   "--source-ip", f"127.0.0.{2 + i % 250}",
                   "--concurrency", str(args.concurrency), "--room", room, "--org", org,
                   "--impl", args.client_impl]
            self.clients.append(await LineClient.start(
                cmd, env=dict(os.environ, HUB_SECRET=secret), core=args.client_core,
                log=logdir / f"{tag}-client{i}.log"))
        ready = await asyncio.gather(*(c.read(wait_s=60 + n / 20) for c in self.clients))
        res.connect_s = time.monotonic() - t0
        res.connected = sum(r["connected"] for r in ready)
        res.connect_failed = sum(r["failed"] for r in ready)
        errors = [e for r in ready for e in r["errors"]]
        if res.connected == 0:
            raise RuntimeError(f"no subscriber connected: {errors[:3]}")
        return errors

    def cpu_s(self) -> float:
        return sum(c.cpu_s() for c in self.clients)

    async def drain(self, expected: int, args: argparse.Namespace,
                    mark: Callable[[], Awaitable[CpuReading]]) -> tuple[float, CpuReading]:
        """Call right after the last publish. Polls until every expected delivery arrived,
        or none for ``--drain-idle`` s, or ``--drain-max`` s. Returns the seconds from the
        call to the last poll that saw progress, and ``mark()`` taken at that poll."""
        t_pub_end = time.monotonic()
        last_total, last_change = -1, t_pub_end
        reading = await mark()
        while True:
            counts = await asyncio.gather(*(c.ask("count") for c in self.clients))
            total = sum(x["received"] for x in counts)
            now = time.monotonic()
            if total != last_total:
                last_total, last_change = total, now
                reading = await mark()
            if (total >= expected or now - last_change >= args.drain_idle
                    or now - t_pub_end >= args.drain_max):
                break
            await asyncio.sleep(0.25)
        return last_change - t_pub_end, reading

    async def collect(self, res: FanoutFigures, *, first_ns: int, rate: float,
                      more: bool = False) -> None:
        """Merge the processes' histograms (receive - intended time, µs) into ``res``.
        With ``more`` the processes zero their figures and keep their connections for
        another window; without, they exit."""
        command = "window" if more else "report"
        reports = await asyncio.gather(*(c.ask(command) for c in self.clients))
        hist = new_histogram()
        for r in reports:
            hist.decode_and_add(r["hist"].encode("ascii"))
        res.received = sum(r["received"] for r in reports)
        res.closed = sum(r["closed"] for r in reports)
        res.out_of_order = sum(r["out_of_order"] for r in reports)
        last_ns = max(r["last_ns"] for r in reports)
        res.loss = 1 - res.received / res.expected if res.expected else 0.0
        if res.received:
            # Over the publish window, or until the last delivery if the server lagged.
            window = max(res.published / rate, (last_ns - first_ns) / 1e9)
            res.deliveries_per_s = res.received / window
            res.p50_ms = percentile_ms(hist, 50)
            res.p99_ms = percentile_ms(hist, 99)
            res.max_ms = hist.get_max_value() / 1000

    async def stop(self) -> None:
        """They exit by themselves after ``report``; this is for rounds cut short."""
        await asyncio.gather(*(c.stop() for c in self.clients))


def percentile_ms(hist: HdrHistogram, pct: float) -> float:
    return float(hist.get_value_at_percentile(pct)) / 1000


def add_load_arguments(parser: argparse.ArgumentParser, *, client_impl_default: str) -> None:
    """The options both benchmarks take: where things run, how subscribers connect and
    drain, and where results go."""
    parser.add_argument("--redis-url",
                        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    numbers: tuple[tuple[str, type, float, str | None], ...] = (
        ("--server-core", int, 0, None),
        ("--client-core", int, 1, "core for the client processes and this publisher"),
        ("--per-process", int, 1250, "subscribers per client process"),
        ("--concurrency", int, 200, "concurrent handshakes per client process"),
        ("--settle", float, 1.0, "seconds to let a server settle before each RSS reading"),
        ("--drain-idle", float, 2.0, "stop draining after this many seconds without a delivery"),
        ("--drain-max", float, 20.0, "stop draining this many seconds after the last publish"),
        ("--noise-warn", float, 0.15,
         "warn when other processes used more than this share of a core"))
    for flag, kind, default, text in numbers:
        parser.add_argument(flag, type=kind, default=kind(default), help=text)
    parser.add_argument("--client-impl", choices=["websockets", "raw"],
                        default=client_impl_default,
                        help="fan-out subscriber implementation: the websockets asyncio "
                             "client, or the lean hand-rolled RawSubscriber (more deliveries "
                             "per core)")
    parser.add_argument("--keepalive", action="store_true",
                        help="keep the hub's default keepalive pings (off by default)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON + PNG")
