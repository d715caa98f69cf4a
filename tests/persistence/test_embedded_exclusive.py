"""Embedded Postgres belongs to one process, and works as root from a private folder."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from persistence import embedded
from tests.persistence.conftest import within
from tests.support.hubproc import ROOT, HubProcess
from tests.support.services import free_port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir inside a fresh mode-700 folder (as root, the server's user can't enter it)."""
    private = Path(tempfile.mkdtemp(prefix="livehub-private-"))
    path = private / "pg"
    real = embedded.locate(path)
    try:
        yield path
    finally:
        embedded.stop(path)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(real, ignore_errors=True)


def _port(data_dir: Path) -> int:
    return int((embedded.locate(data_dir) / "postmaster.pid").read_text().splitlines()[3])


async def _answers(data_dir: Path) -> bool:
    conn = await within(asyncpg.connect(f"postgresql://postgres@127.0.0.1:{_port(data_dir)}/postgres"))
    try:
        return bool(await within(conn.fetchval("SELECT 1")) == 1)
    finally:
        await conn.close()


async def test_start_from_a_private_folder(data_dir: Path) -> None:
    """A data dir under a mode-700 folder starts (as root: relocated where nobody reaches it)."""
    dsn = await within(asyncio.to_thread(embedded.start, data_dir), 60)
    assert await _answers(data_dir)
    assert dsn.endswith(f":{_port(data_dir)}/postgres")
    if os.geteuid() == 0:
        assert embedded.locate(data_dir).parent == embedded.SHARED_BASE
    await within(asyncio.to_thread(embedded.stop, data_dir), 60)
    assert not (embedded.locate(data_dir) / "postmaster.pid").exists()


async def test_a_held_data_dir_is_refused(data_dir: Path) -> None:
    """A second start on a data dir already held raises InUse and leaves the server up."""
    await within(asyncio.to_thread(embedded.start, data_dir), 60)
    with pytest.raises(embedded.InUse, match="set DATABASE_URL"):
        embedded.start(data_dir)
    assert await _answers(data_dir)


async def test_a_server_left_by_a_dead_process_is_adopted(data_dir: Path) -> None:
    """A process killed with its server running frees the data dir; the next start adopts it."""
    crash = ("import os, signal, sys; from pathlib import Path; from persistence import embedded;"
             f" embedded.start(Path({str(data_dir)!r})); os.kill(os.getpid(), signal.SIGKILL)")
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", crash], cwd=ROOT,
                                   timeout=60, check=False)
    assert proc.returncode == -9
    left = _port(data_dir)
    dsn = await within(asyncio.to_thread(embedded.start, data_dir), 60)
    assert dsn.endswith(f":{left}/postgres")
    await within(asyncio.to_thread(embedded.stop, data_dir), 60)
    assert not (embedded.locate(data_dir) / "postmaster.pid").exists()


async def test_second_hub_run_refuses_to_share_the_embedded_postgres(data_dir: Path) -> None:
    """Without DATABASE_URL a second `hub run` exits 2 saying so; the first keeps its Postgres."""
    env = {"HUB_EMBEDDED_PG": "1", "HUB_PG_DATA_DIR": str(data_dir)}
    first = HubProcess(env)
    try:
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("HUB_") and k not in ("DATABASE_URL", "REDIS_URL")}
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "hub", "run", "--port", str(free_port())],
            cwd=ROOT, env={**full_env, **env}, capture_output=True, text=True, timeout=60,
            check=False)
        assert second.returncode == 2, second.stderr
        assert "in use by another hub process" in second.stderr
        assert "set DATABASE_URL" in second.stderr
        assert await _answers(data_dir)
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", first.port)
            writer.write(b"GET /ready HTTP/1.0\r\n\r\n")
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            writer.close()
    finally:
        assert first.stop() == 0
    assert not (embedded.locate(data_dir) / "postmaster.pid").exists()
