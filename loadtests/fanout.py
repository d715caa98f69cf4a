"""Fan-out benchmark: the hub against a minimal ``websockets.broadcast()`` baseline.

For every (subscribers N, rate) configuration it runs interleaved rounds
(hub, baseline, hub, baseline, ...), each against a freshly started server:

1. Start the server pinned to the server core (default 0) with a unique Redis
   key prefix and room. The hub is ``python -m hub run``; the baseline is
   ``loadtests/baseline_server.py``. Wait for ``GET /ready``, let it settle
   ~1 s and read its RSS.
2. Open N subscribers to one room from ``ceil(N / --per-process)`` client
   processes pinned to the client core (default 1), each from its own
   loopback source address, at most ``--concurrency`` handshakes at a time
   per process. Settle ~1 s and read the RSS again: (after - before) / N is
   the RSS per idle connection.
3. Publish open-loop from this process: message k is scheduled at
   ``start + k / rate`` and stamped with that *intended* time, however late
   the previous publish was, through the hub's own ``RedisBroker.publish``
   (history + PUBLISH in one Lua script), ~100-byte JSON each.
4. Wait for the deliveries to drain (all expected, or no progress for
   ``--drain-idle`` s, or ``--drain-max`` s), then collect each client
   process's HdrHistogram of (receive time - intended time) and merge them.

Per round it reports deliveries/s (received / the longer of the publish
window and first intended send .. last delivery), loss (1 - received /
(connected x published)), p50/p99/max latency, server CPU-us per delivery
(utime+stime of the server process over publish + drain, divided by
deliveries) and RSS per idle connection. Per configuration it prints the
median over rounds for each server and the hub/baseline ratios, then writes
``loadtests/results/fanout-<timestamp>.json`` and ``.png``.

Everything runs on loopback, with bounded counts and time limits, and stops
by itself. Keepalive pings are quieted on both servers (``--keepalive`` keeps
the hub's default) so that only fan-out work is measured.

Run from the repo root with the venv active::

    python -m loadtests.fanout --quick --servers baseline   # ~15 s smoke run
    python -m loadtests.fanout                              # full matrix, ~10 min
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: python loadtests/fanout.py
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
import uvloop  # noqa: E402
from hdrh.histogram import HdrHistogram  # noqa: E402

from loadtests.fanout_client import new_histogram  # noqa: E402

RESULTS = REPO / "loadtests" / "results"
SERVERS = ("hub", "baseline")
MESSAGE_BYTES = 100


# -- results ------------------------------------------------------------------------


@dataclass
class RoundResult:
    server: str
    subscribers: int
    rate: float
    round: int
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
    server_cpu_s: float = 0.0
    server_core_util: float = 0.0  # server CPU / (publish + drain) wall time
    client_core_util: float = 0.0  # all client processes' CPU / the same wall time
    other_core_util: float = 0.0  # everything else on the box (other jobs, redis, softirq)
    cpu_us_per_delivery: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    rss_per_conn_kb: float = 0.0
    drain_s: float = 0.0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


METRICS = ("deliveries_per_s", "loss", "p50_ms", "p99_ms", "max_ms", "cpu_us_per_delivery",
           "rss_per_conn_kb")


# -- processes --------------------------------------------------------------------------


def _pin(core: int | None) -> Callable[[], None] | None:
    if core is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {core})

    return pin


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _http_status(port: int, path: str) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class Server:
    """One server process (hub or baseline) on the server core."""

    def __init__(self, kind: str, *, port: int, prefix: str, room: str, secret: str,
                 args: argparse.Namespace, log: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.kind, self.port, self.log = kind, port, log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if kind == "hub":
            cmd = [sys.executable, "-m", "hub", "run", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning"]
            env.update(REDIS_URL=args.redis_url, HUB_REDIS_PREFIX=prefix, HUB_SECRET=secret,
                       HUB_API_KEY=secrets.token_hex(16), HUB_SHUTDOWN_TIMEOUT="1",
                       # Fan-out needs no Postgres: no embedded server, no pool, no migrations.
                       DATABASE_URL="", HUB_EMBEDDED_PG="0",
                       # Every benchmark client connects from 127.0.0.1: no per-address cap.
                       HUB_MAX_CONNECTIONS_PER_ADDRESS="0")
            if not args.keepalive:
                env["HUB_PING_INTERVAL"] = "3600"  # no ping waves inside the measurement
        else:
            cmd = [sys.executable, "-m", "loadtests.baseline_server", "--port", str(port),
                   "--redis-url", args.redis_url, "--prefix", prefix, "--room", room]
        env.update(extra_env or {})  # e.g. loadtests/persist.py: DATABASE_URL, rate limits
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     preexec_fn=_pin(args.server_core))
        self.ps = psutil.Process(self.proc.pid)

    async def wait_ready(self, wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; "
                                   f"see {self.log}:\n{self.tail()}")
            with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError, IndexError):
                if await _http_status(self.port, "/ready") == 200:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.kind} not ready after {wait_s:.0f} s; see {self.log}")

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def tail(self, n: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    async def stop(self) -> None:
        """SIGTERM, so the server can clean up after itself; SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, 10)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self._log_file.close()


