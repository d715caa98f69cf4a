"""Starting a hub for a benchmark: this tree's or another checkout's, on the same venv."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from loadtests.harness import REPO
from loadtests.harness.procs import ServerProcess


def hub_tree_problem(tree: Path) -> str | None:
    """Why ``python -m hub run`` cannot start from ``tree``, or None."""
    if not (tree / "hub" / "cli.py").is_file():
        return f"{tree} holds no hub/cli.py"
    return None


def start_hub(name: str, *, port: int, redis_url: str, prefix: str, secret: str, log: Path,
              core: int | None, keepalive: bool = False, tree: Path = REPO,
              env: Mapping[str, str] | None = None) -> ServerProcess:
    """``python -m hub run`` from ``tree`` with the benchmark settings; ``env`` overrides them."""
    cmd = [sys.executable, "-m", "hub", "run", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    full = dict(os.environ, PYTHONUNBUFFERED="1",
                # The tree under test, ahead of whatever the venv's editable install maps.
                PYTHONPATH=str(tree),
                REDIS_URL=redis_url, HUB_REDIS_PREFIX=prefix, HUB_SECRET=secret,
                HUB_API_KEY=secrets.token_hex(16), HUB_SHUTDOWN_TIMEOUT="1",
                # No Postgres unless the caller brings one: no embedded server, no pool.
                DATABASE_URL="", HUB_EMBEDDED_PG="0",
                # Every benchmark client connects from loopback: no per-address cap.
                HUB_MAX_CONNECTIONS_PER_ADDRESS="0")
    if not keepalive:
        full["HUB_PING_INTERVAL"] = "3600"  # no ping waves inside the measurement
    full.update(env or {})
    return ServerProcess(name, cmd, port=port, env=full, log=log, core=core, cwd=tree)
