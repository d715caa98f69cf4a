"""A redis-server of a test's own (never the shared one), to kill and start again."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port, unavailable, wait_port


class RestartableRedis:
    """A throwaway redis-server with no persistence: a restart loses every key."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server")
        self._argv = [str(binary), "--port", str(free_port()), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--dir", str(tmp)]
        self.port = int(self._argv[2])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return proc

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown, nothing saved
        self.proc.wait(10)

    def start(self) -> None:
        self.proc = self._start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@contextmanager
def restartable_redis() -> Iterator[RestartableRedis]:
    """A RestartableRedis in a temp dir, stopped afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        server = RestartableRedis(Path(tmp))
        try:
            yield server
        finally:
            server.stop()
