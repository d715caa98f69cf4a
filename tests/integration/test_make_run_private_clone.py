"""`make run` on a fresh checkout in a mode-700 folder reaches /ready, as root too."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from persistence import embedded
from tests.support.hubproc import ROOT
from tests.support.services import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not all(map(shutil.which, ("git", "make", "npm"))),
                       reason="needs git, make and npm"),
]


def _copy_checkout(target: Path) -> None:
    """The tracked files of this checkout, as a clone of it would have them."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_make_run_in_a_private_folder_reaches_ready():
    """A checkout nobody else may enter: venv, embedded Postgres (initdb) and /ready all work."""
    private = Path(tempfile.mkdtemp(prefix="livehub-clone-"))  # mode 700
    checkout = private / "livehub"
    checkout.mkdir()
    _copy_checkout(checkout)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUB_") and k not in ("DATABASE_URL", "APP_DATABASE_URL",
                                                     "REDIS_URL", "MAKEFLAGS", "VIRTUAL_ENV")}
    env["HUB_PORT"] = str(port)
    log_path = private / "make-run.log"
    pg_data = embedded.locate(checkout / ".livehub" / "pg")
    with open(log_path, "wb") as log:
        make = subprocess.Popen(["make", "run"], cwd=checkout, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # a fresh venv from the lock, then initdb
        while not _ready(f"http://127.0.0.1:{port}/ready"):
            assert make.poll() is None, log_path.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-4000:]
            time.sleep(0.5)
        assert (pg_data / "PG_VERSION").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):  # make may have failed already
            os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        deadline = time.monotonic() + 30
        while (pg_data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        stopped = not (pg_data / "postmaster.pid").exists()
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(pg_data, ignore_errors=True)
    assert stopped, "embedded Postgres left running"
