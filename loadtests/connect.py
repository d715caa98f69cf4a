"""Connection set-up benchmark: how fast the hub takes new clients, against a baseline.

Scenario ``connect`` (default). For each handshake concurrency C, interleaved rounds
(hub, baseline, hub, baseline, ...), each against a freshly started server pinned to the
server core:

1. Start the server (``python -m hub run`` with a unique Redis prefix and a registered
   event room, or ``loadtests/baseline_server.py``); wait for ``GET /ready``, settle,
   read its RSS.
2. Start ``ceil(N / --per-process)`` ``connect_client.py`` processes on the client core,
   each from its own loopback source address, holding its share of the C handshakes;
   they mint their tokens first, then all get ``go`` at once.
3. Each client opens its connections once (no retry): TCP connect, upgrade, and for the
   hub the token check, ``welcome``, ``subscribe`` to the event room and ``subscribed``.
   connects/s = connected / (first start .. last success over all processes); p50/p99
   time to subscribed from the merged HdrHistogram; failures by code.
4. With all N held, settle and read the RSS again: (after - before) / N per connection.

Scenario ``storm``: per round, N clients connect as above, then every client process
drops all its connections at once (a TCP reset, as from a network drop: the hub stays up
and must clean up N subscriptions while the same N come back) and reconnects each with
the browser client's backoff (full jitter, base 500 ms, cap 15 s). Reported: the time
from the drop until the last one is subscribed again, how many came back, and failed
attempts by code.

Run from the repo root with the venv active, under the machine's benchmark lock::

    python -m loadtests.connect --quick               # N=1000, C=50, 1 round (~30 s)
    python -m loadtests.connect                       # N=10000, C=50,200, 3 rounds (~4 min)
    python -m loadtests.connect --scenario storm      # N=5000, 3 rounds (~3 min)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: python loadtests/connect.py
    sys.path.insert(0, str(REPO))

import redis.asyncio as aioredis  # noqa: E402
import uvloop  # noqa: E402
from hdrh.histogram import HdrHistogram  # noqa: E402

from loadtests.connect_client import new_histogram  # noqa: E402
from loadtests.harness import RESULTS, cpu, hub, plots, procs, redis_keys, report  # noqa: E402

SERVERS = ("hub", "hub-before", "baseline")
METRICS = ("connects_per_s", "p50_ms", "p99_ms", "rss_per_conn_kib", "server_core_util")
STORM_METRICS = ("all_back_s", "storm_p50_ms", "storm_p99_ms", "attempts_per_client")


@dataclass(kw_only=True)
class RoundResult:
    scenario: str
    server: str
    clients: int
    concurrency: int
    round: int
    connected: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    connects_per_s: float = 0.0
    connect_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    rss_per_conn_kib: float = 0.0
    server_core_util: float = 0.0
    client_core_util: float = 0.0
    other_core_util: float = 0.0
    # storm only
    dropped: int = 0
    back: int = 0
    all_back_s: float = 0.0
    storm_p50_ms: float = 0.0  # from the drop until subscribed again
    storm_p99_ms: float = 0.0
    storm_max_ms: float = 0.0
    attempts_per_client: float = 0.0
    storm_errors: dict[str, int] = field(default_factory=dict)
    alive_after_storm: int = 0
    problems: list[str] = field(default_factory=list)


def start_server(kind: str, *, port: int, prefix: str, room: str, secret: str,
                 args: argparse.Namespace, log: Path) -> procs.ServerProcess:
    if kind == "baseline":
        cmd = [sys.executable, "-m", "loadtests.baseline_server", "--port", str(port),
               "--redis-url", args.redis_url, "--prefix", prefix, "--room", room]
        return procs.ServerProcess(kind, cmd, port=port, log=log, core=args.server_core,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return hub.start_hub(kind, port=port, redis_url=args.redis_url, prefix=prefix,
                         secret=secret, log=log, core=args.server_core,
                         tree=args.before_tree if kind == "hub-before" else REPO)


async def register_event(redis_url: str, prefix: str, event: str, org: str) -> None:
    """What ``POST /api/events`` does on a node without Postgres (``RedisDirectory``)."""
    r = aioredis.Redis.from_url(redis_url)
    try:
        await r.hsetnx(f"{prefix}:events", event, org)
    finally:
        await r.aclose()


def merge(hists: Sequence[str]) -> HdrHistogram:
    merged = new_histogram()
    for encoded in hists:
        merged.add(HdrHistogram.decode(encoded.encode("ascii")))
    return merged


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


async def start_clients(kind: str, *, n: int, conc: int, port: int, room: str, org: str,
                        secret: str, args: argparse.Namespace,
                        log: Path) -> list[procs.LineClient]:
    count = math.ceil(n / args.per_process)
    shares, gates = split(n, count), split(conc, count)
    clients = []
    for i, (share, gate) in enumerate(zip(shares, gates, strict=True)):
        cmd = [sys.executable, "-m", "loadtests.connect_client", "--port", str(port),
               "--mode", "baseline" if kind == "baseline" else "hub", "--count", str(share),
               "--index", str(i), "--source-ip", f"127.0.0.{2 + i}",
               "--concurrency", str(max(1, gate)), "--room", room, "--org", org,
               "--secret", secret, "--storm-max", str(args.storm_max)]
        clients.append(await procs.LineClient.start(
            cmd, env=dict(os.environ, PYTHONUNBUFFERED="1"), log=log, core=args.client_core))
    for c in clients:
        ready = await c.read(120)
        if ready.get("event") != "minted":
            raise RuntimeError(f"client said {ready}")
    return clients


async def ask_all(clients: Sequence[procs.LineClient], command: str,
                  wait_s: float) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(c.ask(command, wait_s) for c in clients)))


async def run_round(scenario: str, kind: str, n: int, conc: int, rnd: int,
                    args: argparse.Namespace, logdir: Path) -> RoundResult:
    res = RoundResult(scenario=scenario, server=kind, clients=n, concurrency=conc, round=rnd)
    tag = f"{scenario}-{kind}-n{n}-c{conc}-{rnd}"
    prefix = f"lhbench:{args.run_id}:{tag}"
    org, event = str(uuid.uuid4()), str(uuid.uuid4())
    room = f"event:{event}"
    secret = secrets.token_hex(24)
    port = procs.free_port()
    await register_event(args.redis_url, prefix, event, org)
    server = start_server(kind, port=port, prefix=prefix, room=room, secret=secret, args=args,
                          log=logdir / f"{tag}.log")
    clients: list[procs.LineClient] = []
    try:
        await server.wait_ready()
        await asyncio.sleep(args.settle)
        rss0 = server.rss()
        clients = await start_clients(kind, n=n, conc=conc, port=port, room=room, org=org,
                                      secret=secret, args=args,
                                      log=logdir / f"{tag}-clients.log")

        def mark() -> cpu.CpuReading:
            return cpu.read_cpu({"server": server.cpu_s(),
                                 "clients": sum(c.cpu_s() for c in clients)})

        m0 = mark()
        replies = await ask_all(clients, "go", 600)
        m1 = mark()
        window = cpu.cpu_window(m0, m1)
        res.server_core_util = window.use("server")
        res.client_core_util = window.use("clients")
        res.other_core_util = window.use("other")
        res.connected = sum(r["connected"] for r in replies)
        errors: Counter[str] = Counter()
        for r in replies:
            errors.update(r["errors"])
        res.errors = dict(errors)
        res.failed = sum(errors.values())
        first = min(r["first_ns"] for r in replies)
        last = max(r["last_ns"] for r in replies)
        res.connect_s = max(last - first, 1) / 1e9
        res.connects_per_s = res.connected / res.connect_s
        hist = merge([r["hist"] for r in replies])
        res.p50_ms = hist.get_value_at_percentile(50) / 1000
        res.p99_ms = hist.get_value_at_percentile(99) / 1000
        res.max_ms = hist.get_max_value() / 1000
        await asyncio.sleep(args.settle)
        rss1 = server.rss()
        res.rss_before_mb, res.rss_after_mb = rss0 / 2**20, rss1 / 2**20
        if res.connected:
            res.rss_per_conn_kib = (rss1 - rss0) / 1024 / res.connected
        if scenario == "storm":
            await storm(res, clients, args)
    finally:
        for c in clients:
            await c.stop()
        await server.stop()
        await redis_keys.drop_keys(args.redis_url, prefix)
    return res


async def storm(res: RoundResult, clients: Sequence[procs.LineClient],
                args: argparse.Namespace) -> None:
    replies = await ask_all(clients, "storm", args.storm_max + 60)
    res.dropped = sum(r["dropped"] for r in replies)
    res.back = sum(r["back"] for r in replies)
    errors: Counter[str] = Counter()
    for r in replies:
        errors.update(r["errors"])
    res.storm_errors = dict(errors)
    drop = min(r["drop_ns"] for r in replies)
    last = max(r["last_ns"] for r in replies)
    res.all_back_s = (last - drop) / 1e9 if res.back == res.dropped else float("inf")
    res.attempts_per_client = sum(r["attempts"] for r in replies) / max(1, res.dropped)
    hist = merge([r["hist"] for r in replies])
    res.storm_p50_ms = hist.get_value_at_percentile(50) / 1000
    res.storm_p99_ms = hist.get_value_at_percentile(99) / 1000
    res.storm_max_ms = hist.get_max_value() / 1000
    await asyncio.sleep(args.settle)
    res.alive_after_storm = sum(r["alive"] for r in await ask_all(clients, "count", 30))


def progress_line(res: RoundResult) -> str:
    errs = f" errors {res.errors}" if res.errors else ""
    line = (f"{res.connected}/{res.clients} in {res.connect_s:.2f}s = "
            f"{res.connects_per_s:,.0f}/s  p50 {res.p50_ms:.1f} p99 {res.p99_ms:.1f} ms  "
            f"rss {res.rss_per_conn_kib:.2f} KiB/conn  core use srv "
            f"{res.server_core_util:.0%} cli {res.client_core_util:.0%} "
            f"other {res.other_core_util:.0%}{errs}")
    if res.scenario == "storm":
        line += (f"\n      storm: {res.back}/{res.dropped} back in {res.all_back_s:.2f}s  "
                 f"p50 {res.storm_p50_ms:.0f} p99 {res.storm_p99_ms:.0f} ms after the drop  "
                 f"{res.attempts_per_client:.2f} attempts/client  alive after "
                 f"{res.alive_after_storm}  failed attempts {res.storm_errors}")
    return line


def summarize(results: Sequence[RoundResult], args: argparse.Namespace) -> list[dict[str, Any]]:
    metrics = STORM_METRICS if args.scenario == "storm" else METRICS
    out = []
    for conc in args.concurrency:
        entry: dict[str, Any] = {"clients": args.clients, "concurrency": conc, "servers": {}}
        for kind in args.servers:
            rs = [r for r in results if r.server == kind and r.concurrency == conc
                  and r.connected and not r.problems]
            if rs:
                entry["servers"][kind] = {
                    "rounds": len(rs),
                    **{m: statistics.median(getattr(r, m) for r in rs) for m in metrics},
                    "min": {m: min(getattr(r, m) for r in rs) for m in metrics},
                    "max": {m: max(getattr(r, m) for r in rs) for m in metrics},
                    "errors": dict(sum((Counter(r.errors) for r in rs), Counter())),
                }
                if args.scenario == "storm":
                    entry["servers"][kind]["storm_errors"] = dict(
                        sum((Counter(r.storm_errors) for r in rs), Counter()))
                    entry["servers"][kind]["all_back"] = all(r.back == r.dropped for r in rs)
        h = entry["servers"].get("hub")
        for key, den in (("ratio", "baseline"), ("ratio_before", "hub-before")):
            b = entry["servers"].get(den)
            if h and b:
                entry[key] = {m: (h[m] / b[m] if b[m] else None) for m in metrics}
        out.append(entry)
    return out


def print_table(summary: Sequence[dict[str, Any]], scenario: str) -> None:
    metrics = STORM_METRICS if scenario == "storm" else METRICS
    print()
    print(f"{'config':<16}{'server':<10}" + "".join(f"{m:>22}" for m in metrics))
    for e in summary:
        cfg = f"N={e['clients']} C={e['concurrency']}"
        for kind, m in e["servers"].items():
            print(f"{cfg:<16}{kind:<10}" + "".join(f"{m[k]:>22,.2f}" for k in metrics))
            cfg = ""
        for key, name in (("ratio", "hub/base"), ("ratio_before", "hub/before")):
            if key in e:
                print(f"{'':<16}{name:<10}" + "".join(
                    f"{(e[key][k] or 0):>21.2f}x" for k in metrics))


def plot(summary: Sequence[dict[str, Any]], scenario: str, path: Path, title: str) -> None:
    metrics = STORM_METRICS if scenario == "storm" else METRICS
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 4))
    labels = [f"N={e['clients']}\nC={e['concurrency']}" for e in summary]
    colors = {"hub": "#1f77b4", "hub-before": "#2ca02c", "baseline": "#ff7f0e"}
    width = 0.8 / len(SERVERS)
    for ax, metric in zip(axes, metrics, strict=True):
        for i, kind in enumerate(SERVERS):
            at = [(j, e["servers"][kind]) for j, e in enumerate(summary) if kind in e["servers"]]
            if at:
                plots.median_bars(ax, [j + (i - 1) * width for j, _ in at], [m for _, m in at],
                                  metric, width=width, color=colors[kind], name=kind)
        ax.set_xticks(range(len(summary)), labels, fontsize=8)
        ax.set_title(metric, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    plots.save(fig, path, title)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--scenario", choices=["connect", "storm"], default="connect")
    parser.add_argument("--clients", "-N", type=int, default=None,
                        help="connections per round (default 10000; storm 5000; quick 1000)")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=None, help="handshakes in flight, comma-separated "
                        "(default 50,200; storm 200; quick 50)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per server (default 3)")
    parser.add_argument("--quick", action="store_true", help="N=1000, C=50, 1 round")
    parser.add_argument("--servers", type=lambda s: s.split(","), default=["hub", "baseline"],
                        help="hub, hub-before (needs --before-tree), baseline; in round order")
    parser.add_argument("--before-tree", type=Path, default=None, metavar="DIR",
                        help="another checkout whose hub runs as hub-before, same venv")
    parser.add_argument("--per-process", type=int, default=2500,
                        help="connections per client process")
    parser.add_argument("--storm-max", type=float, default=30.0,
                        help="seconds a client keeps trying to come back")
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL",
                                                              "redis://127.0.0.1:6379/0"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    storm_ = args.scenario == "storm"
    args.clients = args.clients or (1000 if args.quick else 5000 if storm_ else 10000)
    args.concurrency = args.concurrency or ([50] if args.quick else [200] if storm_
                                            else [50, 200])
    args.rounds = args.rounds or (1 if args.quick else 3)
    if set(args.servers) - set(SERVERS):
        parser.error(f"--servers takes {', '.join(SERVERS)}")
    if args.before_tree is not None:
        args.before_tree = args.before_tree.resolve()
        if problem := hub.hub_tree_problem(args.before_tree):
            parser.error(f"--before-tree: {problem}")
        if "hub-before" not in args.servers:
            args.servers.insert(args.servers.index("hub") + 1 if "hub" in args.servers else 0,
                                "hub-before")
    elif "hub-before" in args.servers:
        parser.error("server hub-before needs --before-tree DIR")
    if args.clients > 15000 or args.rounds > 10 or args.storm_max > 120:
        parser.error("bounded runs only: N <= 15000, --rounds <= 10, --storm-max <= 120")
    args.run_id = report.run_stamp()
    return args


async def amain(args: argparse.Namespace) -> int:
    await redis_keys.ping(args.redis_url)
    procs.pin_self(args.client_core)
    plan = [(conc, rnd, kind) for conc in args.concurrency for rnd in range(1, args.rounds + 1)
            for kind in args.servers]
    logdir = report.log_folder("connect", args.run_id)
    print(f"connect {args.run_id}: scenario {args.scenario}, {len(plan)} rounds, N={args.clients}"
          f"; server core {args.server_core}, clients core {args.client_core}; logs in {logdir}",
          flush=True)
    started = time.monotonic()
    results: list[RoundResult] = []
    for i, (conc, rnd, kind) in enumerate(plan, 1):
        head = f"[{i:>2}/{len(plan)}] C={conc:<4} {kind:<8} r{rnd}"
        try:
            res = await run_round(args.scenario, kind, args.clients, conc, rnd, args, logdir)
        except Exception as exc:  # one failed round is reported, not fatal
            res = RoundResult(scenario=args.scenario, server=kind, clients=args.clients,
                              concurrency=conc, round=rnd,
                              problems=[f"{type(exc).__name__}: {exc}"[:2000]])
            print(f"{head}  FAILED {res.problems[0].splitlines()[0]}", flush=True)
        else:
            print(f"{head}  {progress_line(res)}", flush=True)
        results.append(res)
    report.prune_logs(logdir)
    summary = summarize(results, args)
    print_table(summary, args.scenario)
    noisy = [r.other_core_util for r in results if r.other_core_util > 0.15]
    if noisy:
        print(f"WARNING: {len(noisy)} round(s) shared the machine with other work "
              f"(other core use up to {max(noisy):.0%})")
    stem = f"connect-{args.scenario}-{args.run_id}"
    doc = {"run_id": args.run_id, "wall_s": round(time.monotonic() - started, 1),
           "host": report.host(("websockets", "redis", "uvicorn")),
           "tree": report.git_rev(REPO),
           "settings": report.settings(args),
           "summary": summary, "rounds": [asdict(r) for r in results]}
    report.write_json(args.out, stem, doc)
    if any(e["servers"] for e in summary):
        plot(summary, args.scenario, args.out / f"{stem}.png",
             f"livehub {args.scenario} {args.run_id}: N={args.clients}, {args.rounds} round(s)")
    print(f"wrote {report.shown(args.out / stem)}.json and .png "
          f"({time.monotonic() - started:.0f} s total)")
    ok = all(r.connected == r.clients and not r.problems for r in results)
    if args.scenario == "storm":
        ok = ok and all(r.back == r.dropped for r in results)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return uvloop.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
