"""Persistence benchmark: chat throughput into Postgres, beside the fan-out benchmark.

One run answers two questions: how many chat messages per second the hub
stores (``chat`` frames are committed to Postgres by a group-commit writer
before they are broadcast and acknowledged with ``chat_sent``), and whether
that chat load slows fan-out on the same hub process.

Setup, once per run: a fresh database on the local Postgres
(``postgres@127.0.0.1:5432``, or ``DATABASE_URL``'s server), migrated with
``persistence.migrate.migrate``; one organization and two live events, written
as the owner: ``event:A`` (fan-out) and ``event:B`` (chat). The database is
dropped at the end, whatever happens.

Then interleaved rounds of two kinds (``fanout``, ``fanout+chat``, ``fanout``,
...), each on a freshly started hub (``python -m hub run`` with Redis, the
benchmark ``DATABASE_URL``, ``HUB_EMBEDDED_PG=0``, the per-connection
publish/chat bucket ``HUB_PUBLISH_RATE``/``BURST`` raised out of the way,
pinned to the server core like ``fanout.py``):

* ``fanout``: N subscribers in ``event:A`` from ``fanout_client.py``
  processes on the client core; this process publishes open-loop at R msg/s
  through ``RedisBroker.publish``, exactly as ``fanout.py`` does, then drains.
* ``fanout+chat``: the same, plus ``chat_client.py`` (its own process on the
  client core) running K closed-loop chat senders on ``event:B`` for the
  same publish window: each sends its next ``chat`` only after the
  ``chat_sent`` (or error) for the previous one. Afterwards the harness counts
  the rows in ``chat_messages`` and checks that every acknowledged
  ``client_msg_id`` is stored.

``rooms/services/chat_rules.py`` also limits a non-staff user to 5 messages per 10 s per
room (``user_burst``, counted in Postgres); that limit is not configurable,
so by default each sender rotates over ``--subs-per-sender`` connections with
distinct subs (see ``chat_client.py``), and the time senders spent waiting
for budget is reported. ``--chat-role moderator`` uses staff tokens instead,
which skip the room rules (and their query) altogether.

Reported per kind (median of rounds) and as ratios (fanout+chat / fanout):
fan-out p50/p99, deliveries/s, loss and server CPU-us per delivery; for the
chat rounds also chats/s (acked), ack latency p50/p99, the approximate extra
server and Postgres CPU per chat, and the row check. Writes
``loadtests/results/persist-<timestamp>.json`` and ``.png``.

Run from the repo root with the venv active::

    python -m loadtests.persist --quick     # ~30 s smoke run
    python -m loadtests.persist             # 3 + 3 rounds, ~4 min
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: python loadtests/persist.py
    sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import psutil  # noqa: E402
import uvloop  # noqa: E402

from loadtests import fanout_load as load  # noqa: E402
from loadtests import pg_stats  # noqa: E402
from loadtests.fanout_client import new_histogram  # noqa: E402
from loadtests.harness import cpu, hub, plots, procs, redis_keys, report, rounds, stats  # noqa: E402

KINDS = ("fanout", "fanout+chat")
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FANOUT_METRICS = ("deliveries_per_s", "loss", "p50_ms", "p99_ms", "max_ms",
                  "cpu_us_per_delivery", "server_core_util", "client_core_util",
                  "pg_core_util", "other_core_util")
CHAT_METRICS = ("chats_per_s", "chat_p50_ms", "chat_p99_ms", "chat_max_ms",
                "server_us_per_chat", "pg_us_per_chat", "chat_budget_wait_s")
RATIO_METRICS = ("p99_ms", "p50_ms", "deliveries_per_s", "loss", "cpu_us_per_delivery")


# -- results ------------------------------------------------------------------------


@dataclass(kw_only=True)
class PersistRound(load.FanoutFigures):
    LEAD = ("kind", "round", "subscribers", "rate", "senders")

    kind: str
    round: int
    subscribers: int
    rate: float
    senders: int
    window_s: float = 0.0  # first publish .. last drain poll that saw progress
    server_cpu_s: float = 0.0
    server_core_util: float = 0.0
    client_core_util: float = 0.0  # fan-out subscriber processes + chat process
    chat_client_core_util: float = 0.0
    pg_core_util: float = 0.0  # Postgres backends connected to the benchmark database
    redis_core_util: float = 0.0  # the redis-server of --redis-url, when local
    other_core_util: float = 0.0  # everything else: other jobs, other databases, softirq
    cpu_us_per_delivery: float = 0.0
    # chat (fanout+chat rounds only)
    chat_connections: int = 0
    chat_watchers: int = 0  # read-only subscribers of the chat rooms
    chat_watched: int = 0  # chat frames they received
    table_rows: int = 0  # rows in chat_messages after the round
    chat_connect_s: float = 0.0
    chats_acked: int = 0
    chats_held: int = 0
    chats_per_s: float = 0.0
    chat_window_s: float = 0.0
    chat_p50_ms: float = 0.0
    chat_p99_ms: float = 0.0
    chat_max_ms: float = 0.0
    chat_errors: dict[str, int] = field(default_factory=dict)
    chat_error_samples: list[str] = field(default_factory=list)
    chat_timeouts: int = 0
    chat_closed: int = 0
    chat_budget_wait_s: float = 0.0  # summed over senders: waiting for a sub with budget
    chat_rows: int = 0  # rows stored with this round's client_msg_id prefix
    chat_rows_acked: int = 0  # acked client_msg_ids found among them
    chat_missing: int = 0  # acked but not stored: must be 0
    server_us_per_chat: float = 0.0  # (server core use - fanout rounds' median) / chats/s
    pg_us_per_chat: float = 0.0  # the same for the Postgres backends
    drain_s: float = 0.0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


# -- database -----------------------------------------------------------------------


def _with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


class BenchDatabase:
    """A fresh, migrated database with one org and two live events; dropped by ``drop``."""

    def __init__(self, server_dsn: str, run_id: str, chat_rooms: int = 1) -> None:
        self.server_dsn = server_dsn
        self.name = f"livehub_bench_{run_id.replace('-', '_')}_{secrets.token_hex(3)}"
        self.dsn = _with_database(server_dsn, self.name)
        self.org = uuid.uuid4()
        self.event_a = uuid.uuid4()
        self.chat_events = [uuid.uuid4() for _ in range(chat_rooms)]
        self.event_b = self.chat_events[0]
        self.created = False
        self._conn: asyncpg.Connection | None = None

    @property
    def chat_rooms(self) -> list[str]:
        return [f"event:{ev}" for ev in self.chat_events]

    async def create(self, tree: Path = REPO) -> list[str]:
        conn = await asyncio.wait_for(asyncpg.connect(self.server_dsn), 10)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
            self.created = True
        finally:
            await conn.close()
        applied = await asyncio.wait_for(_migrate(self.dsn, tree), 120)
        self._conn = await asyncio.wait_for(asyncpg.connect(self.dsn), 10)
        await self._conn.execute(
            "INSERT INTO organizations (id, name, slug, product_context)"
            " VALUES ($1, $2, $3, 'djdash')", self.org, "Bench club", f"bench-{self.org.hex}")
        for ev, title in [(self.event_a, "fan-out")] + [(e, "chat") for e in self.chat_events]:
            await self._conn.execute(
                "INSERT INTO events (id, organization_id, title, status)"
                " VALUES ($1, $2, $3, 'live')", ev, self.org, title)
        return applied

    async def prefill(self, n: int) -> float:
        """``n`` old chat rows over the chat rooms and 1,000 authors, in one statement;
        returns the seconds it took (then ANALYZE, so plans see the table as it is)."""
        assert self._conn is not None
        t0 = time.monotonic()
        await self._conn.execute(
            "INSERT INTO chat_messages (organization_id, event_id, room, body, status,"
            " client_msg_id, author, created_at)"
            " SELECT $1, ev, 'event:' || ev, 'prefill ' || g, 'visible', 'prefill-' || g,"
            " 'prefill-' || (g % 1000), now() - interval '1 second' * ($3 - g)"
            " FROM generate_series(1, $3) g,"
            " LATERAL (SELECT ($2::uuid[])[1 + g % array_length($2::uuid[], 1)] AS ev) e",
            self.org, self.chat_events, n)
        await self._conn.execute("ANALYZE chat_messages")
        return time.monotonic() - t0

    async def chat_rows(self, tag: str, acked: Sequence[str]) -> tuple[int, int]:
        """Chat rows whose client_msg_id has this round's tag; how many acked ids."""
        assert self._conn is not None
        rows = await self._conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE organization_id = $1"
            " AND client_msg_id LIKE $2", self.org, f"{tag}-%")
        found = await self._conn.fetchval(
            "SELECT count(*) FROM chat_messages WHERE organization_id = $1"
            " AND room = ANY($2::text[]) AND client_msg_id = ANY($3::text[])", self.org,
            self.chat_rooms, list(acked))
        return int(rows), int(found)

    async def room_rows(self) -> int:
        """Every row in chat_messages (prefill and all rounds)."""
        assert self._conn is not None
        return int(await self._conn.fetchval("SELECT count(*) FROM chat_messages"))

    @property
    def conn(self) -> asyncpg.Connection:
        assert self._conn is not None
        return self._conn

    async def backend_pids(self) -> list[int]:
        """Postgres backends serving the benchmark database (the hub's pool), not ours."""
        if self._conn is None:
            return []
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name)
        return [int(r["pid"]) for r in rows]

    async def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        if not self.created:
            return
        conn = await asyncio.wait_for(asyncpg.connect(self.server_dsn), 10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False
        finally:
            await conn.close()


async def _migrate(dsn: str, tree: Path) -> list[str]:
    """Apply ``tree``'s migrations (another checkout's, for before/after runs)."""
    if tree == REPO:
        from persistence.migrate import migrate

        return await migrate(dsn)
    code = ("import asyncio, json, sys; from persistence.migrate import migrate;"
            " print(json.dumps(asyncio.run(migrate(sys.argv[1]))))")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, dsn, cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"migrations of {tree} failed: {err.decode()[-500:]}")
    applied: list[str] = json.loads(out.decode().strip().splitlines()[-1])
    return applied


