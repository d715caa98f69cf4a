"""``make load``: locust against a hub, headless and bounded; see loadtests/README.md.

This process does the set-up locust must not (locust's gevent has to be imported before
anything that loads ssl, and the hub's packages do): unless ``--host`` names a running
hub, it starts one (Redis from ``REDIS_URL`` or the local one, else the in-process
broker; Postgres: a fresh database on ``DATABASE_URL``'s server, dropped afterwards, or
else an embedded one under ``.livehub/load-pg``), with a local Stripe stand-in
(``tests/support/fake_stripe.py``) so tips go through checkout and a signed webhook.
Then ``hub seed`` writes the tokens, and ``locust -f loadtests/locustfile.py`` runs in its
own process with ``--processes``; its master prints progress, holds the connections
for ``--duration`` once they are up, and writes ``loadtests/results/locust-<time>.json``,
``.png`` and the ``--csv`` files. Everything started here is stopped here.

    .venv/bin/python -m loadtests.load --users 10000 --duration 60s
    .venv/bin/python -m loadtests.load --users 200 --duration 20s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: python loadtests/load.py
    sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from loadtests import load_probe, soak  # noqa: E402
from loadtests.harness import hub as hubs  # noqa: E402
from loadtests.harness import procs, redis_keys, report  # noqa: E402

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
EMBEDDED_DIR = ".livehub/load-pg"
CONNECT_GRACE = 60  # as loadtests.locust_report: the longest wait for every connection


def duration(text: str) -> float:
    """``60s``, ``2m``, ``90``: seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (60s, 2m, 90)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtests.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=100, help="concurrent users (connections)")
    p.add_argument("--duration", type=duration, default=60.0,
                   help="how long to hold them once all are connected (60s, 2m)")
    p.add_argument("--spawn-rate", type=float, default=0,
                   help="users started per second (default: min(users, 80): the hub's"
                        " subscribes read Postgres, about 100/s on two cores)")
    p.add_argument("--processes", type=int, default=0,
                   help="locust worker processes (default: one per 3,500 users, at least 2"
                        " from 1,000 users)")
    p.add_argument("--users-per-room", type=int, default=500,
                   help="users per event room: one org and live event per this many")
    p.add_argument("--per-address", type=int, default=200,
                   help="connections per loopback source address (the hub caps 256)")
    p.add_argument("--pace", type=float, default=1.0,
                   help="speed every user's actions up by this factor (tests: 5)")
    p.add_argument("--host", default="",
                   help="a running hub's base URL; default: start one")
    p.add_argument("--seed", type=Path, default=None,
                   help="with --host: a `hub seed` JSON to use instead of seeding")
    p.add_argument("--stripe-webhook-secret", default="",
                   help="with --host: the hub's STRIPE_WEBHOOK_SECRET; without it no tips")
    p.add_argument("--hub-pid", type=int, default=0,
                   help="with --host: the hub's pid, for its RSS (local hubs only)")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""),
                   help=f"Redis for the hub started here (default: REDIS_URL, else"
                        f" {LOCAL_REDIS} when it answers, else the in-process broker)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""),
                   help="owner DSN of a Postgres server: a fresh database on it, dropped"
                        f" at the end (default: DATABASE_URL, else embedded in {EMBEDDED_DIR})")
    p.add_argument("--out", type=Path, default=REPO / "loadtests" / "results")
    p.add_argument("--soak", action="store_true",
                   help="sample the hub, Redis and Postgres every --sample-every s over the"
                        " run and judge whether each series stays flat (loadtests/soak.py);"
                        " exits 1 when one does not")
    p.add_argument("--sample-every", type=float, default=10.0,
                   help="with --soak: seconds between samples")
    p.add_argument("--history-size", type=int, default=0,
                   help="HUB_HISTORY_SIZE of the hub started here (default: the hub's, 1000;"
                        " with --soak 100, so every room's stream reaches its cap in the"
                        " warm-up and later growth is not the streams filling)")
    p.add_argument("--shared-redis", action="store_true",
                   help="with --soak: use --redis-url rather than a redis-server of its own"
                        " (used_memory is then the whole server's, other users' keys included)")
    args = p.parse_args(argv)
    if args.soak and args.host:
        p.error("--soak samples a hub started here: leave out --host")
    if args.soak and not 0.5 <= args.sample_every <= 60:
        p.error("--sample-every must be 0.5..60 s")
    if args.users < 1 or args.duration <= 0 or not 0 < args.pace <= 5:
        p.error("--users and --duration must be positive, --pace 0..5 (past 5 a chatter"
                " outruns the hub's 5 chats per 10 s)")
    if not 1 <= args.users_per_room <= 10_000:
        p.error("--users-per-room must be 1..10000 (hub seed mints at most 10000 per org)")
    args.spawn_rate = args.spawn_rate or float(min(args.users, 80))
    if args.soak and not args.history_size:
        args.history_size = 100
    if not args.processes:
        args.processes = max(math.ceil(args.users / 3500), 2 if args.users >= 1000 else 1)
    return args