class Client:
    """One subscriber process (``loadtests/fanout_client.py``) on the client core."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ps = psutil.Process(proc.pid)

    def cpu_s(self) -> float:
        with contextlib.suppress(psutil.Error):
            t = self.ps.cpu_times()
            return float(t.user + t.system)
        return 0.0

    @classmethod
    async def start(cls, *, index: int, count: int, server: str, port: int, room: str,
                    org: str, secret: str, args: argparse.Namespace, log: Path) -> Client:
        cmd = [sys.executable, "-m", "loadtests.fanout_client", "--port", str(port),
               "--mode", server, "--count", str(count), "--index", str(index),
               "--source-ip", f"127.0.0.{2 + index % 250}",
               "--concurrency", str(args.concurrency), "--room", room, "--org", org,
               "--impl", args.client_impl]
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=REPO, env=dict(os.environ, HUB_SECRET=secret),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                preexec_fn=_pin(args.client_core), limit=1 << 22)
        return cls(proc)

    async def read(self, wait_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), wait_s)
        if not line:
            raise RuntimeError(f"client process {self.proc.pid} exited "
                               f"(code {await self.proc.wait()})")
        obj: dict[str, Any] = json.loads(line)
        return obj

    async def ask(self, command: str, wait_s: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.read(wait_s)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 10)


# -- publisher ------------------------------------------------------------------------


def _payload(intended_ns: int, seq: int) -> bytes:
    head = b'{"t":%d,"seq":%d,"pad":"' % (intended_ns, seq)
    return head + b"x" * max(0, MESSAGE_BYTES - len(head) - 2) + b'"}'


async def publish_open_loop(broker: Any, room: str, rate: float,
                            duration: float) -> tuple[int, int, int, float]:
    """Publish ``rate * duration`` messages through ``broker`` on an open-loop schedule.

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
        tasks.append(asyncio.create_task(broker.publish(room, _payload(intended, k))))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = sum(isinstance(r, BaseException) for r in results)
    return start, count - errors, errors, max_lag / 1e6


# -- one round --------------------------------------------------------------------------


