"""Child processes of a benchmark: pinned to a core, logging to a file, measured with psutil."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from loadtests.harness import REPO


def pin(core: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that keeps the child on one core; None leaves it free."""
    if core is None:
        return None

    def run() -> None:
        os.sched_setaffinity(0, {core})

    return run


def pin_self(core: int) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def http_status(port: int, path: str) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def cpu_s(proc: psutil.Process) -> float:
    """utime + stime so far; 0 once the process is gone."""
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return float(t.user + t.system)
    return 0.0


class ServerProcess:
    """A server under test, its output in ``log``; stopped with SIGTERM, SIGKILL after 10 s."""

    def __init__(self, name: str, cmd: Sequence[str], *, port: int, env: Mapping[str, str],
                 log: Path, core: int | None, cwd: Path = REPO) -> None:
        self.name, self.port, self.log = name, port, log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     preexec_fn=pin(core))
        self.ps = psutil.Process(self.proc.pid)

    async def wait_ready(self, path: str = "/ready", wait_s: float = 60.0) -> None:
        """Until ``GET path`` answers 200. Errors name the log file only: result JSON
        records them, and the log folder is printed by the run."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"see {self.log.name}:\n{self.tail()}")
            with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError, IndexError):
                if await http_status(self.port, path) == 200:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {wait_s:.0f} s; see {self.log.name}")

    def cpu_s(self) -> float:
        return cpu_s(self.ps)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def tail(self, n: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    async def stop(self) -> None:
        """SIGTERM, so the server can clean up after itself; SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, 10)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self._log_file.close()


class LineClient:
    """A load process driven over stdin/stdout: one command line in, one JSON line out
    (``fanout_client.py``, ``chat_client.py``). Its stderr goes to ``log``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ps = psutil.Process(proc.pid)

    @classmethod
    async def start(cls, cmd: Sequence[str], *, env: Mapping[str, str], log: Path,
                    core: int | None, limit: int = 1 << 22) -> LineClient:
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=REPO, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, preexec_fn=pin(core), limit=limit)
        return cls(proc)

    def cpu_s(self) -> float:
        return cpu_s(self.ps)

    async def read(self, wait_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), wait_s)
        if not line:
            raise RuntimeError(f"client process {self.proc.pid} exited "
                               f"(code {await self.proc.wait()})")
        obj: dict[str, Any] = json.loads(line)
        return obj

    async def ask(self, command: str, wait_s: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.read(wait_s)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 10)


def tree_cpu_s(proc: psutil.Process) -> float:
    """utime + stime of ``proc`` and its live descendants (a supervisor and its workers)."""
    with contextlib.suppress(psutil.Error):
        return cpu_s(proc) + sum(cpu_s(c) for c in proc.children(recursive=True))
    return 0.0


def tree_rss(proc: psutil.Process) -> int:
    """RSS of ``proc`` and its live descendants, bytes (shared pages counted in each)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += int(p.memory_info().rss)
    return total


async def wait_listeners(proc: psutil.Process, port: int, count: int,
                         wait_s: float = 60.0) -> None:
    """Until ``count`` processes of ``proc``'s tree listen on ``port`` (SO_REUSEPORT
    workers): connections opened earlier would all land on the first one up."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        listening = 0
        with contextlib.suppress(psutil.Error):
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    listening += any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                                     for c in p.net_connections("tcp"))
        if listening >= count:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{count} listener(s) on port {port} not up after {wait_s:.0f} s")
