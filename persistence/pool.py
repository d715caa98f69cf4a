"""The application's connection pool, logged in as the RLS-bound livehub_app role."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

APP_ROLE = "livehub_app"


def app_dsn(owner_dsn: str, role: str = APP_ROLE) -> str:
    """Return owner_dsn (a postgresql:// URL) with its user swapped for the app role.

    The owner's password is dropped: it is not the app role's. Where the server wants a
    password, set APP_DATABASE_URL (or PGPASSWORD/.pgpass) instead.
    """
    parts = urlsplit(owner_dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("expected a postgresql:// URL; set APP_DATABASE_URL for other forms")
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{quote(role)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def create_app_pool(
    dsn: str, *, app_database_url: str | None = None, min_size: int = 1, max_size: int = 10,
    **kwargs: Any,
) -> asyncpg.Pool:
    """Open a pool as livehub_app: app_database_url, else $APP_DATABASE_URL, else dsn's host.

    Refuses to return a pool whose role could bypass RLS, so a misconfigured URL (say, the
    owner's) fails at startup instead of silently serving every tenant's rows.
    """
    url = app_database_url or os.environ.get("APP_DATABASE_URL") or app_dsn(dsn)
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, **kwargs)
    try:
        unsafe = await pool.fetchval(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
    except BaseException:
        await pool.close()
        raise
    if unsafe:
        await pool.close()
        raise RuntimeError("the app pool's role bypasses row-level security")
    return pool