def _is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "127.0.0.1") in {"127.0.0.1", "localhost", "::1", ""}


# -- CPU accounting -----------------------------------------------------------------


class CpuParties:
    """Reads the CPU of each party in a round: the hub, the subscriber processes, the
    Postgres backends serving the benchmark database (local Postgres only) and the
    redis-server of ``--redis-url`` (local only)."""

    def __init__(self, db: BenchDatabase, redis_proc: psutil.Process | None,
                 pg_local: bool) -> None:
        self.db, self.redis_proc, self.pg_local = db, redis_proc, pg_local
        self._pg: dict[int, psutil.Process] = {}

    async def read(self, server: procs.ServerProcess,
                   fleet: load.SubscriberFleet) -> cpu.CpuReading:
        if self.pg_local:
            with contextlib.suppress(Exception):
                for pid in await self.db.backend_pids():
                    if pid not in self._pg:
                        with contextlib.suppress(psutil.Error):
                            self._pg[pid] = psutil.Process(pid)
        return cpu.read_cpu({
            "server": procs.tree_cpu_s(server.ps),  # with HUB_WORKERS, the workers too
            "clients": fleet.cpu_s(),
            "pg": sum(procs.cpu_s(p) for p in self._pg.values()),
            "redis": procs.cpu_s(self.redis_proc) if self.redis_proc is not None else 0.0,
        })


