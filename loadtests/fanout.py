"""Fan-out benchmark: the hub against a minimal ``websockets.broadcast()`` baseline,
or against the hub of another checkout (``--before-tree``).

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

``--sequence`` runs the rates, in the order given, as windows on the same
connections (one server start and one set of subscribers per round): steps
3-4 repeat per rate. A hub's cyclic-GC pauses (count, total, longest per
generation) are read from its ``/metrics`` around each window.

``--before-tree DIR`` adds a third kind, ``hub-before``: ``python -m hub run``
from DIR (another checkout, same venv), in the same rounds right after
``hub``, and the hub/hub-before ratios beside hub/baseline.

Everything runs on loopback, with bounded counts and time limits, and stops
by itself. Keepalive pings are quieted on all servers (``--keepalive`` keeps
the hub's default) so that only fan-out work is measured.

Run from the repo root with the venv active::

    python -m loadtests.fanout --quick --servers baseline   # ~15 s smoke run
    python -m loadtests.fanout                              # full matrix, ~10 min
    python -m loadtests.fanout --before-tree /tmp/before    # this tree against another
    python -m loadtests.fanout --subscribers 5000 --rates 2,20 --sequence   # 20/s after 2/s
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: python loadtests/fanout.py
    sys.path.insert(0, str(REPO))

import uvloop  # noqa: E402

from loadtests import fanout_load as load  # noqa: E402
from loadtests.harness import (  # noqa: E402
    cpu,
    gc_metrics,
    hub,
    plots,
    procs,
    redis_keys,
    report,
    rounds,
    stats,
)

SERVERS = ("hub", "hub-before", "baseline")
# Summary key -> (numerator, denominator) kinds; present when both ran.
RATIOS = {"ratio": ("hub", "baseline"), "ratio_before": ("hub", "hub-before")}
RATIO_LABELS = {"ratio": "hub/base", "ratio_before": "hub/before"}


# -- results ------------------------------------------------------------------------


@dataclass(kw_only=True)
class RoundResult(load.FanoutFigures):
    LEAD = ("server", "subscribers", "rate", "round")

    server: str
    subscribers: int
    rate: float
    round: int
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
    window: int = 1  # with --sequence: the window's place on the same connections
    # The hub's cyclic-GC pauses over publish + drain (harness.gc_metrics.window);
    # empty for the baseline, which exposes no metrics.
    gc: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    gc2_count: float = 0.0
    gc2_total_ms: float = 0.0
    gc2_max_ms: float = 0.0
    gc_total_ms: float = 0.0  # all generations
    errors: list[str] = field(default_factory=list)

    def take_gc(self, pauses: dict[str, dict[str, float | bool]]) -> None:
        if not pauses:
            return  # a hub that does not time its collections (an older tree)
        self.gc = pauses
        self.gc2_count = float(pauses["2"]["count"])
        self.gc2_total_ms = float(pauses["2"]["total_ms"])
        self.gc2_max_ms = float(pauses["2"]["max_ms"])
        self.gc_total_ms = sum(float(pauses[g]["total_ms"]) for g in gc_metrics.GENERATIONS)


METRICS = ("deliveries_per_s", "loss", "p50_ms", "p99_ms", "max_ms", "cpu_us_per_delivery",
           "rss_per_conn_kb")
GC_FIGURES = ("gc2_count", "gc2_total_ms", "gc2_max_ms", "gc_total_ms")


# -- one round --------------------------------------------------------------------------


def start_server(kind: str, *, port: int, prefix: str, room: str, secret: str,
                 args: argparse.Namespace, log: Path) -> procs.ServerProcess:
    if kind == "baseline":
        cmd = [sys.executable, "-m", "loadtests.baseline_server", "--port", str(port),
               "--redis-url", args.redis_url, "--prefix", prefix, "--room", room]
        return procs.ServerProcess(kind, cmd, port=port, log=log, core=args.server_core,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
    before = kind == "hub-before"
    return hub.start_hub(kind, port=port, redis_url=args.redis_url, prefix=prefix,
                         secret=secret, log=log, core=args.server_core, keepalive=args.keepalive,
                         tree=args.before_tree if before else REPO,
                         env=dict(args.before_env) if before else None)


async def run_round(kind: str, n: int, rates: Sequence[float], rnd: int,
                    args: argparse.Namespace, logdir: Path) -> list[RoundResult]:
    """One server start and one set of N subscribers, then a publish window per rate, in
    order, on the same connections (one window unless ``--sequence``)."""
    results = [RoundResult(server=kind, subscribers=n, rate=rate, round=rnd, window=i + 1)
               for i, rate in enumerate(rates)]
    wall0 = time.monotonic()
    tag = f"{kind}-n{n}-r{'+'.join(f'{r:g}' for r in rates)}-{rnd}"
    prefix = f"lhbench:{args.run_id}:{tag}"
    org = str(uuid.uuid4())
    room = f"org:{org}"
    secret = secrets.token_hex(24)
    port = procs.free_port()
    metered = kind != "baseline"
    async with load.publisher(args.redis_url, prefix) as broker:
        server = start_server(kind, port=port, prefix=prefix, room=room, secret=secret,
                              args=args, log=logdir / f"{tag}.log")
        fleet = load.SubscriberFleet()
        try:
            await server.wait_ready()
            await asyncio.sleep(args.settle)
            rss0 = server.rss()
            first = results[0]
            first.errors.extend(await fleet.connect(
                first, n=n, mode="baseline" if kind == "baseline" else "hub", port=port,
                room=room, org=org, secret=secret, args=args, logdir=logdir, tag=tag))
            await asyncio.sleep(args.settle)
            rss1 = server.rss()
            seq = 0
            for i, res in enumerate(results):
                res.connected, res.connect_failed, res.connect_s = (
                    first.connected, first.connect_failed, first.connect_s)
                res.rss_before_mb = rss0 / 2**20
                res.rss_after_mb = rss1 / 2**20
                res.rss_per_conn_kb = (rss1 - rss0) / 1024 / res.connected

                async def mark() -> cpu.CpuReading:
                    return cpu.read_cpu({"server": server.cpu_s(), "clients": fleet.cpu_s()})

                gc0 = await gc_metrics.read(port) if metered else None
                m0 = await mark()
                first_ns = await load.publish(res, broker, room, res.rate, args.duration, seq)
                seq += res.published + res.publish_errors
                res.drain_s, m1 = await fleet.drain(res.expected, args, mark)
                if gc0 is not None:
                    res.take_gc(gc_metrics.window(gc0, await gc_metrics.read(port)))
                await fleet.collect(res, first_ns=first_ns, rate=res.rate,
                                    more=i + 1 < len(results))
                if res.received:
                    window = cpu.cpu_window(m0, m1)
                    res.server_cpu_s = window.cpu_s["server"]
                    res.server_core_util = window.use("server")
                    res.client_core_util = window.use("clients")
                    res.other_core_util = window.use("other")
                    res.cpu_us_per_delivery = res.server_cpu_s * 1e6 / res.received
                res.wall_s = time.monotonic() - wall0
        finally:
            await fleet.stop()
            await server.stop()
    return results


def progress_line(res: RoundResult) -> str:
    extra = (f" closed={res.closed}" if res.closed else "") + (
        f" failed={res.connect_failed}" if res.connect_failed else "")
    return (f"conn {res.connected} in {res.connect_s:.1f}s  pub {res.published}  "
            f"{res.deliveries_per_s:>8,.0f} deliv/s  loss {res.loss:6.2%}  "
            f"p50 {res.p50_ms:7.1f}  p99 {res.p99_ms:7.1f}  max {res.max_ms:7.1f} ms  "
            f"cpu {res.cpu_us_per_delivery:5.1f} us/deliv  "
            f"rss {res.rss_per_conn_kb:5.1f} KB/conn  "
            f"core use srv {res.server_core_util:.0%} cli {res.client_core_util:.0%} "
            f"other {res.other_core_util:.0%}  "
            f"({res.wall_s:.0f}s){extra}{gc_line(res)}")


def gc_line(res: RoundResult) -> str:
    """`` gc g0 n/ms g1 ... g2 n/total ms/max ms`` for a metered (hub) round."""
    if not res.gc:
        return ""
    parts = []
    for gen in gc_metrics.GENERATIONS:
        g = res.gc[gen]
        bound = "" if g["max_exact"] else "<="
        parts.append(f"g{gen} {g['count']:.0f}/{g['total_ms']:.0f}/{bound}{g['max_ms']:.1f}")
    return "  gc n/total/max ms " + " ".join(parts)


def progress_lines(results: Sequence[RoundResult]) -> str:
    if len(results) == 1:
        return progress_line(results[0])
    return "\n".join(f"  window {r.window} @{r.rate:g}/s: {progress_line(r)}" for r in results)


# -- summary --------------------------------------------------------------------------


def summarize(results: Sequence[RoundResult], configs: Sequence[tuple[int, float]],
              servers: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, rate in configs:
        entry: dict[str, Any] = {"subscribers": n, "rate": rate, "servers": {}, "ratio": {}}
        if "hub-before" in servers:
            entry["ratio_before"] = {}
        for s in servers:
            rs = [r for r in results if (r.subscribers, r.rate, r.server) == (n, rate, s)
                  and r.received]
            if rs:
                entry["servers"][s] = stats.spread(rs, METRICS)
                if any(r.gc for r in rs):
                    entry["servers"][s]["gc"] = stats.spread(rs, GC_FIGURES)
        for key, (num, den) in RATIOS.items():
            a, b = entry["servers"].get(num), entry["servers"].get(den)
            if a and b:
                entry[key] = stats.ratios(a, b, METRICS)
        out.append(entry)
    return out


def print_table(summary: Sequence[dict[str, Any]]) -> None:
    names = [*(s for e in summary for s in e["servers"]),
             *(label for key, label in RATIO_LABELS.items() if any(e.get(key) for e in summary))]
    table = stats.Table(("config", "server", "deliv/s", "loss", "p50 ms", "p99 ms", "max ms",
                   "CPU us/deliv", "KB/conn"),
                  (14, max([9, *map(len, names)]), 9, 8, 8, 8, 8, 12, 8))
    table.header()
    for e in summary:
        cfg = f"N={e['subscribers']} @{e['rate']:g}/s"
        for s, m in e["servers"].items():
            table.row(cfg, s, f"{m['deliveries_per_s']:,.0f}", f"{m['loss']:.2%}",
                      *(f"{m[k]:.1f}" for k in METRICS[2:]))
            cfg = ""
        for key, label in RATIO_LABELS.items():
            if e.get(key):
                table.row("", label, *(stats.fmt_ratio(e[key][k]) for k in METRICS))
        print()
    gc_rows = [(e, s, m["gc"]) for e in summary for s, m in e["servers"].items() if "gc" in m]
    if gc_rows:
        table = stats.Table(("config", "server", "gen-2 n", "gen-2 ms", "gen-2 max",
                             "all gens ms"), (14, max([9, *map(len, names)]), 8, 9, 9, 11))
        table.header("cyclic GC pauses over publish + drain (medians over rounds)")
        for e, s, g in gc_rows:
            table.row(f"N={e['subscribers']} @{e['rate']:g}/s", s, f"{g['gc2_count']:.0f}",
                      f"{g['gc2_total_ms']:.0f}", f"{g['gc2_max_ms']:.0f}",
                      f"{g['gc_total_ms']:.0f}")
        print()


PANELS = (("cpu_us_per_delivery", "server CPU µs per delivery", False, 1.0),
          ("p99_ms", "p99 latency, ms (log)", True, 1.0),
          ("p50_ms", "p50 latency, ms (log)", True, 1.0),
          ("deliveries_per_s", "deliveries per second", False, 1.0),
          ("loss", "loss, %", False, 100.0),
          ("rss_per_conn_kb", "RSS per idle connection, KB", False, 1.0))
RATIO_PANEL = (("cpu_us_per_delivery", "CPU/deliv"), ("p50_ms", "p50"), ("p99_ms", "p99"),
               ("deliveries_per_s", "deliv/s"), ("rss_per_conn_kb", "KB/conn"))
COLORS = {"hub": "#1f77b4", "hub-before": "#2ca02c", "baseline": "#ff7f0e"}


def plot(summary: Sequence[dict[str, Any]], servers: Sequence[str], path: Path,
         title: str) -> None:
    """Per configuration, a bar per server for each metric; with a hub-before, also the
    ratio panels (hub/hub-before, hub/baseline)."""
    from matplotlib.ticker import FuncFormatter

    plt = plots.pyplot()
    ab = "hub-before" in servers
    fig, axes = plt.subplots(2, 4 if ab else 3, figsize=(20 if ab else 15, 8))
    panels = list(axes.flat)
    labels = [f"N={e['subscribers']}\n{e['rate']:g} msg/s" for e in summary]
    width = 0.7 / max(2, len(servers))
    for ax, (metric, ylabel, log, scale) in zip(panels[:len(PANELS)], PANELS, strict=True):
        top = 0.0
        for i, s in enumerate(servers):
            at = [(j, e["servers"][s]) for j, e in enumerate(summary) if s in e["servers"]]
            xs = [j + (i - (len(servers) - 1) / 2) * width for j, _ in at]
            top = max(top, plots.median_bars(ax, xs, [m for _, m in at], metric, width=width,
                                             color=COLORS.get(s), name=s, scale=scale))
        ax.set_xticks(range(len(summary)), labels, fontsize=8)
        ax.set_xlim(-0.6, len(summary) - 0.4)
        ax.set_title(ylabel, fontsize=10)
        if log:
            ax.set_yscale("log")
            values = [h.get_height() for h in ax.patches if h.get_height() > 0]
            if values:  # start at a decade below, so bars and tick labels read right
                ax.set_ylim(10 ** math.floor(math.log10(min(values))), top * 2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        elif metric == "loss":
            plots.loss_axis(ax)
        ax.grid(axis="y", alpha=0.3)
    panels[0].legend()
    if ab:
        for ax, key in zip(panels[len(PANELS):], ("ratio_before", "ratio"), strict=True):
            ratio_panel(ax, summary, key)
    plots.save(fig, path, title)


def ratio_panel(ax: Any, summary: Sequence[dict[str, Any]], key: str) -> None:
    """Median ratios of one pair of kinds, per metric, a bar per configuration."""
    num, den = RATIOS[key]
    shown = [e for e in summary if e.get(key)]
    if not shown:
        ax.set_axis_off()
        return
    width = 0.8 / len(shown)
    for i, e in enumerate(shown):
        xs = [j + (i - (len(shown) - 1) / 2) * width for j in range(len(RATIO_PANEL))]
        ys = [e[key][m] or 0.0 for m, _ in RATIO_PANEL]
        ax.bar(xs, ys, width, label=f"N={e['subscribers']} {e['rate']:g}/s")
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(f"{y:.2f}", (x, y), ha="center", va="bottom", fontsize=6,
                        xytext=(0, 2), textcoords="offset points")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(RATIO_PANEL)), [name for _, name in RATIO_PANEL], fontsize=8)
    ax.set_title(f"{num} / {den}, ratio of medians (1 = same)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


# -- main -------------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected VAR=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fan-out benchmark: livehub vs websockets.broadcast() baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--subscribers", type=_csv(int), default=None,
                        help="comma-separated N values (default 1000,5000; quick: 200)")
    parser.add_argument("--rates", type=_csv(float), default=None,
                        help="comma-separated publish rates, msg/s (default 2,20; quick: 20)")
    rounds.add_round_arguments(parser, measured="publish", rounds_of="per server and config",
                               quick="N=200, 20 msg/s, 3 s, 1 round")
    parser.add_argument("--servers", type=_csv(str), default=["hub", "baseline"],
                        help="which servers, in round order: hub,baseline (and hub-before, "
                             "which --before-tree adds after hub)")
    parser.add_argument("--sequence", action="store_true",
                        help="run the rates in the order given on the same connections: one "
                             "server start and one set of subscribers per N and round, a "
                             "publish window per rate (e.g. --rates 2,20: the 20/s window "
                             "follows a 2/s one)")
    parser.add_argument("--before-tree", type=Path, default=None, metavar="DIR",
                        help="another checkout whose hub runs as server hub-before, in the "
                             "same rounds, with the same venv")
    parser.add_argument("--before-env", action="append", default=[], metavar="VAR=VALUE",
                        type=_assignment,
                        help="a setting for hub-before only (repeatable); with --before-tree . "
                             "this tree runs against itself, e.g. HUB_GC_FREEZE=0")
    load.add_load_arguments(parser, client_impl_default="websockets")
    args = parser.parse_args(argv)
    quick = args.quick
    args.subscribers = args.subscribers or ([200] if quick else [1000, 5000])
    args.rates = args.rates or ([20.0] if quick else [2.0, 20.0])
    rounds.round_defaults(args)
    unknown = set(args.servers) - set(SERVERS)
    if unknown or not args.servers or len(set(args.servers)) < len(args.servers):
        parser.error(f"--servers takes hub, baseline and hub-before, each once, not "
                     f"{args.servers}")
    if args.before_tree is not None:
        args.before_tree = args.before_tree.resolve()
        problem = hub.hub_tree_problem(args.before_tree)
        if problem:
            parser.error(f"--before-tree: {problem}")
        if "hub-before" not in args.servers:  # right after hub, so the pair runs back to back
            at = args.servers.index("hub") + 1 if "hub" in args.servers else 0
            args.servers.insert(at, "hub-before")
    elif "hub-before" in args.servers or args.before_env:
        parser.error("server hub-before (and --before-env) needs --before-tree DIR")
    if max(args.subscribers) > 15000:
        parser.error("at most 15000 subscribers (ulimit -n is 20000 per process)")
    if args.duration > 120 or args.rounds > 10 or max(args.rates) > 1000:
        parser.error("bounded runs only: --duration <= 120, --rounds <= 10, --rates <= 1000")
    args.run_id = report.run_stamp()
    return args


async def amain(args: argparse.Namespace) -> int:
    if "hub" in args.servers and hub.hub_tree_problem(REPO):
        print("hub/cli.py not found: run with --servers baseline", file=sys.stderr)
        return 2
    await redis_keys.ping(args.redis_url)
    procs.pin_self(args.client_core)  # this process publishes from the client core

    configs = [(n, rate) for n in args.subscribers for rate in args.rates]
    # A step of the plan is N and the rates of its windows: one, or all with --sequence.
    steps = ([(n, tuple(args.rates)) for n in args.subscribers] if args.sequence
             else [(n, (rate,)) for n, rate in configs])
    plan = rounds.interleave(steps, args.rounds, args.servers)
    trees = {"hub": report.git_rev(REPO)}
    if args.before_tree is not None:
        trees["hub-before"] = report.git_rev(args.before_tree)
    logdir = report.log_folder("fanout", args.run_id)
    print(f"fanout {args.run_id}: {len(plan)} rounds, servers {','.join(args.servers)}, "
          f"{args.duration:g} s publish each; server core {args.server_core}, "
          f"clients core {args.client_core}; logs in {logdir}", flush=True)
    if args.before_tree is not None:
        print(f"hub is {trees['hub']} ({REPO}), hub-before is {trees['hub-before']} "
              f"({args.before_tree})", flush=True)
    started = time.monotonic()
    kind_width = max(8, *map(len, args.servers))

    Step = tuple[tuple[int, tuple[float, ...]], int, str]

    async def run(step: Step) -> list[RoundResult]:
        (n, rates), rnd, kind = step
        return await run_round(kind, n, rates, rnd, args, logdir)

    def failed(step: Step, error: str) -> list[RoundResult]:
        (n, rates), rnd, kind = step
        return [RoundResult(server=kind, subscribers=n, rate=rate, round=rnd, window=i + 1,
                            errors=[error]) for i, rate in enumerate(rates)]

    def head(step: Step) -> str:
        (n, rates), rnd, kind = step
        shown = "+".join(f"{r:g}" for r in rates)
        return f"N={n:<5} {shown:>4}/s {kind:<{kind_width}} r{rnd}"

    results = [r for rs in await rounds.run_rounds(plan, run, failed, head, progress_lines)
               for r in rs]
    report.prune_logs(logdir)
    summary = summarize(results, configs, args.servers)
    print_table(summary)
    rounds.warn_noise([r.other_core_util for r in results], args.noise_warn)
    stem = f"fanout-{args.run_id}"
    doc: dict[str, Any] = {
        "run_id": args.run_id,
        "wall_s": round(time.monotonic() - started, 1),
        "host": report.host(("websockets", "redis")),
        "settings": report.settings(args),
        "message_bytes": load.MESSAGE_BYTES,
        "summary": summary,
        "rounds": [r.record() for r in results],
    }
    if args.before_tree is not None:
        doc["trees"] = trees
    report.write_json(args.out, stem, doc)
    if summary and any(e["servers"] for e in summary):
        plot(summary, args.servers, args.out / f"{stem}.png",
             f"livehub fan-out {args.run_id}: {args.duration:g} s per round, "
             f"{args.rounds} round(s), ~{load.MESSAGE_BYTES} B messages")
    print(f"wrote {report.shown(args.out / stem)}.json and .png "
          f"({time.monotonic() - started:.0f} s total)")
    return 0 if all(r.received for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return uvloop.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