# -- Postgres -------------------------------------------------------------------------------


def _with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


class LoadDatabase:
    """A fresh, empty database on a server (the hub migrates it); dropped by ``drop``."""

    def __init__(self, server_dsn: str, run_id: str) -> None:
        self.server_dsn = server_dsn
        self.name = f"livehub_load_{run_id.replace('-', '_')}_{secrets.token_hex(3)}"
        self.dsn = _with_database(server_dsn, self.name)
        self.created = False

    async def create(self) -> None:
        conn = await asyncio.wait_for(asyncpg.connect(self.server_dsn), 10)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
            self.created = True
        finally:
            await conn.close()

    async def drop(self) -> None:
        if not self.created:
            return
        conn = await asyncio.wait_for(asyncpg.connect(self.server_dsn), 10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False
        finally:
            await conn.close()


async def enable_payments(owner_dsn: str, accounts: dict[str, str]) -> None:
    """Each org as if its Stripe onboarding had finished: an account, charges enabled."""
    conn = await asyncio.wait_for(asyncpg.connect(owner_dsn), 10)
    try:
        for org, account in accounts.items():
            await conn.execute("UPDATE organizations SET stripe_account_id = $2,"
                               " charges_enabled = true WHERE id = $1", uuid.UUID(org), account)
    finally:
        await conn.close()


async def _redis_url(wanted: str) -> str:
    """``--redis-url``, else the local Redis when it answers, else '' (in-process broker)."""
    if wanted:
        return wanted
    try:
        await asyncio.wait_for(redis_keys.ping(LOCAL_REDIS), 3)
        return LOCAL_REDIS
    except Exception:
        return ""


# -- the run --------------------------------------------------------------------------------


class Setup:
    """What this process started, so everything is stopped whatever happens."""

    def __init__(self, args: argparse.Namespace, run_id: str) -> None:
        self.args, self.run_id = args, run_id
        self.tmp = Path(tempfile.mkdtemp(prefix=f"livehub-load-{run_id}-"))  # secrets
        self.logs = report.log_folder("load", run_id)  # kept when anything is in them
        self.hub: procs.ServerProcess | None = None
        self.db: LoadDatabase | None = None
        self.stripe: Any = None
        self.redis_url = ""
        self.prefix = f"load{secrets.token_hex(4)}"
        self.env: dict[str, str] = {}
        self.redis: procs.ServerProcess | None = None  # --soak: a redis-server of its own

    async def start_hub(self) -> tuple[str, int, int]:
        """(base URL, pid, RSS before any user) of a freshly started hub."""
        from tests.support.fake_stripe import FakeStripe

        args = self.args
        if args.soak and not args.shared_redis:
            self.redis, self.redis_url = await soak.own_redis(self.logs / "redis.log")
        else:
            self.redis_url = await _redis_url(args.redis_url)
        env = {"HUB_SECRET": secrets.token_hex(32), "HUB_DRAIN_SECONDS": "0",
               "HUB_MAX_CONNECTIONS_PER_ADDRESS": "256"}  # the default: we spread addresses
        if args.history_size:
            env["HUB_HISTORY_SIZE"] = str(args.history_size)
        if args.database_url:
            self.db = LoadDatabase(args.database_url, self.run_id)
            await self.db.create()
            env |= {"DATABASE_URL": self.db.dsn, "HUB_EMBEDDED_PG": "0"}
            if os.environ.get("APP_DATABASE_URL"):
                env["APP_DATABASE_URL"] = _with_database(os.environ["APP_DATABASE_URL"],
                                                         self.db.name)
        else:
            env |= {"DATABASE_URL": "", "HUB_EMBEDDED_PG": "1", "HUB_PG_DATA_DIR": EMBEDDED_DIR}
        self.stripe = await FakeStripe().start()
        env |= self.stripe.env()
        port = procs.free_port()
        self.hub = hubs.start_hub("hub", port=port, redis_url=self.redis_url,
                                  prefix=self.prefix, secret=env["HUB_SECRET"],
                                  log=self.logs / "hub.log", core=None, keepalive=True, env=env)
        self.env = env
        await self.hub.wait_ready(wait_s=180)  # an embedded Postgres may run initdb first
        await asyncio.sleep(1)  # settle before the baseline RSS
        return f"http://127.0.0.1:{port}", self.hub.proc.pid, self.hub.rss()

    def owner_dsn(self) -> str:
        if self.db is not None:
            return self.db.dsn
        from persistence import embedded

        return embedded.running_dsn(REPO / EMBEDDED_DIR) or ""

    def seed(self, rooms: int, fans: int) -> dict[str, Any]:
        out = self.tmp / "seed.json"
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env,
               "REDIS_URL": self.redis_url, "HUB_REDIS_PREFIX": self.prefix}
        subprocess.run([sys.executable, "-m", "hub", "seed", "--orgs", str(rooms),
                        "--events", "1", "--fans", str(fans), "--out", str(out)],
                       cwd=REPO, env=env, check=True, timeout=300)
        seeded: dict[str, Any] = json.loads(out.read_text())
        return seeded

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
            if self.hub.proc.returncode not in (0, -15):
                print(f"hub exited with {self.hub.proc.returncode}:\n{self.hub.tail()}")
        if self.stripe is not None:
            await self.stripe.stop()
        if self.db is not None:
            with contextlib.suppress(Exception):
                await self.db.drop()
        if self.redis is not None:
            await self.redis.stop()
            if self.redis.proc.returncode in (0, -15):
                self.redis.log.unlink(missing_ok=True)  # its start-up banner only
        elif self.redis_url:
            await redis_keys.drop_keys(self.redis_url, self.prefix)
        shutil.rmtree(self.tmp, ignore_errors=True)  # tokens and the plan: not kept
        report.prune_logs(self.logs)