def _redis_process(url: str) -> psutil.Process | None:
    if not _is_local(url):
        return None
    port = str(urlsplit(url).port or 6379)
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "redis-server" in (proc.info["name"] or "") + cmd and (
                    cmd.endswith(f":{port}") or f":{port} " in cmd or f"--port {port}" in cmd):
                return proc
    return None


# -- chat process -------------------------------------------------------------------


async def start_chat_client(*, port: int, rooms: list[str], org: str, secret: str, tag: str,
                            sub_prefix: str, args: argparse.Namespace,
                            log: Path) -> procs.LineClient:
    staff = args.chat_role != "viewer"
    connections = args.senders * (1 if staff else args.subs_per_sender)
    cmd = [sys.executable, "-m", "loadtests.chat_client", "--port", str(port),
           "--rooms", ",".join(rooms), "--watchers", str(args.watchers),
           "--org", org, "--role", args.chat_role,
           "--senders", str(args.senders), "--connections", str(connections),
           "--per-sub", "0" if staff else "5", "--sub-prefix", sub_prefix, "--tag", tag,
           "--source-ip", "127.0.1.1", "--concurrency", str(args.concurrency),
           "--text-bytes", str(args.text_bytes), "--rate", str(args.chat_rate)]
    return await procs.LineClient.start(cmd, env=dict(os.environ, HUB_SECRET=secret),
                                        log=log, core=args.client_core, limit=1 << 26)


# -- one round ----------------------------------------------------------------------


