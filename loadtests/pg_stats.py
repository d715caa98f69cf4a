"""Postgres for ``loadtests/persist.py``: a throwaway cluster with pg_stat_statements, and
the top statements it saw.

``pg_stat_statements`` needs ``shared_preload_libraries``, which a shared server may not
set. ``ThrowawayCluster`` then runs Debian's ``initdb`` + ``pg_ctl`` (as user ``postgres``
when run as root, since Postgres refuses to run as root) in a temporary folder on a free
port, with the library preloaded, trust auth on loopback, and Postgres's defaults otherwise
(``synchronous_commit`` on: an acknowledged chat is on disk). ``stop`` deletes it all.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from loadtests.harness import procs

_TOP = """
SELECT s.calls, s.total_exec_time, s.mean_exec_time, s.rows,
       100 * s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0) AS pct,
       regexp_replace(s.query, '\\s+', ' ', 'g') AS query
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = $1
ORDER BY s.total_exec_time DESC
LIMIT $2
"""


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"no {name} under /usr/lib/postgresql/*/bin (install postgresql)")
    return found[-1]


class ThrowawayCluster:
    """A Postgres cluster of its own, preloading pg_stat_statements; ``stop`` removes it."""

    def __init__(self) -> None:
        self.port = procs.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="livehub-persist-pg-"))
        self.data = self.dir / "data"
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._started = False

    def _run(self, *cmd: str) -> None:
        as_postgres = os.geteuid() == 0
        if as_postgres:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1"
                f" -c unix_socket_directories={self.dir}"
                " -c shared_preload_libraries=pg_stat_statements"
                " -c pg_stat_statements.track=all -c max_connections=200")
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                  "-o", opts, "-w", "-t", "60", "start")
        self._started = True

    def stop(self) -> None:
        if self._started:
            try:
                self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
            except subprocess.CalledProcessError:
                pass
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)


async def preloaded(dsn: str) -> bool:
    """Whether the server at ``dsn`` preloads pg_stat_statements."""
    conn = await asyncio.wait_for(asyncpg.connect(dsn), 10)
    try:
        libs: str = await conn.fetchval("SHOW shared_preload_libraries")
    finally:
        await conn.close()
    return "pg_stat_statements" in libs


async def reset(conn: asyncpg.Connection) -> None:
    """Create the extension in the benchmark database, then zero its counters."""
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    await conn.execute("SELECT pg_stat_statements_reset()")


async def top(conn: asyncpg.Connection, database: str, limit: int = 8) -> list[dict[str, Any]]:
    """The statements with the most execution time in ``database`` since ``reset``."""
    rows = await conn.fetch(_TOP, database, limit)
    return [{"calls": int(r["calls"]), "total_ms": round(float(r["total_exec_time"]), 1),
             "mean_ms": round(float(r["mean_exec_time"]), 4), "rows": int(r["rows"]),
             "pct": round(float(r["pct"] or 0.0), 1), "query": str(r["query"])[:400]}
            for r in rows]


def print_top(statements: list[dict[str, Any]]) -> None:
    print("\npg_stat_statements, benchmark database, by total execution time:")
    print(f"{'calls':>9} {'mean ms':>9} {'% exec':>7}  query")
    for s in statements:
        print(f"{s['calls']:>9,} {s['mean_ms']:>9.3f} {s['pct']:>6.1f}%  {s['query'][:110]}")