async def run_locust(args: argparse.Namespace, plan_path: Path, host: str, name: str,
                     logs: Path) -> int:
    ramp = args.users / args.spawn_rate
    limit = int(ramp * 3 + CONNECT_GRACE + args.duration + 30)  # a bound; the master quits sooner
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"),
           "--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
           "--run-time", f"{limit}s", "--processes", str(args.processes),
           "--host", host, "--plan", str(plan_path), "--csv", str(args.out / name),
           "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "3"]
    # Master and workers meet on a free loopback port, not locust's fixed 5557, which
    # another locust run on the machine may hold.
    port = str(procs.free_port())
    cmd += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port,
            "--master-host", "127.0.0.1", "--master-port", port]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    with (logs / "locust.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, env=env,
                                                    stderr=log, stdout=None)
        try:
            return await asyncio.wait_for(proc.wait(), limit + 60)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        finally:
            if proc.returncode not in (0, 1):  # 1: locust saw failures (reported in JSON)
                print((logs / "locust.log").read_text(errors="replace")[-3000:])


def _probe_line(probe: dict[str, Any] | None) -> str:
    if not probe or not probe.get("count"):
        return "probe: no timed deliveries"
    return (f"probe (asyncio, {probe['listeners']} listeners, outside locust): p50"
            f" {probe['p50_ms']} ms, p99 {probe['p99_ms']} ms (n={probe['count']})")


def summary_lines(doc: dict[str, Any]) -> list[str]:
    s = doc["summary"]
    lat = s["latency_ms"]
    rss = s["hub_rss_per_connection"]
    return [
        f"users {s['users']}: held {s['connections_min_in_hold']} connections (min) for "
        f"{s['hold_seconds']:.0f} s; {s['connections_at_end']} open at the end,"
        f" {s['connect_failures']} failed connects",
        f"deliveries {s['deliveries_per_s']:.0f}/s ({s['deliveries_in_hold']} in the hold);"
        f" chat {s['chats_per_s']:.1f}/s",
        f"delivery latency p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms"
        f" ({lat['count']} timed deliveries)",
        "by kind: " + ", ".join(f"{k} p50 {v['p50_ms']} p99 {v['p99_ms']} ms (n={v['count']})"
                                for k, v in s["latency_by_kind_ms"].items()),
        _probe_line(s.get("probe_latency_ms")),
        f"errors by code: {s['errors_by_code'] or 'none'} (unexpected: {s['unexpected_errors']})",
        "hub RSS " + (f"{s['hub_rss_at_end'] / 1e6:.0f} MB, {rss / 1024:.1f} KiB per connection"
                      if rss else "not measured"),
    ]