async def run_round(kind: str, rnd: int, args: argparse.Namespace, db: BenchDatabase,
                    logdir: Path, parties: CpuParties) -> PersistRound:
    chat_on = kind == "fanout+chat"
    res = PersistRound(kind=kind, round=rnd, subscribers=args.subscribers, rate=args.rate,
                       senders=args.senders if chat_on else 0)
    wall0 = time.monotonic()
    tag = f"{'chat' if chat_on else 'fan'}-{rnd}"
    prefix = f"lhbench:{args.run_id}:persist-{tag}"
    msg_tag = f"{args.run_id}-{tag}"  # client_msg_id prefix of this round
    room_a = f"event:{db.event_a}"
    secret = secrets.token_hex(24)
    port = procs.free_port()
    env = {"DATABASE_URL": db.dsn, "HUB_EMBEDDED_PG": "0",
           # The per-connection publish/chat token bucket, out of the way of closed-loop chat.
           "HUB_PUBLISH_RATE": "1000000", "HUB_PUBLISH_BURST": "1000000",
           "HUB_WORKERS": str(args.hub_workers)}
    if os.environ.get("APP_DATABASE_URL"):  # same role and password, benchmark database
        env["APP_DATABASE_URL"] = _with_database(os.environ["APP_DATABASE_URL"], db.name)
    async with load.publisher(args.redis_url, prefix) as broker:
        server = hub.start_hub("hub", port=port, redis_url=args.redis_url, prefix=prefix,
                               secret=secret, log=logdir / f"{tag}.log",
                               core=args.server_core if args.hub_workers == 1 else None,
                               keepalive=args.keepalive, env=env, tree=args.hub_tree)
        fleet = load.SubscriberFleet()
        chat: procs.LineClient | None = None
        try:
            await server.wait_ready()
            if args.hub_workers > 1:  # else the first worker up would get every client
                await procs.wait_listeners(server.ps, port, args.hub_workers)
            await asyncio.sleep(args.settle)
            res.errors.extend(await fleet.connect(
                res, n=args.subscribers, mode="hub", port=port, room=room_a, org=str(db.org),
                secret=secret, args=args, logdir=logdir, tag=tag))
            if chat_on:
                t1 = time.monotonic()
                chat = await start_chat_client(port=port, rooms=db.chat_rooms, org=str(db.org),
                                               secret=secret, tag=msg_tag,
                                               sub_prefix=f"bench-{msg_tag}", args=args,
                                               log=logdir / f"{tag}-chat.log")
                hello = await chat.read(wait_s=120)
                res.chat_connect_s = time.monotonic() - t1
                res.chat_connections = hello["connected"]
                res.chat_watchers = hello.get("watchers", 0)
                res.errors.extend(hello["errors"])
                if res.chat_connections < args.senders:
                    raise RuntimeError(f"only {res.chat_connections} chat connections: "
                                       f"{hello['errors'][:3]}")
            await asyncio.sleep(args.settle)

            async def mark() -> cpu.CpuReading:
                return await parties.read(server, fleet)

            m0 = await mark()
            if chat is not None:
                await chat.ask("start")
            first_ns = await load.publish(res, broker, room_a, args.rate, args.duration)
            chat_report: dict[str, Any] | None = None
            if chat is not None:
                chat_report = await chat.ask("stop", wait_s=60)
            res.drain_s, m1 = await fleet.drain(res.expected, args, mark)
            await fleet.collect(res, first_ns=first_ns, rate=args.rate)
            # The chat process exits after its report, so it measures itself (start .. stop).
            chat_cpu = float(chat_report["cpu_s"]) if chat_report is not None else 0.0
            window = cpu.cpu_window(m0, m1, measured_apart={"chat": chat_cpu})
            res.window_s = window.wall_s
            res.server_cpu_s = window.cpu_s["server"]
            res.server_core_util = window.use("server")
            res.client_core_util = window.use("clients") + window.use("chat")
            res.chat_client_core_util = window.use("chat")
            res.pg_core_util = window.use("pg")
            res.redis_core_util = window.use("redis")
            res.other_core_util = window.use("other")
            if res.received:
                res.cpu_us_per_delivery = res.server_cpu_s * 1e6 / res.received
            if chat_report is not None:
                await _chat_figures(res, chat_report, db, msg_tag)
        finally:
            await asyncio.gather(fleet.stop(), *([chat.stop()] if chat else []))
            await server.stop()
    res.wall_s = time.monotonic() - wall0
    return res


async def _chat_figures(res: PersistRound, report: dict[str, Any], db: BenchDatabase,
                        msg_tag: str) -> None:
    """The chat process's report, and the rows check against the database."""
    acked: list[str] = report["acked_ids"]
    res.chats_acked = report["acked"]
    res.chats_held = report["held"]
    res.chat_errors = report["errors"]
    res.chat_error_samples = report["error_samples"]
    res.chat_timeouts = report["timeouts"]
    res.chat_closed = report["closed"]
    res.chat_budget_wait_s = report["budget_wait_s"]
    if report["unfinished"]:
        res.errors.append(f"{report['unfinished']} chat sender(s) still waiting at stop")
    res.chat_window_s = max(1e-9, (report["last_ack"] or report["t_stop"]) - report["t_start"])
    res.chats_per_s = res.chats_acked / res.chat_window_s
    chist = new_histogram()
    chist.decode_and_add(report["hist"].encode("ascii"))
    if res.chats_acked:
        res.chat_p50_ms = load.percentile_ms(chist, 50)
        res.chat_p99_ms = load.percentile_ms(chist, 99)
        res.chat_max_ms = chist.get_max_value() / 1000
    res.chat_watched = int(report.get("watched", 0))
    res.chat_rows, res.chat_rows_acked = await db.chat_rows(msg_tag, acked)
    res.chat_missing = len(acked) - res.chat_rows_acked
    res.table_rows = await db.room_rows()


