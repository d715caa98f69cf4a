"""The compose hubs' own command and environment serve chat against password-only Postgres.

Docker may not run where the tests do, so this plays the compose file's parts locally:
an embedded Postgres set up the way the postgres image does it (POSTGRES_USER with its
password, POSTGRES_DB, our /docker-entrypoint-initdb.d script, then scram-sha-256 over
TCP), the local Redis, and hub-a's command and environment with service names swapped
for 127.0.0.1 and free ports.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg

from hub.auth import mint_token
from persistence import embedded
from tests.support.client import Client
from tests.support.compose import config_at, load
from tests.support.hubproc import ROOT
from tests.support.services import free_port

INIT_SCRIPT = "/docker-entrypoint-initdb.d/10-livehub-app.sh"


async def _like_the_postgres_image(compose: dict, data_dir: Path) -> int:
    """Start Postgres initialised as the compose postgres service would be; return its port."""
    pg_env = compose["services"]["postgres"]["environment"]
    dsn = await asyncio.to_thread(embedded.start, data_dir)
    port = int(dsn.rsplit(":", 1)[1].split("/")[0])
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(await conn.fetchval(
            "SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', $1::text, $2::text)",
            pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"]))
        await conn.execute(f'CREATE DATABASE "{pg_env["POSTGRES_DB"]}"'
                           f' OWNER "{pg_env["POSTGRES_USER"]}"')
    finally:
        await conn.close()
    script = config_at(compose, "postgres", INIT_SCRIPT)
    await asyncio.to_thread(subprocess.run, ["sh", "-c", script], check=True, timeout=60, env={
        **pg_env, "PATH": f"{embedded.bin_dir()}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1", "PGPORT": str(port), "PGPASSWORD": pg_env["POSTGRES_PASSWORD"]})
    # The image trusts only its own socket; over TCP every role needs its password.
    pgdata = embedded.locate(data_dir)
    (pgdata / "pg_hba.conf").write_text("local all all trust\n"
                                        "host all all 127.0.0.1/32 scram-sha-256\n")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    return port


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(log.read_text(errors="replace"))


async def test_compose_hub_serves_chat_as_livehub_app_with_its_password(redis_url, prefix):
    """hub-a's command + env migrate as the owner and store chat as livehub_app, by password."""
    compose = load()
    service = compose["services"]["hub-a"]
    private = Path(tempfile.mkdtemp(prefix="livehub-compose-"))
    data_dir = private / "pg"
    hub_port = free_port()
    log = private / "hub.log"
    proc = None
    try:
        pg_port = await _like_the_postgres_image(compose, data_dir)
        local = {"@postgres:5432/": f"@127.0.0.1:{pg_port}/", "redis://redis:6379/0": redis_url,
                 "http://livekit:7880": f"http://127.0.0.1:{free_port()}"}
        env = {}
        for key, value in service["environment"].items():
            for name, here in local.items():
                value = value.replace(name, here)
            env[key] = value
        assert "@postgres" not in env["APP_DATABASE_URL"] and "redis:6379" not in env["REDIS_URL"]
        env.update(HUB_HOST="127.0.0.1", HUB_PORT=str(hub_port), HUB_REDIS_PREFIX=prefix)
        command = [sys.executable if part == "python" else part for part in service["command"]]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "LIVEKIT_"))
                and k not in ("DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL")}
        proc = await asyncio.to_thread(_start, command, {**base, **env}, log)
        await asyncio.to_thread(_wait_ready, proc, f"http://127.0.0.1:{hub_port}/ready", log)

        org = uuid.uuid4()
        owner = await asyncpg.connect(env["DATABASE_URL"])
        try:
            await owner.execute(
                "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, 'C',"
                " $2, 'djdash')", org, f"c-{org.hex}")
            fan = await Client.open(f"ws://127.0.0.1:{hub_port}/ws", mint_token(
                env["HUB_SECRET"], sub="fan", org=org, roles=["viewer"]))
            await fan.send({"type": "chat", "room": f"org:{org}", "text": "via compose env"})
            await fan.recv("chat_sent")
            await fan.close()
            assert await owner.fetchval("SELECT body FROM chat_messages WHERE"
                                        " organization_id = $1", org) == "via compose env"
        finally:
            await owner.close()
        app = await asyncpg.connect(env["APP_DATABASE_URL"])  # by password, over TCP
        assert await app.fetchval("SELECT current_user") == "livehub_app"
        await app.close()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await asyncio.to_thread(embedded.stop, data_dir)
        shutil.rmtree(embedded.locate(data_dir), ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)
    assert proc.returncode == 0