async def amain(args: argparse.Namespace) -> int:
    run_id = report.run_stamp()
    name = f"soak-{run_id}-locust" if args.soak else f"locust-{run_id}"
    setup = Setup(args, run_id)
    rooms = max(1, math.ceil(args.users / args.users_per_room))
    try:
        if args.host:
            host, pid, rss0 = args.host.rstrip("/"), args.hub_pid, 0
            with contextlib.suppress(Exception):
                import psutil

                rss0 = int(psutil.Process(pid).memory_info().rss) if pid else 0
            secret = args.stripe_webhook_secret or os.environ.get("STRIPE_WEBHOOK_SECRET", "")
        else:
            host, pid, rss0 = await setup.start_hub()
            secret = setup.stripe.webhook_secret
            print(f"hub {host} (pid {pid}, Redis {setup.redis_url or 'none: in-process'},"
                  f" Postgres {setup.db.name if setup.db else 'embedded'}), RSS"
                  f" {rss0 / 1e6:.0f} MB")
        fans = math.ceil(args.users / rooms) + 2 * args.processes + 2
        seeded = (json.loads(args.seed.read_text()) if args.seed
                  else setup.seed(rooms, min(fans, 10_000)))
        orgs = seeded["orgs"][:rooms] if not args.seed else seeded["orgs"]
        if not args.host:
            await enable_payments(setup.owner_dsn(),
                                  {o["org"]: setup.stripe.add_account() for o in orgs})
        claims = setup.tmp / "claims"
        claims.mkdir()
        plan = {
            "ws_url": host.replace("http", "ws", 1) + "/ws", "orgs": orgs,
            "stripe": {"secret": secret} if secret else None,
            "hub_pid": pid or None, "hub_rss_before": rss0 or None,
            "claims_dir": str(claims), "per_address": args.per_address,
            "processes": args.processes, "users": args.users, "duration": args.duration,
            "pace": args.pace,
            # --soak: the master marks the hold's start here, and prints every 30 s only
            # (the sampler prints its own line every --sample-every s).
            "hold_file": str(setup.tmp / "holding") if args.soak else None,
            "print_every": 30.0 if args.soak else 0.0,
            "out": str(args.out), "name": name,
            "settings": {**report.settings(args, skip={"database_url", "redis_url", "seed",
                                                       "stripe_webhook_secret", "out"}),
                         "rooms": len(orgs), "hub": "started" if not args.host else "--host",
                         "tree": report.git_rev(REPO), "cpus": os.cpu_count()},
        }
        plan_path = setup.tmp / "plan.json"
        plan_path.write_text(json.dumps(plan))
        print(f"locust: {args.users} users in {len(orgs)} room(s), {args.processes} worker"
              f" process(es), {args.spawn_rate:.0f} users/s, hold {args.duration:.0f} s")
        started = time.monotonic()
        probe = load_probe.for_plan(plan)
        probe.start()
        sampler, sampling = None, None
        if args.soak:
            assert setup.hub is not None
            dsn = setup.owner_dsn()
            sampler = soak.Sampler(pid=pid, port=setup.hub.port, redis_url=setup.redis_url,
                                   pg_dsn=dsn, database=urlsplit(dsn).path.lstrip("/"),
                                   every=args.sample_every, hold_file=setup.tmp / "holding")
            sampling = asyncio.create_task(sampler.run())
        try:
            code = await run_locust(args, plan_path, host, name, setup.logs)
        finally:
            await probe.stop()
            if sampling is not None:
                sampling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampling
        results = args.out / f"{name}.json"
        if not results.exists():
            print(f"locust exited {code} without results")
            return 2
        doc = json.loads(results.read_text())
        doc["summary"]["probe_latency_ms"] = probe.summary(args.duration)
        results.write_text(json.dumps(doc, indent=1))
        print(f"\n{name} ({time.monotonic() - started:.0f} s):")
        for line in summary_lines(doc):
            print("  " + line)
        print(f"  results: {report.shown(results)} (+ .png, {name}_*.csv)")
        s = doc["summary"]
        held = s["connections_min_in_hold"] >= args.users
        flat = True
        if sampler is not None:
            flat = soak_record(args, f"soak-{run_id}", sampler, doc, results)
        return 0 if held and s["unexpected_errors"] == 0 and flat else 1
    finally:
        await setup.stop()


def soak_record(args: argparse.Namespace, name: str, sampler: soak.Sampler,
                locust_doc: dict[str, Any], locust_json: Path) -> bool:
    """The soak's JSON, CSV and PNG beside locust's; prints the verdict; True when flat."""
    verdict = soak.verdict(sampler.samples, float(locust_doc["summary"]["hold_seconds"]))
    doc = {"bench": "soak", "run": name, "settings": locust_doc["settings"],
           "sample_every_s": args.sample_every, "locust": report.repo_relative(locust_json),
           "locust_summary": locust_doc["summary"], "verdict": verdict,
           "samples": sampler.samples}
    path = report.write_json(args.out, name, doc)
    soak.write_csv(args.out / f"{name}.csv", sampler.samples)
    soak.plot(args.out / f"{name}.png", sampler.samples, verdict,
              f"{name}: {args.users} users")
    for text in soak.verdict_lines(verdict):
        print("  " + text)
    print(f"  soak results: {report.shown(path)} (+ .csv, .png)")
    flat: bool = verdict["flat"]
    return flat


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
