"""The JS client (@livehub/client) against a real hub: node's test runner drives it.

Each ``hub/web/client/test/*.test.js`` file runs in ``node --test`` against its own hub
process (real Redis and Postgres) and a fresh live event. The JS tests mint their tokens
with the test hub's secret; a small HTTP control endpoint lets them kill and restart the
hub on the same port (``POST /restart?down=<seconds>``), as a deploy or crash would.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support.hubproc import ROOT, SECRET, HubProcess
from tests.support.members import add_member
from tests.support.services import unavailable

CLIENT = ROOT / "hub" / "web" / "client"
REAL_HUB_TESTS = sorted(p.name for p in (CLIENT / "test").glob("*.test.js")
                        if not p.name.startswith("unit"))
DJ = "dj-js"


@contextmanager
def control_server(hub: HubProcess) -> Iterator[str]:
    """``POST /restart?down=S``: SIGKILL the hub, stay down S seconds, start it again on
    the same port (same Redis prefix and database); answers once it is ready."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            if urlparse(self.path).path != "/restart":
                self.send_error(404)
                return
            hub.restart(down_seconds=float(query.get("down", ["0"])[0]), kill=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_node(files: list[Path], env: dict[str, str],
             timeout: float) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        unavailable("node")
    return subprocess.run(
        [str(node), "--experimental-websocket", "--no-warnings", "--test",
         "--test-reporter=spec", *map(str, files)],
        cwd=CLIENT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def assert_passed(result: subprocess.CompletedProcess[str], hub: HubProcess | None = None) -> None:
    if result.returncode != 0 or not re.search(r"^\S+ pass [1-9]", result.stdout, re.M):
        log = f"\n--- hub log ---\n{hub.log()[-4000:]}" if hub else ""
        pytest.fail(f"node --test exited {result.returncode}\n--- stdout ---\n{result.stdout}"
                    f"\n--- stderr ---\n{result.stderr}{log}", pytrace=False)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("test_file", REAL_HUB_TESTS)
async def test_js_client_against_a_real_hub(test_file: str, hub_factory,
                                            event: tuple[uuid.UUID, uuid.UUID],
                                            owner_dsn: str) -> None:
    org, ev = event
    hub = hub_factory(db=True)
    await add_member(owner_dsn, org, DJ, "dj")
    with control_server(hub) as control:
        result = await asyncio.to_thread(run_node, [CLIENT / "test" / test_file], {
            "HUB_URL": hub.ws_url, "HUB_SECRET": SECRET, "HUB_ORG": str(org),
            "HUB_EVENT": str(ev), "HUB_DJ_SUB": DJ, "HUB_CONTROL": control,
        }, 200)
    assert_passed(result, hub)


@pytest.mark.timeout(120)
async def test_js_client_units() -> None:
    """The client's unit tests (backoff, code table, version folding, resend policy)."""
    files = sorted((CLIENT / "test").glob("unit*.test.js"))
    assert files
    result = await asyncio.to_thread(run_node, files, {}, 100)
    assert_passed(result)