def progress_line(res: PersistRound) -> str:
    chat = ""
    if res.kind == "fanout+chat":
        errs = sum(res.chat_errors.values())
        chat = (f"  | chat {res.chats_per_s:6,.0f}/s ({res.chats_acked} acked, "
                f"{res.chat_rows} rows, {res.chat_missing} missing"
                + (f", {errs} errors" if errs else "")
                + (f", {res.chat_timeouts} timeouts" if res.chat_timeouts else "")
                + (f", wait {res.chat_budget_wait_s:.1f}s" if res.chat_budget_wait_s else "")
                + f") ack p50 {res.chat_p50_ms:6.1f} p99 {res.chat_p99_ms:6.1f} ms"
                + f", table {res.table_rows:,} rows")
    return (f"conn {res.connected}  pub {res.published}  "
            f"{res.deliveries_per_s:>7,.0f} deliv/s  loss {res.loss:6.2%}  "
            f"p50 {res.p50_ms:6.1f}  p99 {res.p99_ms:6.1f} ms  "
            f"cpu {res.cpu_us_per_delivery:5.1f} us/deliv  "
            f"core use srv {res.server_core_util:.0%} cli {res.client_core_util:.0%} "
            f"pg {res.pg_core_util:.0%} redis {res.redis_core_util:.0%} "
            f"other {res.other_core_util:.0%}{chat}  ({res.wall_s:.0f}s)")


# -- summary ------------------------------------------------------------------------


def _fill_marginal(results: Sequence[PersistRound]) -> None:
    """Extra server / Postgres CPU per chat, against the fanout rounds' median core use."""
    base = [r for r in results if r.kind == "fanout" and r.received]
    if not base:
        return
    srv = statistics.median(r.server_core_util for r in base)
    pg = statistics.median(r.pg_core_util for r in base)
    for r in results:
        if r.kind == "fanout+chat" and r.chats_per_s:
            r.server_us_per_chat = (r.server_core_util - srv) * 1e6 / r.chats_per_s
            r.pg_us_per_chat = (r.pg_core_util - pg) * 1e6 / r.chats_per_s


def flatness(results: Sequence[PersistRound]) -> dict[str, Any]:
    """Chats/s of the first and last chat rounds (the table grows between them)."""
    chat = [r for r in results if r.kind == "fanout+chat" and r.chats_acked]
    if len(chat) < 2:
        return {}
    first, last = chat[0], chat[-1]
    return {"rounds": len(chat), "first": first.chats_per_s, "last": last.chats_per_s,
            "ratio": last.chats_per_s / first.chats_per_s, "rows_first": first.table_rows,
            "rows_last": last.table_rows}


def summarize(results: Sequence[PersistRound]) -> dict[str, Any]:
    out: dict[str, Any] = {"kinds": {}, "ratio": {}}
    for kind in KINDS:
        rs = [r for r in results if r.kind == kind and r.received]
        if not rs:
            continue
        entry = stats.spread(rs, FANOUT_METRICS + (CHAT_METRICS if kind == "fanout+chat" else ()))
        if kind == "fanout+chat":
            entry["chats_acked_total"] = sum(r.chats_acked for r in rs)
            entry["chat_rows_total"] = sum(r.chat_rows for r in rs)
            entry["chat_missing_total"] = sum(r.chat_missing for r in rs)
            entry["chat_errors_total"] = sum(sum(r.chat_errors.values()) for r in rs)
        out["kinds"][kind] = entry
    a, b = out["kinds"].get("fanout"), out["kinds"].get("fanout+chat")
    if a and b:
        out["ratio"] = stats.ratios(b, a, RATIO_METRICS)
        out["loss_delta"] = b["loss"] - a["loss"]
    return out


def print_table(summary: dict[str, Any]) -> None:
    table = stats.Table(("kind", "rounds", "deliv/s", "loss", "p50 ms", "p99 ms", "max ms",
                   "CPU us/deliv", "srv core", "pg core", "other"),
                  (12, 6, 9, 8, 8, 8, 8, 12, 8, 7, 6))
    table.header("fan-out (event:A), median of rounds")
    for kind, m in summary["kinds"].items():
        table.row(kind, str(m["rounds"]), f"{m['deliveries_per_s']:,.0f}", f"{m['loss']:.2%}",
                  f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", f"{m['max_ms']:.1f}",
                  f"{m['cpu_us_per_delivery']:.1f}", f"{m['server_core_util']:.0%}",
                  f"{m['pg_core_util']:.0%}", f"{m['other_core_util']:.0%}")
    r = summary["ratio"]
    if r:
        ratio = stats.fmt_ratio
        table.row("chat/fanout", "", ratio(r["deliveries_per_s"]), f"{summary['loss_delta']:+.2%}",
                  ratio(r["p50_ms"]), ratio(r["p99_ms"]), "", ratio(r["cpu_us_per_delivery"]),
                  "", "", "")
        print("(loss column of the ratio row: fanout+chat loss - fanout loss)")
    b = summary["kinds"].get("fanout+chat")
    if b:
        print(f"\nchat (event:B), median of {b['rounds']} rounds: "
              f"{b['chats_per_s']:,.0f} chats/s acked "
              f"(min {b['min']['chats_per_s']:,.0f}, max {b['max']['chats_per_s']:,.0f}); "
              f"ack p50 {b['chat_p50_ms']:.1f} ms, p99 {b['chat_p99_ms']:.1f} ms, "
              f"max {b['chat_max_ms']:.1f} ms; "
              f"~{b['server_us_per_chat']:,.0f} us hub CPU and ~{b['pg_us_per_chat']:,.0f} us "
              f"Postgres CPU per chat")
        print(f"rows check: {b['chats_acked_total']} acked, {b['chat_rows_total']} rows stored, "
              f"{b['chat_missing_total']} acked but missing; "
              f"{b['chat_errors_total']} error replies")