async def run_round(server_kind: str, n: int, rate: float, rnd: int,
                    args: argparse.Namespace, logdir: Path) -> RoundResult:
    res = RoundResult(server=server_kind, subscribers=n, rate=rate, round=rnd)
    wall0 = time.monotonic()
    tag = f"{server_kind}-n{n}-r{rate:g}-{rnd}"
    prefix = f"lhbench:{args.run_id}:{tag}"
    org = str(uuid.uuid4())
    room = f"org:{org}"
    secret = secrets.token_hex(24)
    port = _free_port()
    log = logdir / f"{tag}.log"
    from rooms.redis_broker import RedisBroker

    broker = RedisBroker(args.redis_url, prefix=prefix)
    server = Server(server_kind, port=port, prefix=prefix, room=room, secret=secret,
                    args=args, log=log)
    clients: list[Client] = []
    try:
        # Connect the publisher and load its Lua script, on a room nobody watches.
        await broker.publish(f"org:{uuid.uuid4()}", b"{}")
        await server.wait_ready()
        await asyncio.sleep(args.settle)
        rss0 = server.rss()

        procs = max(1, math.ceil(n / args.per_process))
        counts = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        t0 = time.monotonic()
        clients = [await Client.start(index=i, count=c, server=server_kind, port=port,
                                      room=room, org=org, secret=secret, args=args,
                                      log=logdir / f"{tag}-client{i}.log")
                   for i, c in enumerate(counts)]
        ready = await asyncio.gather(*(c.read(wait_s=60 + n / 20) for c in clients))
        res.connect_s = time.monotonic() - t0
        res.connected = sum(r["connected"] for r in ready)
        res.connect_failed = sum(r["failed"] for r in ready)
        for r in ready:
            res.errors.extend(r["errors"])
        if res.connected == 0:
            raise RuntimeError(f"no subscriber connected: {res.errors[:3]}")
        await asyncio.sleep(args.settle)
        rss1 = server.rss()
        res.rss_before_mb = rss0 / 2**20
        res.rss_after_mb = rss1 / 2**20
        res.rss_per_conn_kb = (rss1 - rss0) / 1024 / res.connected

        (cpu0, ccpu0, box0, self0), t_cpu0 = _marks(server, clients), time.monotonic()
        first_ns, res.published, res.publish_errors, res.publisher_max_lag_ms = (
            await publish_open_loop(broker, room, rate, args.duration))
        res.expected = res.connected * res.published

        # Drain: until everything arrived, or no progress for drain_idle s, or drain_max s.
        t_pub_end = time.monotonic()
        last_total, last_change = -1, t_pub_end
        cpu1, ccpu1, box1, self1 = _marks(server, clients)
        while True:
            counts_now = await asyncio.gather(*(c.ask("count") for c in clients))
            total = sum(x["received"] for x in counts_now)
            now = time.monotonic()
            if total != last_total:
                last_total, last_change = total, now
                cpu1, ccpu1, box1, self1 = _marks(server, clients)
            if (total >= res.expected or now - last_change >= args.drain_idle
                    or now - t_pub_end >= args.drain_max):
                break
            await asyncio.sleep(0.25)
        res.drain_s = last_change - t_pub_end

        reports = await asyncio.gather(*(c.ask("report") for c in clients))
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
            res.server_cpu_s = cpu1 - cpu0
            busy = max(last_change - t_cpu0, 1e-9)
            res.server_core_util = res.server_cpu_s / busy
            res.client_core_util = (ccpu1 - ccpu0) / busy
            ours = res.server_cpu_s + (ccpu1 - ccpu0) + (self1 - self0)
            res.other_core_util = max(0.0, (box1 - box0) - ours) / busy
            res.cpu_us_per_delivery = res.server_cpu_s * 1e6 / res.received
            res.p50_ms = _pct(hist, 50)
            res.p99_ms = _pct(hist, 99)
            res.max_ms = hist.get_max_value() / 1000
    finally:
        await asyncio.gather(*(c.stop() for c in clients))  # they exit after "report"
        await server.stop()
        await broker.close()
        await _drop_keys(args.redis_url, prefix)
    res.wall_s = time.monotonic() - wall0
    return res


def _marks(server: Server, clients: Sequence[Client]) -> tuple[float, float, float, float]:
    """CPU seconds so far: server, clients, whole machine (busy, all cores), this process."""
    box = psutil.cpu_times()
    me = psutil.Process().cpu_times()
    busy = (box.user + box.nice + box.system + getattr(box, "irq", 0.0)
            + getattr(box, "softirq", 0.0) + getattr(box, "steal", 0.0))
    return (server.cpu_s(), sum(c.cpu_s() for c in clients), float(busy),
            float(me.user + me.system))


