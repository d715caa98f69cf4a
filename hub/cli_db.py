"""Where the CLI's operator commands write: the owner DSN."""

from __future__ import annotations

import sys
from pathlib import Path

from hub import settings as hub_settings


def owner_dsn(command: str) -> str | None:
    """DATABASE_URL, else the running embedded server's DSN; None (and why, on stderr)."""
    from persistence import embedded

    settings = hub_settings.load()
    dsn = settings.database_url or embedded.running_dsn(Path(settings.pg_data_dir))
    if not dsn:
        print(f"hub {command}: set DATABASE_URL, or start `hub run` (embedded Postgres) first",
              file=sys.stderr)
    return dsn
