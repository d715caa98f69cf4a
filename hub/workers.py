"""``HUB_WORKERS=N``: N hub processes on one port, so one node uses every core.

``hub run`` becomes a supervisor. It has already started the embedded Postgres (if
any) and applied the migrations, once; then it spawns N workers (multiprocessing
``spawn``: a fresh interpreter, never a fork of a process with threads or a loop).
Each worker is a whole hub (its own ``Hub``, event loop, broker connections and
node id) listening on its own socket bound with ``SO_REUSEPORT`` to the same
host:port, so the kernel spreads new connections over the workers. The workers
meet through Redis, as separate nodes do: N > 1 is refused without ``REDIS_URL``,
since an in-process broker would make each worker an island.

Signals: SIGTERM is passed on, so every worker drains as a single hub does, and
the supervisor exits 0 once they are gone; SIGINT stops them without the drain. A
worker that dies on its own is logged and started again after a backoff (0.5 s,
doubling to 30 s; reset once a worker has lived a minute). A worker that fails
before its first start is complete stops the whole node, with its exit code.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

import msgspec

from hub.settings import Parts, Settings

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # a worker alive this long resets its slot's backoff
LISTEN_BACKLOG = 2048  # uvicorn's default


def refusal(settings: Settings) -> str | None:
    """Why this node cannot run ``settings.workers`` processes, or None."""
    n = settings.workers
    if n > 1 and not settings.redis_url:
        return (f"HUB_WORKERS={n} needs REDIS_URL: with the in-process broker each worker "
                "would hold its own rooms, presence and history, and a message published "
                "on one would never reach clients of another")
    if n > 1 and settings.port == 0:
        return f"HUB_WORKERS={n} needs a fixed port: with port 0 each worker would get its own"
    return None


def listening_socket(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    """A TCP listener on host:port; with ``reuse_port``, one of a ``SO_REUSEPORT`` group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def serve_worker(index: int, settings: Settings, parts: Parts, log_level: str,
                 ready: Connection, parent_pid: int) -> None:
    """A worker process's main: one hub on its own SO_REUSEPORT socket."""
    from hub import server

    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the supervisor only, which passes it on
    logging.basicConfig(level=log_level.upper(),
                        format=f"%(asctime)s %(levelname)s %(name)s [w{index}] %(message)s")
    # A node id per process: presence and room ownership are per node.
    settings = msgspec.structs.replace(
        settings, node_id=f"{settings.node_id}-w{index}-{os.getpid()}")
    sock = listening_socket(settings.host, settings.port)

    def started() -> None:
        ready.send(os.getpid())
        ready.close()

    srv = server.build(settings, parts, log_level=log_level, parent_pid=parent_pid,
                       on_started=started)
    # uvicorn re-raises the stop signal against these once it has shut down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    srv.run(sockets=[sock])
    if not srv.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE


@dataclass
class _Slot:
    index: int
    proc: BaseProcess | None = None
    ready: Connection | None = None
    started_at: float = 0.0
    ever_up: bool = False  # some process of this slot was serving
    failures: int = 0  # deaths in a row, for the backoff
    restart_at: float | None = None


class Supervisor:
    """Starts ``settings.workers`` workers, passes signals on, replaces the dead."""

    def __init__(self, settings: Settings, parts: Parts, log_level: str) -> None:
        self.settings, self.parts, self.log_level = settings, parts, log_level
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(settings.workers)]
        self._signals: list[int] = []

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (returns 0 once every worker is gone), or until
        a worker fails at its first start (returns that worker's exit code)."""
        s = self.settings
        try:  # a clear error now, instead of N workers failing one by one
            listening_socket(s.host, s.port, reuse_port=False).close()
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", s.host, s.port, exc)
            return 1
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for slot in self._slots:
            self._spawn(slot)
        code = self._watch()
        self._stop()
        return code

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)  # acted on by _watch, outside the handler

    def _spawn(self, slot: _Slot) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=serve_worker, name=f"hub-worker-{slot.index}", daemon=False,
            args=(slot.index, self.settings, self.parts, self.log_level, writer, os.getpid()))
        proc.start()
        writer.close()  # the worker holds the other end; EOF on it means it died
        slot.proc, slot.ready = proc, reader
        slot.started_at, slot.restart_at = time.monotonic(), None
        log.info("worker %d started (pid %d)", slot.index, proc.pid)

    def _watch(self) -> int:
        while not self._signals:
            handles: list[object] = [s.proc.sentinel for s in self._slots if s.proc]
            handles += [s.ready for s in self._slots if s.ready is not None]
            wait(handles, timeout=0.2)  # type: ignore[arg-type]  # sentinels and connections
            now = time.monotonic()
            for slot in self._slots:
                self._read_ready(slot)
                if slot.proc is not None and slot.proc.exitcode is not None:
                    if not slot.ever_up:
                        log.error("worker %d failed to start (exit code %s): stopping",
                                  slot.index, slot.proc.exitcode)
                        return slot.proc.exitcode or 1
                    self._died(slot, now)
                if slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
                    self._spawn(slot)
        return 0

    def _read_ready(self, slot: _Slot) -> None:
        if slot.ready is None or not slot.ready.poll():
            return
        try:
            slot.ready.recv()
            slot.ever_up = True
            log.info("worker %d serving on %s:%d", slot.index, self.settings.host,
                     self.settings.port)
        except EOFError:
            pass  # it died before serving: its exit code says the rest
        slot.ready.close()
        slot.ready = None

    def _died(self, slot: _Slot, now: float) -> None:
        assert slot.proc is not None
        code = slot.proc.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if now - slot.started_at >= STABLE_AFTER:
            slot.failures = 0
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** slot.failures)
        slot.failures += 1
        log.error("worker %d (pid %d) died (%s); starting another in %.1f s",
                  slot.index, slot.proc.pid, how, delay)
        slot.proc.close()
        if slot.ready is not None:
            slot.ready.close()
        slot.proc, slot.ready, slot.restart_at = None, None, now + delay

    def _stop(self) -> None:
        """Pass each stop signal on, wait for the drain, then SIGKILL what is left."""
        s = self.settings
        grace = s.drain_seconds + s.shutdown_timeout + 10
        deadline = time.monotonic() + grace
        if not self._signals:  # a worker failed to start: stop the others as on SIGTERM
            self._signals.append(signal.SIGTERM)
        live = [slot.proc for slot in self._slots if slot.proc is not None]
        log.info("stopping %d worker(s) (%s)", len(live), signal.Signals(self._signals[0]).name)
        sent = 0
        while any(p.exitcode is None for p in live) and time.monotonic() < deadline:
            for sig in self._signals[sent:]:  # a second SIGTERM or a SIGINT skips the drain
                for proc in live:
                    if proc.exitcode is None and proc.pid is not None:
                        os.kill(proc.pid, sig)
            sent = len(self._signals)
            wait([p.sentinel for p in live if p.exitcode is None], timeout=0.2)
        for proc in live:
            if proc.exitcode is None:
                log.error("worker pid %s did not stop within %.0f s: killing it",
                          proc.pid, grace)
                proc.kill()
                proc.join(5)
            elif proc.exitcode != 0:
                log.warning("worker pid %s exited with %s", proc.pid, proc.exitcode)
