"""Run the test suite repeatedly beside a busy second hub, to shake out flaky tests.

What a suite run shares with other users of a machine: Redis (the tests' keys carry a
per-test prefix), Postgres (each run makes its own database), free ports (picked by
binding port 0, so another process can take one first: tests/support/hubproc.py retries)
and /tmp (unique names). This script makes all of that busy at once:

* a second hub on the same Redis and Postgres (its own prefix and database), with
  ``--clients`` websocket subscribers and a DJ publishing ``--rate`` messages a second;
* ``--burners`` busy-loop processes, so the suite runs under CPU contention;
* the suite itself (``CI=true``, the README's command without lint), ``--runs`` times in a
  row, on the same Redis (REDIS_URL) and Postgres server.

It prints progress, then one line per run, and writes
``loadtests/results/contention-<time>.json``. It stops everything it started.

    python -m loadtests.contention --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import websockets

from hub.auth import mint_token
from persistence.members import add_member
from persistence.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "loadtests" / "results"
SECRET = "contention-secret-0123456789-0123456789-abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _burn() -> None:
    while True:
        pass


def _start_hub(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub", "run", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("second hub exited early")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("second hub not ready")


async def _database(server_dsn: str) -> str:
    name = f"livehub_contention_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = server_dsn.rsplit("/", 1)[0] + f"/{name}"
    await migrate(dsn)
    return dsn


async def _drop(server_dsn: str, dsn: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


async def _drain(ws: Any, counts: dict[str, int]) -> None:
    async for frame in ws:
        if '"published"' in frame:
            counts["acked"] += 1


async def _progress(counts: dict[str, int], stop: asyncio.Event, every: float = 60) -> None:
    started = time.monotonic()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            print(f"  {time.monotonic() - started:5.0f} s: second hub {counts['published']}"
                  f" published, {counts['received']} delivered,"
                  f" {counts['reconnects']} reconnects", flush=True)


async def _traffic(ws_url: str, org: uuid.UUID, clients: int, rate: float,
                   stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Subscribers that read everything, and a DJ publishing at ``rate``, until ``stop``."""
    room = f"org:{org}"

    async def subscriber(n: int) -> None:
        url = f"{ws_url}?token={mint_token(SECRET, sub=f'fan-{n}', org=org, roles=['viewer'])}"
        while not stop.is_set():
            try:
                async with websockets.connect(url, max_queue=None) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "room": room}))
                    while not stop.is_set():
                        try:
                            await asyncio.wait_for(ws.recv(), 1)
                            counts["received"] += 1
                        except TimeoutError:
                            continue
            except (OSError, websockets.WebSocketException):
                counts["reconnects"] += 1
                await asyncio.sleep(0.5)

    async def dj() -> None:
        url = f"{ws_url}?token={mint_token(SECRET, sub='dj-1', org=org, roles=['dj'])}"
        n = 0
        while not stop.is_set():
            try:
                async with websockets.connect(url, max_queue=None) as ws:
                    # Read the `published` answers, or the hub rightly closes a DJ that
                    # never reads (4008, slow consumer) and the traffic stops.
                    reader = asyncio.create_task(_drain(ws, counts))
                    try:
                        while not stop.is_set():
                            n += 1
                            await ws.send(json.dumps({"type": "publish", "room": room,
                                                      "data": {"n": n}, "id": n}))
                            counts["published"] += 1
                            await asyncio.sleep(1 / rate)
                    finally:
                        reader.cancel()
            except (OSError, websockets.WebSocketException):
                counts["reconnects"] += 1
                await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(subscriber(n)) for n in range(clients)]
    tasks.append(asyncio.create_task(dj()))
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _suite(env: dict[str, str], log: Path) -> dict[str, Any]:
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    summary = next((line for line in reversed(text.splitlines())
                    if re.search(r"\d+ (passed|failed)", line)), "")
    failed = re.findall(r"^FAILED (\S+)", text, flags=re.M)
    return {"exit": code, "seconds": round(time.monotonic() - started, 1),
            "summary": summary.strip("= "), "failed": failed, "log": log.name}


async def amain(args: argparse.Namespace) -> int:
    redis_url = args.redis_url
    server_dsn = args.postgres
    dsn = await _database(server_dsn)
    org = uuid.uuid4()
    await add_member(dsn, org, "dj-1", "dj")
    port = _free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": dsn, "HUB_SECRET": SECRET,
           "HUB_REDIS_PREFIX": f"contention{org.hex[:6]}", "HUB_PORT": str(port),
           "HUB_MAX_CONNECTIONS_PER_ADDRESS": "0", "HUB_PUBLISH_RATE": str(args.rate * 2)}
    hub = _start_hub(env)
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    stop = asyncio.Event()
    counts = {"received": 0, "published": 0, "acked": 0, "reconnects": 0}
    runs: list[dict[str, Any]] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        await asyncio.to_thread(_wait_ready, f"http://127.0.0.1:{port}", hub)
        traffic = asyncio.create_task(_traffic(f"ws://127.0.0.1:{port}/ws", org, args.clients,
                                               args.rate, stop, counts))
        for burner in burners:
            burner.start()
        ticker = asyncio.create_task(_progress(counts, stop))
        suite_env = {**os.environ, "CI": "true", "REDIS_URL": redis_url}
        suite_env.pop("DATABASE_URL", None)  # the suite makes its own database on the server
        for n in range(1, args.runs + 1):
            print(f"run {n}/{args.runs}: suite beside a hub with {args.clients} clients at "
                  f"{args.rate}/s and {args.burners} busy loops ...", flush=True)
            log = RESULTS / f"contention-{stamp}-run{n}.log.tmp"
            result = await asyncio.to_thread(_suite, suite_env, log)
            runs.append(result)
            result["second_hub"] = dict(counts)
            print(f"run {n}: exit {result['exit']} in {result['seconds']} s: "
                  f"{result['summary']}; failed: {result['failed'] or 'none'}; second hub so"
                  f" far: {counts['published']} published, {counts['acked']} acked,"
                  f" {counts['received']} delivered, {counts['reconnects']} reconnects",
                  flush=True)
        stop.set()
        await traffic
        await ticker
    finally:
        stop.set()
        for burner in burners:
            if burner.is_alive():
                burner.terminate()
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(20)
        except subprocess.TimeoutExpired:
            hub.kill()
        await _drop(server_dsn, dsn)
    out = RESULTS / f"contention-{stamp}.json"
    out.write_text(json.dumps({"runs": runs, "second_hub": counts, "clients": args.clients,
                               "rate": args.rate, "burners": args.burners,
                               "cores": os.cpu_count()}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="DJ publishes per second")
    parser.add_argument("--burners", type=int, default=1, help="busy-loop processes")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL",
                                                              "redis://127.0.0.1:6379/0"))
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a superuser DSN on the server the suite also uses")
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
