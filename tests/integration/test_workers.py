"""HUB_WORKERS=2: real worker processes sharing one port through SO_REUSEPORT, on real Redis.

Each worker is its own node: the ``welcome`` frame names the node, and a worker's node id
ends with its pid, so the frames tell which process serves a connection.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from persistence import embedded
from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, ROOT, HubProcess


def worker_pids(hub: HubProcess) -> set[int]:
    """The supervisor's live hub workers (not multiprocessing's resource tracker)."""
    pids = set()
    for child in psutil.Process(hub.proc.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.Error:  # gone, or a zombie not reaped yet
            pass
    return pids


def served_by(client: Client) -> int:
    """The pid of the worker a client landed on: the tail of its node id."""
    return int(client.welcome["node"].rsplit("-", 1)[1])


async def open_clients(hub: HubProcess, org: object, n: int) -> list[Client]:
    return list(await asyncio.gather(*(
        Client.open(hub.ws_url, token(org, sub=f"fan-{i}")) for i in range(n))))


async def test_connections_spread_and_messages_reach_every_worker(hub_factory, org):
    hub = hub_factory(HUB_WORKERS="2", HUB_MAX_CONNECTIONS_PER_ADDRESS="0")
    pids = worker_pids(hub)
    assert len(pids) == 2
    clients = await open_clients(hub, org, 200)
    per_worker = Counter(served_by(c) for c in clients)
    assert set(per_worker) == pids  # both processes serve, and nothing else does
    assert min(per_worker.values()) >= 40, per_worker  # the kernel spreads them
    room = f"org:{org}"
    await asyncio.gather(*(c.subscribe(room) for c in clients))
    async with httpx.AsyncClient(base_url=hub.url, timeout=10,
                                 headers={"X-API-Key": API_KEY}) as http:
        for seq in range(3):  # each publish lands on one worker; Redis carries it to both
            resp = await http.post(f"/api/rooms/{room}/publish", json={"seq": seq})
            assert resp.status_code == 200, resp.text
            frames = await asyncio.gather(*(c.recv("message") for c in clients))
            assert [f["data"] for f in frames] == [{"seq": seq}] * len(clients)
    await asyncio.gather(*(c.close() for c in clients))


async def test_sigterm_drains_every_worker_then_exits_0(hub_factory, org):
    hub = hub_factory(HUB_WORKERS="2", HUB_DRAIN_SECONDS="3")
    pids = worker_pids(hub)
    clients = await open_clients(hub, org, 40)
    assert {served_by(c) for c in clients} == pids
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        hub.terminate()
        signalled = time.monotonic()

        async def draining() -> None:
            while (await http.get("/ready")).status_code != 503:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(draining(), 5)
        await asyncio.sleep(0.3)  # the signal reaches both workers at once, give or take
        # New connections land on either worker: every one of them is draining.
        statuses = [(await http.get("/ready")).status_code for _ in range(16)]
        assert statuses == [503] * 16
        assert hub.proc.poll() is None
    for client in clients:  # still served during the drain, then closed as "restart"
        await client.send({"type": "ping", "id": 1})
        assert (await client.recv("pong"))["id"] == 1
    for client in clients:
        await asyncio.wait_for(client.ws.wait_closed(), 15)
        assert client.ws.close_code == 1012
    assert await asyncio.to_thread(hub.proc.wait, 20) == 0
    assert time.monotonic() - signalled >= 2.5
    assert not [pid for pid in pids if psutil.pid_exists(pid)]  # no orphaned worker


async def test_a_killed_worker_is_replaced(hub_factory, org):
    hub = hub_factory(HUB_WORKERS="2")
    before = worker_pids(hub)
    victim = min(before)
    survivor_clients = [c for c in await open_clients(hub, org, 30)
                        if served_by(c) != victim]
    os.kill(victim, 9)
    deadline = time.monotonic() + 30
    while (len(worker_pids(hub)) < 2 or victim in worker_pids(hub)):
        assert time.monotonic() < deadline, hub.log()
        await asyncio.sleep(0.1)
    replacement = (worker_pids(hub) - before).pop()
    # It serves: some new connection lands on it, once it is listening.
    deadline = time.monotonic() + 60
    while True:
        clients = await open_clients(hub, org, 10)
        landed = {served_by(c) for c in clients}
        await asyncio.gather(*(c.close() for c in clients))
        if replacement in landed:
            break
        assert time.monotonic() < deadline, hub.log()
        await asyncio.sleep(0.2)
    assert f"(pid {victim}) died (signal 9)" in hub.log()
    for client in survivor_clients:  # the other worker's connections were not touched
        await client.send({"type": "ping", "id": 2})
        assert (await client.recv("pong"))["id"] == 2
    assert hub.stop() == 0


def test_workers_without_redis_are_refused():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUB_") and k not in {"REDIS_URL", "DATABASE_URL"}}
    done = subprocess.run([sys.executable, "-m", "hub", "run", "--workers", "2", "--port", "1"],
                          cwd=ROOT, env={**env, "HUB_EMBEDDED_PG": "0"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "HUB_WORKERS=2 needs REDIS_URL" in done.stderr


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """An embedded Postgres data dir of this test's own, removed afterwards."""
    private = Path(tempfile.mkdtemp(prefix="livehub-workers-"))
    path = private / "pg"
    real = embedded.locate(path)
    try:
        yield path
    finally:
        embedded.stop(path)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(real, ignore_errors=True)


async def test_workers_share_the_supervisors_embedded_postgres(redis_url, prefix, data_dir):
    """The supervisor starts and migrates the embedded server once; every worker connects to
    it; it is stopped after the workers."""
    hub = HubProcess({"REDIS_URL": redis_url, "HUB_REDIS_PREFIX": prefix, "HUB_WORKERS": "2",
                      "HUB_EMBEDDED_PG": "1", "HUB_PG_DATA_DIR": str(data_dir)})
    try:
        pid_file = embedded.locate(data_dir) / "postmaster.pid"
        pg_port = int(pid_file.read_text().splitlines()[3])
        workers = worker_pids(hub)
        assert len(workers) == 2

        def on_postgres() -> set[int]:
            return {pid for pid in workers
                    if any(c.raddr and c.raddr.port == pg_port
                           for c in psutil.Process(pid).net_connections("tcp"))}

        deadline = time.monotonic() + 30
        while on_postgres() != workers:  # each worker holds its own pool
            assert time.monotonic() < deadline, hub.log()
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
            assert [(await http.get("/ready")).status_code for _ in range(8)] == [200] * 8
    finally:
        assert hub.stop() == 0
    assert not pid_file.exists()  # the supervisor stopped it once the workers were gone
