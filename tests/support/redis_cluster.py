"""A throwaway Redis Cluster for tests: 3 primaries with one replica each, on free
loopback ports in a temporary directory, no persistence, a 1 s node timeout so a killed
primary's replica takes over within a few seconds.

Each node's cluster bus gets a free port of its own (``cluster-port``): the default,
port + 10000, may be taken or past 65535."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from tests.support.services import free_port, unavailable, wait_port

PRIMARIES = 3
NODE_TIMEOUT_MS = 1000


class RedisClusterProcs:
    """Six redis-servers forming one cluster; ``kill`` stops one as a crash would."""

    def __init__(self, tmp: Path) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            unavailable("redis-server and redis-cli (Redis Cluster)")
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._argv: dict[int, list[str]] = {}
        try:
            for _ in range(PRIMARIES * 2):
                port = free_port()
                work = tmp / str(port)
                work.mkdir()
                self._argv[port] = [
                    str(server), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(work), "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port()),
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--repl-diskless-sync-delay", "0"]  # replicas sync at once
                self.start(port)
            subprocess.run(
                [str(cli), "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.procs),
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    def start(self, port: int) -> None:
        """Start (or start again) the node on ``port``; a restarted node reads its
        nodes.conf and rejoins, as a replica if it lost its primary role meanwhile."""
        self.procs[port] = subprocess.Popen(self._argv[port], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        wait_port(port)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.procs)

    def client(self) -> RedisCluster:
        port = next(p for p, proc in self.procs.items() if proc.poll() is None)
        return RedisCluster(host="127.0.0.1", port=port)

    def wait_ok(self, *, replicated: bool = True, timeout: float = 30.0) -> None:
        """Until every live node says the cluster is ok and every slot is served by a live
        primary (after a kill: its replica took over), with a replica each if
        ``replicated``."""
        deadline = time.monotonic() + timeout
        while True:
            live = [port for port, proc in self.procs.items() if proc.poll() is None]
            if all(self._ok(port, replicated) for port in live):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("Redis Cluster did not become ok")
            time.sleep(0.05)

    def _ok(self, port: int, replicated: bool) -> bool:
        try:
            with redis.Redis(port=port, socket_timeout=2) as r:
                if r.cluster("info")["cluster_state"] != "ok":
                    return False
                ranges = r.cluster("slots")
            served = 0
            for first, last, primary, *_ in ranges:
                if not self._alive(primary[1]):
                    return False
                if replicated:  # a replica in sync, ready to take over
                    with redis.Redis(port=primary[1], socket_timeout=2) as r:
                        info = r.info("replication")
                    if info.get("slave0", {}).get("state") != "online":
                        return False
                served += last - first + 1
        except redis.RedisError:
            return False
        return served == 16384

    def _alive(self, port: int) -> bool:
        proc = self.procs.get(int(port))
        return proc is not None and proc.poll() is None

    def primary_of(self, key: str) -> tuple[int, int | None]:
        """The port of the primary serving ``key``'s slot, and of its in-sync replica."""
        with self.client() as rc:
            port = rc.get_node_from_key(key).port
        with redis.Redis(port=port, socket_timeout=2) as r:
            replica = r.info("replication").get("slave0", {})
        return port, (int(replica["port"]) if replica.get("state") == "online" else None)

    def primaries(self) -> list[int]:
        with self.client() as rc:
            return [n.port for n in rc.get_primaries()]

    def move_slot(self, key: str, to_port: int) -> None:
        """Move ``key``'s slot, with its keys, to the primary on ``to_port``: the steps
        ``redis-cli --cluster reshard`` takes for each slot."""
        with self.client() as rc:
            slot = rc.keyslot(key)
            from_port = rc.get_node_from_key(key).port
        with redis.Redis(port=from_port) as src, redis.Redis(port=to_port) as dst:
            src_id, dst_id = src.cluster("myid"), dst.cluster("myid")
            dst.cluster("setslot", slot, "importing", src_id)
            src.cluster("setslot", slot, "migrating", dst_id)
            while keys := src.cluster("getkeysinslot", slot, 100):
                src.migrate("127.0.0.1", to_port, keys, 0, 5000)
            for r in (dst, src):
                r.cluster("setslot", slot, "node", dst_id)

    def fail_over(self, replica: int) -> None:
        """A manual failover: the replica on ``replica`` takes over from its primary,
        which stays up as its replica."""
        with redis.Redis(port=replica) as r:
            r.cluster("failover")

    def kill(self, port: int) -> None:
        self.procs[port].kill()  # SIGKILL: a crash, not a shutdown
        self.procs[port].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def redis_cluster() -> Iterator[RedisClusterProcs]:
    with tempfile.TemporaryDirectory(prefix="redis-cluster-") as tmp:
        cluster = RedisClusterProcs(Path(tmp))
        try:
            yield cluster
        finally:
            cluster.stop()