def _pct(hist: HdrHistogram, pct: float) -> float:
    return float(hist.get_value_at_percentile(pct)) / 1000


async def _drop_keys(redis_url: str, prefix: str) -> None:
    with contextlib.suppress(Exception):
        r = aioredis.Redis.from_url(redis_url)
        try:
            keys = [k async for k in r.scan_iter(match=f"{prefix}:*", count=1000)]
            if keys:
                await r.delete(*keys)
        finally:
            await r.aclose()


# -- summary --------------------------------------------------------------------------


def summarize(results: Sequence[RoundResult], configs: Sequence[tuple[int, float]],
              servers: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, rate in configs:
        entry: dict[str, Any] = {"subscribers": n, "rate": rate, "servers": {}, "ratio": {}}
        for s in servers:
            rs = [r for r in results if (r.subscribers, r.rate, r.server) == (n, rate, s)
                  and r.received]
            if not rs:
                continue
            entry["servers"][s] = {
                "rounds": len(rs),
                **{m: statistics.median(getattr(r, m) for r in rs) for m in METRICS},
                "min": {m: min(getattr(r, m) for r in rs) for m in METRICS},
                "max": {m: max(getattr(r, m) for r in rs) for m in METRICS},
            }
        hub, base = entry["servers"].get("hub"), entry["servers"].get("baseline")
        if hub and base:
            for m in METRICS:
                entry["ratio"][m] = hub[m] / base[m] if base[m] else None
        out.append(entry)
    return out


def _fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def print_table(summary: Sequence[dict[str, Any]]) -> None:
    cols = ("config", "server", "deliv/s", "loss", "p50 ms", "p99 ms", "max ms",
            "CPU us/deliv", "KB/conn")
    widths = (14, 9, 9, 8, 8, 8, 8, 12, 8)
    line = "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
    print("\n" + line + "\n" + "-" * len(line))
    for e in summary:
        cfg = f"N={e['subscribers']} @{e['rate']:g}/s"
        for s, m in e["servers"].items():
            row = (cfg, s, f"{m['deliveries_per_s']:,.0f}", f"{m['loss']:.2%}",
                   f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", f"{m['max_ms']:.1f}",
                   f"{m['cpu_us_per_delivery']:.1f}", f"{m['rss_per_conn_kb']:.1f}")
            print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
            cfg = ""
        if e["ratio"]:
            r = e["ratio"]
            row = ("", "hub/base", _fmt_ratio(r["deliveries_per_s"]), _fmt_ratio(r["loss"]),
                   _fmt_ratio(r["p50_ms"]), _fmt_ratio(r["p99_ms"]), _fmt_ratio(r["max_ms"]),
                   _fmt_ratio(r["cpu_us_per_delivery"]), _fmt_ratio(r["rss_per_conn_kb"]))
            print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
        print()


def plot(summary: Sequence[dict[str, Any]], servers: Sequence[str], path: Path,
         title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    labels = [f"N={e['subscribers']}\n{e['rate']:g} msg/s" for e in summary]
    panels = (("cpu_us_per_delivery", "server CPU µs per delivery", False, 1.0),
              ("p99_ms", "p99 latency, ms (log)", True, 1.0),
              ("p50_ms", "p50 latency, ms (log)", True, 1.0),
              ("deliveries_per_s", "deliveries per second", False, 1.0),
              ("loss", "loss, %", False, 100.0),
              ("rss_per_conn_kb", "RSS per idle connection, KB", False, 1.0))
    colors = {"hub": "#1f77b4", "baseline": "#ff7f0e"}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    width = 0.7 / max(2, len(servers))
    tops: dict[str, float] = {}
    for ax, (metric, ylabel, log, scale) in zip(axes.flat, panels, strict=True):
        for i, s in enumerate(servers):
            xs, ys, lo, hi = [], [], [], []
            for j, e in enumerate(summary):
                m = e["servers"].get(s)
                if m is None:
                    continue
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(m[metric] * scale)
                lo.append((m[metric] - m["min"][metric]) * scale)
                hi.append((m["max"][metric] - m[metric]) * scale)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=s, color=colors.get(s))
            tops[metric] = max([tops.get(metric, 0.0), *(y + h for y, h in zip(ys, hi,
                                                                              strict=True))])
            for x, y in zip(xs, ys, strict=True):
                ax.annotate(f"{y:,.0f}" if y >= 100 else f"{y:.3g}", (x, y), ha="center",
                            va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(range(len(summary)), labels, fontsize=8)
        ax.set_xlim(-0.6, len(summary) - 0.4)
        ax.set_title(ylabel, fontsize=10)
        if log:
            ax.set_yscale("log")
            values = [h.get_height() for h in ax.patches if h.get_height() > 0]
            if values:  # start at a decade below, so bars and tick labels read right
                ax.set_ylim(10 ** math.floor(math.log10(min(values))), tops[metric] * 2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        elif metric == "loss":
            ax.set_ylim(0, max([1.0, *(h.get_height() * 1.2 for h in ax.patches)]))
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend()
    fig.suptitle(title + "\nmedian of rounds; whiskers = min..max", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fan-out benchmark: livehub vs websockets.broadcast() baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--subscribers", type=_csv(int), default=None,
                        help="comma-separated N values (default 1000,5000; quick: 200)")
    parser.add_argument("--rates", type=_csv(float), default=None,
                        help="comma-separated publish rates, msg/s (default 2,20; quick: 20)")
    parser.add_argument("--duration", type=float, default=None,
                        help="publish seconds per round (default 10; quick: 3)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per server and config (default 3; quick: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: N=200, 20 msg/s, 3 s, 1 round")
    parser.add_argument("--servers", type=_csv(str), default=list(SERVERS),
                        help="which servers, in round order: hub,baseline")
    parser.add_argument("--redis-url",
                        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1,
                        help="core for client processes and this publisher")
    parser.add_argument("--per-process", type=int, default=1250,
                        help="subscribers per client process")
    parser.add_argument("--concurrency", type=int, default=200,
                        help="concurrent handshakes per client process")
    parser.add_argument("--client-impl", choices=["websockets", "raw"], default="websockets",
                        help="subscriber implementation: the websockets asyncio client, or "
                             "the lean hand-rolled RawSubscriber (more deliveries per core)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds to let a server settle before each RSS reading")
    parser.add_argument("--drain-idle", type=float, default=2.0,
                        help="stop draining after this many seconds without a delivery")
    parser.add_argument("--drain-max", type=float, default=20.0,
                        help="stop draining this many seconds after the last publish")
    parser.add_argument("--noise-warn", type=float, default=0.15,
                        help="warn when other processes used more than this share of a core")
    parser.add_argument("--keepalive", action="store_true",
                        help="keep the hub's default keepalive pings (off by default)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON + PNG")
    args = parser.parse_args(argv)
    quick = args.quick
    args.subscribers = args.subscribers or ([200] if quick else [1000, 5000])
    args.rates = args.rates or ([20.0] if quick else [2.0, 20.0])
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.rounds = args.rounds or (1 if quick else 3)
    unknown = set(args.servers) - set(SERVERS)
    if unknown or not args.servers:
        parser.error(f"--servers takes hub and/or baseline, not {sorted(unknown)}")
    if max(args.subscribers) > 15000:
        parser.error("at most 15000 subscribers (ulimit -n is 20000 per process)")
    if args.duration > 120 or args.rounds > 10 or max(args.rates) > 1000:
        parser.error("bounded runs only: --duration <= 120, --rounds <= 10, --rates <= 1000")
    args.run_id = time.strftime("%Y%m%d-%H%M%S")
    return args


async def amain(args: argparse.Namespace) -> int:
    if "hub" in args.servers and not (REPO / "hub" / "cli.py").exists():
        print("hub/cli.py not found: run with --servers baseline", file=sys.stderr)
        return 2
    r = aioredis.Redis.from_url(args.redis_url)
    try:
        await r.ping()
    finally:
        await r.aclose()
    with contextlib.suppress(OSError):  # this process publishes from the client core
        os.sched_setaffinity(0, {args.client_core})

    configs = [(n, rate) for n in args.subscribers for rate in args.rates]
    plan = [(n, rate, rnd, s) for n, rate in configs for rnd in range(1, args.rounds + 1)
            for s in args.servers]
    logdir = Path(tempfile.mkdtemp(prefix=f"livehub-fanout-{args.run_id}-"))
    print(f"fanout {args.run_id}: {len(plan)} rounds, servers {','.join(args.servers)}, "
          f"{args.duration:g} s publish each; server core {args.server_core}, "
          f"clients core {args.client_core}; logs in {logdir}", flush=True)
    results: list[RoundResult] = []
    started = time.monotonic()
    for i, (n, rate, rnd, s) in enumerate(plan, 1):
        head = f"[{i:>2}/{len(plan)}] N={n:<5} {rate:>4g}/s {s:<8} r{rnd}"
        try:
            res = await run_round(s, n, rate, rnd, args, logdir)
        except Exception as exc:  # one failed round is reported, not fatal
            res = RoundResult(server=s, subscribers=n, rate=rate, round=rnd,
                              errors=[f"{type(exc).__name__}: {exc}"[:2000]])
            lines = res.errors[0].strip().splitlines()
            print(f"{head}  FAILED {lines[0]}" + (f" ... {lines[-1]}" if len(lines) > 1 else ""),
                  flush=True)
            results.append(res)
            continue
        results.append(res)
        extra = (f" closed={res.closed}" if res.closed else "") + (
            f" failed={res.connect_failed}" if res.connect_failed else "")
        print(f"{head}  conn {res.connected} in {res.connect_s:.1f}s  pub {res.published}  "
              f"{res.deliveries_per_s:>8,.0f} deliv/s  loss {res.loss:6.2%}  "
              f"p50 {res.p50_ms:7.1f}  p99 {res.p99_ms:7.1f}  max {res.max_ms:7.1f} ms  "
              f"cpu {res.cpu_us_per_delivery:5.1f} us/deliv  "
              f"rss {res.rss_per_conn_kb:5.1f} KB/conn  "
              f"core use srv {res.server_core_util:.0%} cli {res.client_core_util:.0%} "
              f"other {res.other_core_util:.0%}  "
              f"({res.wall_s:.0f}s){extra}",
              flush=True)

    _prune_logs(logdir)
    summary = summarize(results, configs, args.servers)
    print_table(summary)
    noisy = [r for r in results if r.other_core_util > args.noise_warn]
    if noisy:
        print(f"WARNING: {len(noisy)} round(s) shared the machine with other work "
              f"(other core use > {args.noise_warn:.0%}, max "
              f"{max(r.other_core_util for r in noisy):.0%}); rerun on a quiet machine.")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"fanout-{args.run_id}"
    doc = {
        "run_id": args.run_id,
        "wall_s": round(time.monotonic() - started, 1),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "platform": platform.platform(),
                 "websockets": _version("websockets"), "redis": _version("redis")},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "message_bytes": MESSAGE_BYTES,
        "summary": summary,
        "rounds": [asdict(r) for r in results],
    }
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    if summary and any(e["servers"] for e in summary):
        plot(summary, args.servers, stem.with_suffix(".png"),
             f"livehub fan-out {args.run_id}: {args.duration:g} s per round, "
             f"{args.rounds} round(s), ~{MESSAGE_BYTES} B messages")
    print(f"wrote {stem}.json and .png ({time.monotonic() - started:.0f} s total)")
    return 0 if all(r.received for r in results) else 1


def _prune_logs(logdir: Path) -> None:
    """Keep only logs with something in them; drop the folder when none are left."""
    for f in logdir.iterdir():
        if f.stat().st_size == 0:
            f.unlink()
    with contextlib.suppress(OSError):
        logdir.rmdir()  # only succeeds when empty


def _version(dist: str) -> str:
    from importlib.metadata import version

    try:
        return version(dist)
    except Exception:
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return uvloop.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
