"""Workers benchmark: fan-out from one hub process against ``HUB_WORKERS=2``, side by side.

Per round, a freshly started ``python -m hub run`` with ``HUB_WORKERS`` = 1 or 2
(interleaved: w1, w2, w1, w2, ...), the same load as ``fanout.py``: N subscribers
in one room from ``fanout_client.py`` processes (each from its own loopback source
address), fed open-loop through the hub's own ``RedisBroker`` at ``--rate`` msg/s.
The offered load (N x rate) is meant to be more than one process can deliver, so
deliveries/s measures capacity.

Nothing is pinned by default (``--pin`` pins as ``fanout.py`` does): two workers
need both cores, and so do the clients. That is the limit on a small box: the
report shows every party's core use over the measured window (the hub's
supervisor and workers together, the client processes, this publisher, and
everything else), and the hub's CPU per delivery, which says what the workers
would deliver with the cores to themselves.

    python -m loadtests.workers --quick            # smoke: N=400, 20 msg/s, 3 s, 1 round
    python -m loadtests.workers                    # N=4000, 50 msg/s, 8 s, 3 rounds (~3 min)
    python -m loadtests.workers --client-impl websockets
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: python loadtests/workers.py
    sys.path.insert(0, str(REPO))

import uvloop  # noqa: E402

from loadtests import fanout_load as load  # noqa: E402
from loadtests.harness import cpu, hub, procs, redis_keys, report, rounds, stats  # noqa: E402

KINDS = {"w1": 1, "w2": 2}


class Fleet(load.SubscriberFleet):
    """``fanout_load``'s subscriber processes, running ``client_module`` (``--batched``:
    ``loadtests.workers_client``, which reads each socket at most once per batch)."""

    def __init__(self, client_module: str) -> None:
        super().__init__()
        self.client_module = client_module

    async def connect(self, res: load.FanoutFigures, *, n: int, mode: str, port: int,
                      room: str, org: str, secret: str, args: argparse.Namespace,
                      logdir: Path, tag: str) -> list[str]:
        procs_n = max(1, math.ceil(n / args.per_process))
        counts = [n // procs_n + (1 if i < n % procs_n else 0) for i in range(procs_n)]
        t0 = time.monotonic()
        env = dict(os.environ, HUB_SECRET=secret, WORKERS_CLIENT_BATCH_MS=str(args.batch_ms),
                   WORKERS_CLIENT_SAMPLE=str(args.sample))
        for i, count in enumerate(counts):
            cmd = [sys.executable, "-m", self.client_module, "--port", str(port),
                   "--mode", mode, "--count", str(count), "--index", str(i),
                   "--source-ip", f"127.0.0.{2 + i % 250}",
                   "--concurrency", str(args.concurrency), "--room", room, "--org", org,
                   "--impl", args.client_impl]
            self.clients.append(await procs.LineClient.start(
                cmd, env=env, core=args.client_core, log=logdir / f"{tag}-client{i}.log"))
        ready = await asyncio.gather(*(c.read(wait_s=60 + n / 20) for c in self.clients))
        res.connect_s = time.monotonic() - t0
        res.connected = sum(r["connected"] for r in ready)
        res.connect_failed = sum(r["failed"] for r in ready)
        errors = [e for r in ready for e in r["errors"]]
        if res.connected == 0:
            raise RuntimeError(f"no subscriber connected: {errors[:3]}")
        return errors


@dataclass(kw_only=True)
class RoundResult(load.FanoutFigures):
    LEAD = ("kind", "workers", "subscribers", "rate", "round")

    kind: str
    workers: int
    subscribers: int
    rate: float
    round: int
    server_core_util: float = 0.0  # supervisor + workers, cores over publish + drain
    client_core_util: float = 0.0  # all subscriber processes
    harness_core_util: float = 0.0  # this process: the publisher
    other_core_util: float = 0.0  # redis-server, softirq, other jobs
    idle_cores: float = 0.0  # os.cpu_count() minus everything above
    cpu_us_per_delivery: float = 0.0  # hub CPU (all its processes) / deliveries
    client_cpu_us_per_delivery: float = 0.0
    rss_mb: float = 0.0  # supervisor + workers with N subscribed
    drain_s: float = 0.0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


METRICS = ("deliveries_per_s", "loss", "p50_ms", "p99_ms", "cpu_us_per_delivery",
           "client_cpu_us_per_delivery", "server_core_util", "client_core_util",
           "harness_core_util", "other_core_util", "idle_cores")


async def run_round(kind: str, rnd: int, args: argparse.Namespace,
                    logdir: Path) -> RoundResult:
    n, rate = args.subscribers, args.rate
    res = RoundResult(kind=kind, workers=KINDS[kind], subscribers=n, rate=rate, round=rnd)
    wall0 = time.monotonic()
    tag = f"{kind}-{rnd}"
    prefix = f"lhbench:{args.run_id}:{tag}"
    org = str(uuid.uuid4())
    room = f"org:{org}"
    secret = secrets.token_hex(24)
    port = procs.free_port()
    async with load.publisher(args.redis_url, prefix) as broker:
        server = hub.start_hub(kind, port=port, redis_url=args.redis_url, prefix=prefix,
                               secret=secret, log=logdir / f"{tag}.log",
                               core=args.server_core, keepalive=args.keepalive,
                               env={"HUB_WORKERS": str(res.workers), "HUB_DRAIN_SECONDS": "0"})
        fleet = Fleet("loadtests.workers_client" if args.batched else "loadtests.fanout_client")
        try:
            await server.wait_ready()
            await procs.wait_listeners(server.ps, port, res.workers)
            await asyncio.sleep(args.settle)
            res.errors.extend(await fleet.connect(
                res, n=n, mode="hub", port=port, room=room, org=org, secret=secret,
                args=args, logdir=logdir, tag=tag))
            await asyncio.sleep(args.settle)
            res.rss_mb = procs.tree_rss(server.ps) / 2**20

            async def mark() -> cpu.CpuReading:
                return cpu.read_cpu({"server": procs.tree_cpu_s(server.ps),
                                     "clients": fleet.cpu_s()})

            m0 = await mark()
            first_ns = await load.publish(res, broker, room, rate, args.duration)
            res.drain_s, m1 = await fleet.drain(res.expected, args, mark)
            await fleet.collect(res, first_ns=first_ns, rate=rate)
            if res.received:
                w = cpu.cpu_window(m0, m1)
                res.server_core_util = w.use("server")
                res.client_core_util = w.use("clients")
                res.other_core_util = w.use("other")
                res.harness_core_util = (m1.me - m0.me) / w.wall_s
                res.idle_cores = max(0.0, args.cores - res.server_core_util
                                     - res.client_core_util - res.other_core_util
                                     - res.harness_core_util)
                res.cpu_us_per_delivery = w.cpu_s["server"] * 1e6 / res.received
                res.client_cpu_us_per_delivery = w.cpu_s["clients"] * 1e6 / res.received
        finally:
            await fleet.stop()
            await server.stop()
    res.wall_s = time.monotonic() - wall0
    return res


def progress_line(res: RoundResult) -> str:
    return (f"conn {res.connected}  pub {res.published}  "
            f"{res.deliveries_per_s:>8,.0f} deliv/s  loss {res.loss:6.2%}  "
            f"p50 {res.p50_ms:7.1f}  p99 {res.p99_ms:7.1f} ms  "
            f"hub {res.cpu_us_per_delivery:4.1f} us/deliv  "
            f"cores: hub {res.server_core_util:.2f} clients {res.client_core_util:.2f} "
            f"publisher {res.harness_core_util:.2f} other {res.other_core_util:.2f} "
            f"idle {res.idle_cores:.2f}  ({res.wall_s:.0f}s)")


def summarize(results: Sequence[RoundResult], kinds: Sequence[str],
              quiet_below: float) -> dict[str, Any]:
    """Medians per kind and w2/w1, over every round and over the quiet ones only (other
    work on the box under ``quiet_below`` of a core): on a shared box, the latter."""
    def medians(rs: Sequence[RoundResult]) -> dict[str, Any]:
        entry: dict[str, Any] = {"servers": {}, "ratio": {}}
        for k in kinds:
            mine = [r for r in rs if r.kind == k and r.received]
            if mine:
                entry["servers"][k] = stats.spread(mine, METRICS)
        a, b = entry["servers"].get("w2"), entry["servers"].get("w1")
        if a and b:
            entry["ratio"] = stats.ratios(a, b, METRICS)
        return entry

    summary = medians(results)
    summary["quiet"] = medians([r for r in results if r.other_core_util < quiet_below])
    return summary


def print_table(summary: dict[str, Any], title: str) -> None:
    table = stats.Table(("kind", "rounds", "deliv/s", "loss", "p50 ms", "p99 ms", "hub us/dl",
                         "cli us/dl", "hub cores", "cli cores", "pub cores", "other", "idle"),
                        (6, 6, 9, 7, 8, 8, 9, 9, 9, 9, 9, 6, 6))
    table.header(title)
    for k, m in summary["servers"].items():
        table.row(k, str(m["rounds"]), f"{m['deliveries_per_s']:,.0f}", f"{m['loss']:.2%}",
                  *(f"{m[x]:.1f}" for x in METRICS[2:6]),
                  *(f"{m[x]:.2f}" for x in METRICS[6:]))
    if summary["ratio"]:
        r = summary["ratio"]
        table.row("w2/w1", "", *(stats.fmt_ratio(r[x]) for x in METRICS))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fan-out: HUB_WORKERS=2 against one hub process, interleaved rounds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--subscribers", "-N", type=int, default=None,
                        help="subscribers (default 4000; quick: 400)")
    parser.add_argument("--rate", "-R", type=float, default=None,
                        help="messages per second (default 50; quick: 20)")
    parser.add_argument("--kinds", default="w1,w2", help="which of w1,w2, in round order")
    parser.add_argument("--pin", action="store_true",
                        help="pin the hub to --server-core and clients + publisher to "
                             "--client-core (default: nothing pinned)")
    parser.add_argument("--batched", action="store_true",
                        help="subscribers read each socket at most once per --batch-ms "
                             "(loadtests/workers_client.py; needs --client-impl raw): far "
                             "less client CPU per delivery, latency up to one batch worse")
    parser.add_argument("--batch-ms", type=float, default=20.0)
    parser.add_argument("--sample", type=int, default=16,
                        help="with --batched: time one delivery in this many, count the rest")
    rounds.add_round_arguments(parser, measured="publish", rounds_of="per kind",
                               quick="N=400, 20 msg/s, 3 s, 1 round")
    load.add_load_arguments(parser, client_impl_default="raw")
    args = parser.parse_args(argv)
    args.subscribers = args.subscribers or (400 if args.quick else 4000)
    args.rate = args.rate or (20.0 if args.quick else 50.0)
    if args.quick and args.duration is None:
        args.duration = 3.0
    args.duration = args.duration or 8.0
    rounds.round_defaults(args)
    args.kinds = [k for k in args.kinds.split(",") if k]
    if not args.kinds or set(args.kinds) - set(KINDS):
        parser.error(f"--kinds takes w1 and w2, not {args.kinds}")
    if args.subscribers > 15000:
        parser.error("at most 15000 subscribers (ulimit -n is 20000 per process)")
    if args.duration > 60 or args.rounds > 10 or args.rate > 1000:
        parser.error("bounded runs only: --duration <= 60, --rounds <= 10, --rate <= 1000")
    if args.batched and args.client_impl != "raw":
        parser.error("--batched needs --client-impl raw")
    if not args.pin:
        args.server_core = args.client_core = None
    args.cores = os.cpu_count() or 1
    args.run_id = report.run_stamp()
    return args


async def amain(args: argparse.Namespace) -> int:
    await redis_keys.ping(args.redis_url)
    if args.client_core is not None:
        procs.pin_self(args.client_core)
    plan = rounds.interleave([None], args.rounds, args.kinds)
    logdir = report.log_folder("workers", args.run_id)
    print(f"workers {args.run_id}: {len(plan)} rounds ({','.join(args.kinds)}), "
          f"N={args.subscribers} @ {args.rate:g} msg/s "
          f"({args.subscribers * args.rate:,.0f} deliveries/s offered), "
          f"{args.duration:g} s each, {args.client_impl}"
          f"{' batched' if args.batched else ''} clients, "
          f"{'pinned' if args.pin else 'unpinned'}, {args.cores} cores; logs in {logdir}",
          flush=True)
    started = time.monotonic()

    async def run(step: tuple[None, int, str]) -> RoundResult:
        return await run_round(step[2], step[1], args, logdir)

    def failed(step: tuple[None, int, str], error: str) -> RoundResult:
        return RoundResult(kind=step[2], workers=KINDS[step[2]], subscribers=args.subscribers,
                           rate=args.rate, round=step[1], errors=[error])

    results = await rounds.run_rounds(plan, run, failed,
                                      lambda step: f"{step[2]} r{step[1]}", progress_line)
    report.prune_logs(logdir)
    summary = summarize(results, args.kinds, args.noise_warn)
    print_table(summary, "medians over all rounds; cores = share of one core over publish"
                " + drain")
    print_table(summary["quiet"], f"medians over quiet rounds only (other < "
                f"{args.noise_warn:.0%} of a core)")
    rounds.warn_noise([r.other_core_util for r in results], args.noise_warn)
    stem = f"workers-{args.run_id}"
    report.write_json(args.out, stem, {
        "run_id": args.run_id,
        "wall_s": round(time.monotonic() - started, 1),
        "host": report.host(("websockets", "redis", "uvicorn")),
        "tree": report.git_rev(REPO),
        "settings": report.settings(args),
        "message_bytes": load.MESSAGE_BYTES,
        "summary": summary,
        "rounds": [r.record() for r in results],
    })
    print(f"wrote {report.shown(args.out / stem)}.json "
          f"({time.monotonic() - started:.0f} s total)")
    return 0 if all(r.received for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    return uvloop.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