def plot(summary: dict[str, Any], path: Path, title: str) -> None:
    plt = plots.pyplot()
    kinds = list(summary["kinds"])
    entries = [summary["kinds"][k] for k in kinds]
    colors = {"fanout": "#1f77b4", "fanout+chat": "#d62728"}
    panels = (("p99_ms", "fan-out p99, ms", 1.0), ("p50_ms", "fan-out p50, ms", 1.0),
              ("deliveries_per_s", "deliveries per second", 1.0), ("loss", "loss, %", 100.0),
              ("cpu_us_per_delivery", "server CPU µs per delivery", 1.0))
    fig, axes = plt.subplots(2, 4, figsize=(17, 8))
    for ax, (metric, name, scale) in zip(list(axes.flat)[:5], panels, strict=True):
        plots.median_bars(ax, range(len(kinds)), entries, metric, width=0.6,
                          color=[colors[k] for k in kinds], scale=scale, capsize=4, fontsize=8)
        ax.set_xticks(range(len(kinds)), kinds, fontsize=8)
        ax.set_title(name, fontsize=10)
        if metric == "loss":
            plots.loss_axis(ax)
        ax.grid(axis="y", alpha=0.3)
    # Who used the 2 cores during the measured window (medians, % of one core).
    ax = axes.flat[5]
    parts = (("server_core_util", "hub", "#1f77b4"), ("pg_core_util", "postgres (bench db)",
             "#9467bd"), ("client_core_util", "clients", "#2ca02c"),
             ("other_core_util", "other processes", "#7f7f7f"))
    for i, m in enumerate(entries):
        bottom = 0.0
        for metric, name, color in parts:
            y = m[metric] * 100
            ax.bar([i], [y], 0.6, bottom=bottom, color=color, label=name if i == 0 else None)
            bottom += y
    ax.set_xticks(range(len(kinds)), kinds, fontsize=8)
    ax.set_title(f"core use in the window, % of one core ({os.cpu_count()} cores)", fontsize=10)
    ax.set_ylim(0, max(100.0 * (os.cpu_count() or 2), *(p.get_y() + p.get_height()
                                                        for p in ax.patches)) * 1.3)
    ax.legend(fontsize=7, ncol=2, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    b = summary["kinds"].get("fanout+chat")
    ax_rate, ax_lat = axes.flat[6], axes.flat[7]
    if b:
        plots.median_bars(ax_rate, [0], [b], "chats_per_s", width=0.5,
                          color=colors["fanout+chat"], capsize=4, fontsize=8)
        ax_rate.set_xticks([0], ["fanout+chat"], fontsize=8)
        ax_rate.set_xlim(-1, 1)
        ax_rate.set_title("chats per second (acked, stored)", fontsize=10)
        for i, metric in enumerate(("chat_p50_ms", "chat_p99_ms", "chat_max_ms")):
            plots.median_bars(ax_lat, [i], [b], metric, width=0.6,
                              color=colors["fanout+chat"], capsize=4, fontsize=8)
        ax_lat.set_xticks(range(3), ["p50", "p99", "max"], fontsize=8)
        ax_lat.set_title("chat ack latency (send .. chat_sent), ms", fontsize=10)
        for ax in (ax_rate, ax_lat):
            ax.grid(axis="y", alpha=0.3)
    plots.save(fig, path, title)


# -- main -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Chat persistence throughput beside fan-out, and its effect on fan-out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--subscribers", "-N", type=int, default=None,
                        help="fan-out subscribers in event:A (default 1000; quick: 200)")
    parser.add_argument("--rate", "-R", type=float, default=None,
                        help="fan-out publish rate, msg/s (default 20)")
    parser.add_argument("--senders", "-K", type=int, default=None,
                        help="closed-loop chat senders (default 50; quick: 10)")
    rounds.add_round_arguments(parser, measured="publish (and chat)", rounds_of="of each kind",
                               quick="N=200, 20 msg/s, K=10, 3 s, 1 round of each kind")
    parser.add_argument("--chat-role", choices=["viewer", "moderator", "dj"], default="viewer",
                        help="role of the chat tokens; staff roles skip the room rules")
    parser.add_argument("--subs-per-sender", type=int, default=None,
                        help="viewer senders: connections (distinct subs) per sender, each "
                             "good for 5 messages per ~11 s (the hub's per-user limit); "
                             "default: enough for --chat-budget-rate")
    parser.add_argument("--chat-budget-rate", type=float, default=1200.0,
                        help="viewer senders: size the sub pool so that the per-user limit "
                             "caps chat at no less than this many msg/s")
    parser.add_argument("--text-bytes", type=int, default=60, help="chat text length")
    parser.add_argument("--chat-rooms", type=int, default=None,
                        help="event rooms the chat senders visit in turn (default 100; quick: 10)")
    parser.add_argument("--watchers", type=int, default=2,
                        help="read-only subscribers per chat room (each chat is fanned out)")
    parser.add_argument("--prefill", type=int, default=0,
                        help="rows to pre-fill chat_messages with (one INSERT ... SELECT "
                             "generate_series) before the rounds")
    parser.add_argument("--postgres", choices=["auto", "shared", "own"], default="auto",
                        help="own: a throwaway cluster preloading pg_stat_statements; auto: "
                             "own unless --database-url's server already preloads it")
    parser.add_argument("--hub-tree", type=Path, default=REPO,
                        help="checkout whose hub runs and whose migrations build the database "
                             "(e.g. a worktree of main for before figures)")
    parser.add_argument("--chat-rate", type=float, default=0.0,
                        help="open loop: offer this many chats/s in all, over the K senders' "
                             "connections, whatever the acks do (default 0: K closed-loop "
                             "senders, each waiting for its ack)")
    parser.add_argument("--hub-workers", type=int, default=1,
                        help="HUB_WORKERS: hub processes sharing the port (SO_REUSEPORT); "
                             "above 1 the hub is not pinned and its CPU is the whole tree's")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or LOCAL_DSN,
                        help="owner/superuser DSN of the Postgres server to create the "
                             "benchmark database on")
    # Raw subscribers leave more of the client core to the chat process.
    load.add_load_arguments(parser, client_impl_default="raw")
    args = parser.parse_args(argv)
    quick = args.quick
    args.subscribers = args.subscribers or (200 if quick else 1000)
    args.rate = args.rate or 20.0
    args.senders = args.senders or (10 if quick else 50)
    args.chat_rooms = args.chat_rooms or (10 if quick else 100)
    rounds.round_defaults(args)
    if not args.subs_per_sender:  # each sub: 5 messages per room per ~11 s window
        args.subs_per_sender = math.ceil(
            args.chat_budget_rate * min(args.duration + 1, 11)
            / (5 * args.chat_rooms * args.senders))
    args.hub_tree = args.hub_tree.resolve()
    if (problem := hub.hub_tree_problem(args.hub_tree)) is not None:
        parser.error(problem)
    if args.chat_rooms > 1000 or args.watchers > 20 or args.prefill > 5_000_000:
        parser.error("bounded runs only: --chat-rooms <= 1000, --watchers <= 20, "
                     "--prefill <= 5000000")
    if args.subscribers > 15000:
        parser.error("at most 15000 subscribers (ulimit -n is 20000 per process)")
    if args.senders > 500 or args.senders * args.subs_per_sender > 10000:
        parser.error("bounded runs only: --senders <= 500, senders x subs-per-sender <= 10000")
    if args.duration > 120 or args.rounds > 10 or args.rate > 1000:
        parser.error("bounded runs only: --duration <= 120, --rounds <= 10, --rate <= 1000")
    args.run_id = report.run_stamp()
    return args


