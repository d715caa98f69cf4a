"""Run real hub processes (``python -m hub run``) for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-0123456789-0123456789-abcdef"
API_KEY = "test-api-key"


class PortTaken(Exception):
    """Another process bound the free port first."""


class HubProcess:
    """One hub process on a free port; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, env: dict[str, str]) -> None:
        # free_port() can race with any other process on the machine (another test
        # run, a second hub): if the port is taken before we bind it, try another.
        for attempt in range(5):
            try:
                self._start(env)
                return
            except PortTaken:
                if attempt == 4:
                    raise

    def _start(self, env: dict[str, str], port: int | None = None) -> None:
        self._env = env
        self.database_url = env.get("DATABASE_URL", "")  # the owner DSN, when it has one
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        for var in ("REDIS_URL", "DATABASE_URL", "APP_DATABASE_URL"):
            full_env.pop(var, None)
        # No DATABASE_URL means a rooms-only node here, never an embedded Postgres.
        # No drain period on SIGTERM unless a test asks for one: stops stay fast.
        full_env.update({"HUB_SECRET": SECRET, "HUB_API_KEY": API_KEY, "HUB_EMBEDDED_PG": "0",
                         "HUB_DRAIN_SECONDS": "0", **env})
        # A unique log file: another test run on this machine may reuse the port later.
        fd, log_path = tempfile.mkstemp(prefix=f"hub-{self.port}-", suffix=".log")
        self.log_path = Path(log_path)
        self._log = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                if "address already in use" in self.log().lower():
                    raise PortTaken(self.port)
                raise RuntimeError(f"hub exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"hub not ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def restart(self, down_seconds: float = 0.0, kill: bool = False) -> None:
        """Stop the process (SIGKILL with ``kill``, else SIGTERM), stay down for
        ``down_seconds``, then start it again on the same port with the same settings:
        to its clients it is the same hub coming back."""
        if kill and self.proc.poll() is None:
            self.proc.kill()
        self.stop()
        time.sleep(down_seconds)
        for _ in range(50):  # the port may linger for a moment after the old process
            try:
                self._start(self._env, self.port)
                return
            except PortTaken:
                time.sleep(0.2)
        raise PortTaken(self.port)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> int:
        self.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code