async def amain(args: argparse.Namespace) -> int:
    await redis_keys.ping(args.redis_url)
    procs.pin_self(args.client_core)  # this process publishes from the client core
    cluster: pg_stats.ThrowawayCluster | None = None
    if args.postgres == "own" or (args.postgres == "auto"
                                  and not await pg_stats.preloaded(args.database_url)):
        cluster = pg_stats.ThrowawayCluster()
        await asyncio.to_thread(cluster.start)
        args.database_url = cluster.dsn
    try:
        return await _amain(args, cluster)
    finally:
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)


async def _amain(args: argparse.Namespace, cluster: pg_stats.ThrowawayCluster | None) -> int:
    db = BenchDatabase(args.database_url, args.run_id, args.chat_rooms)
    logdir = report.log_folder("persist", args.run_id)
    plan = rounds.interleave([(args.subscribers, args.rate)], args.rounds, KINDS)
    results: list[PersistRound] = []
    started = time.monotonic()
    total_rows = 0
    statements: list[dict[str, Any]] = []
    prefill_s = 0.0
    try:
        applied = await db.create(args.hub_tree)
        if args.prefill:
            prefill_s = await db.prefill(args.prefill)
            print(f"pre-filled chat_messages with {args.prefill:,} rows in {prefill_s:.1f} s",
                  flush=True)
        await pg_stats.reset(db.conn)
        staff = args.chat_role != "viewer"
        print(f"persist {args.run_id}: database {db.name} ({len(applied)} migrations); "
              f"{len(plan)} rounds ({', '.join(KINDS)} interleaved), N={args.subscribers} "
              f"@{args.rate:g}/s, K={args.senders} {args.chat_role} chat senders"
              + (f" (open loop, {args.chat_rate:,.0f} chats/s offered)" if args.chat_rate
                 else "")
              + ("" if staff else f" x {args.subs_per_sender} subs (per-user limit caps "
                                  f"chat at ~{_budget_rate(args):,.0f}/s)") +
              f", {args.chat_rooms} chat rooms x {args.watchers} watchers"
              f", {args.duration:g} s each; "
              + (f"server core {args.server_core}" if args.hub_workers == 1
                 else f"{args.hub_workers} hub workers, unpinned") + ", clients core "
              f"{args.client_core}; Postgres "
              f"{'own throwaway cluster' if cluster else 'shared server'}, hub from "
              f"{args.hub_tree}; logs in {logdir}", flush=True)
        parties = CpuParties(db, _redis_process(args.redis_url), _is_local(args.database_url))

        async def run(step: tuple[tuple[int, float], int, str]) -> PersistRound:
            _, rnd, kind = step
            return await run_round(kind, rnd, args, db, logdir, parties)

        def failed(step: tuple[tuple[int, float], int, str], error: str) -> PersistRound:
            _, rnd, kind = step
            return PersistRound(kind=kind, round=rnd, subscribers=args.subscribers,
                                rate=args.rate, senders=args.senders, errors=[error])

        def head(step: tuple[tuple[int, float], int, str]) -> str:
            _, rnd, kind = step
            return f"{kind:<11} r{rnd}"

        results = await rounds.run_rounds(plan, run, failed, head, progress_line)
        total_rows = await db.room_rows()
        statements = await pg_stats.top(db.conn, db.name)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(db.drop())
        report.prune_logs(logdir)

    _fill_marginal(results)
    summary = summarize(results)
    total_acked = sum(r.chats_acked for r in results)
    summary["table_rows"], summary["acked_total"] = total_rows, total_acked
    summary["prefill"], summary["prefill_s"] = args.prefill, round(prefill_s, 1)
    summary["flat"] = flatness(results)
    print_table(summary)
    print(f"chat_messages holds {total_rows:,} rows ({args.prefill:,} pre-filled) for "
          f"{total_acked:,} acks over all rounds")
    if summary["flat"]:
        f = summary["flat"]
        print(f"flat over time: chat rounds {f['rounds']}, chats/s first {f['first']:,.0f}, "
              f"last {f['last']:,.0f} (last/first {f['ratio']:.2f})")
    pg_stats.print_top(statements)
    waited = [r for r in results if r.chat_budget_wait_s > 0]
    if waited:
        print(f"NOTE: in {len(waited)} round(s) chat senders waited "
              f"{max(r.chat_budget_wait_s for r in waited):.1f} s (summed over senders) for a "
              "sub with per-user budget left (rooms/services/chat_rules.py: 5 messages per"
              " 10 s per user), so chats/s there is a lower bound; raise --chat-budget-rate"
              " or use --chat-role moderator.")
    rounds.warn_noise([r.other_core_util for r in results], args.noise_warn)
    missing = sum(r.chat_missing for r in results)
    if missing:
        print(f"ERROR: {missing} acknowledged chat message(s) are not in chat_messages")
    stem = f"persist-{args.run_id}"
    report.write_json(args.out, stem, {
        "run_id": args.run_id,
        "wall_s": round(time.monotonic() - started, 1),
        "host": report.host(("websockets", "redis", "asyncpg")),
        "settings": report.settings(args, skip={"database_url"}),  # may hold a password
        "message_bytes": load.MESSAGE_BYTES,
        "summary": summary,
        "pg_stat_statements": statements,
        "postgres": "own throwaway cluster" if cluster else "shared server",
        "hub_tree": str(args.hub_tree),
        "rounds": [r.record() for r in results],
    })
    if summary["kinds"]:
        plot(summary, args.out / f"{stem}.png",
             f"livehub persistence beside fan-out {args.run_id}: N={args.subscribers} "
             f"@{args.rate:g}/s, K={args.senders} {args.chat_role} chat senders, "
             f"{args.duration:g} s per round, {args.rounds} round(s) of each")
    print(f"wrote {report.shown(args.out / stem)}.json and .png "
          f"({time.monotonic() - started:.0f} s total)")
    ok = all(r.received for r in results) and not missing and all(
        r.chats_acked for r in results if r.kind == "fanout+chat")
    return 0 if ok else 1


def _budget_rate(args: argparse.Namespace) -> float:
    """Chat msg/s the viewer sub pool allows (5 messages per sub per ~11 s)."""
    per_sub = 5 * args.chat_rooms / min(float(args.duration) + 1, 11.0)
    return float(args.senders * args.subs_per_sender * per_sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    async def run() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:  # SIGTERM: unwind like Ctrl-C, so the database is dropped
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await amain(args)

    return uvloop.run(run())


if __name__ == "__main__":
    sys.exit(main())
