"""``hub`` command line: run the server, mint a development token, create orgs and
members; events, the demo and load-test seeding are in ``hub.cli_demo``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
import uuid
from pathlib import Path

import msgspec

from hub import settings as hub_settings
from hub.cli_db import owner_dsn
from hub.products import PRODUCTS
from persistence.members import MEMBER_ROLES
from rooms.roles import Role

log = logging.getLogger("hub")


def _database(settings: hub_settings.Settings) -> tuple[hub_settings.Settings, Path | None]:
    """Pick Postgres: DATABASE_URL, else an embedded server (unless HUB_EMBEDDED_PG=0).

    Returns settings with ``database_url`` filled in, and the embedded data dir to stop.
    Migrations run here, before serving, as the owner role.
    """
    from persistence import embedded
    from persistence.migrate import migrate

    data_dir = None
    if not settings.database_url and settings.embedded_pg:
        data_dir = Path(settings.pg_data_dir)
        log.info("DATABASE_URL is unset: starting embedded Postgres in %s",
                 embedded.locate(data_dir))
        try:
            dsn = embedded.start(data_dir)
        except embedded.InUse as exc:
            log.error("%s", exc)
            raise SystemExit(2) from None
        settings = msgspec.structs.replace(settings, database_url=dsn)
    if settings.database_url:
        try:
            applied = asyncio.run(migrate(settings.database_url))
        except BaseException:
            if data_dir is not None:
                embedded.stop(data_dir)
            raise
        log.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")
    else:
        log.warning("running without Postgres: chat and room services are unavailable")
    return settings, data_dir


def _run(args: argparse.Namespace) -> int:
    from hub import server, workers

    # Every part's settings first: a bad value stops the start, naming its variable.
    parts = hub_settings.load_parts()
    settings = hub_settings.load(host=args.host, port=args.port, workers=args.workers)
    refused = workers.refusal(settings)
    if refused:
        log.error("%s", refused)
        return 2
    # Postgres (embedded or not) and migrations once, before any worker starts.
    settings, embedded_dir = _database(settings)
    try:
        if settings.workers > 1:
            return workers.Supervisor(settings, parts, args.log_level).run()
        srv = server.build(settings, parts, log_level=args.log_level)
        # The server drains on SIGTERM, then re-raises the signal against the handler
        # that was installed before it: make that one exit 0, as a drained node should.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        srv.run()
    finally:
        if embedded_dir is not None:
            from persistence import embedded

            embedded.stop(embedded_dir)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from persistence.migrate import migrate

    dsn = args.dsn or hub_settings.load().database_url
    if not dsn:
        print("set DATABASE_URL (the owner role's DSN) or pass --dsn", file=sys.stderr)
        return 2
    applied = asyncio.run(migrate(dsn))
    print("applied " + ", ".join(applied) if applied else "up to date")
    return 0


def _token(args: argparse.Namespace) -> int:
    from hub.auth import mint_token

    settings = hub_settings.load()
    if not 0 < args.ttl <= settings.max_token_ttl:
        print(f"hub token: --ttl must be 1..{settings.max_token_ttl} seconds"
              " (HUB_MAX_TOKEN_TTL)", file=sys.stderr)
        return 2
    print(mint_token(settings.secret, sub=args.sub, org=args.org, roles=args.role, ttl=args.ttl))
    return 0


def _member(args: argparse.Namespace) -> int:
    """Give a user a role in an org, on DATABASE_URL or the running embedded server.

    ``hub member --org <uuid> --sub ...`` creates the org and the user when missing (the
    quick start); ``hub member add`` needs an existing org (uuid or slug).
    """
    from persistence.members import add_member, add_to_org

    dsn = owner_dsn("member")
    if not dsn:
        return 2
    if args.action == "add":
        try:
            org, user = asyncio.run(add_to_org(dsn, args.org, args.sub, args.role))
        except LookupError as exc:
            print(f"hub member add: {exc}", file=sys.stderr)
            return 1
        print(f"{args.sub} (user {user}) is {args.role} in {org}")
        return 0
    try:
        org = _org_id(args.org)
    except argparse.ArgumentTypeError as exc:
        print(f"hub member: --org {exc} (or use `hub member add`, which takes a slug)",
              file=sys.stderr)
        return 2
    user = asyncio.run(add_member(dsn, org, args.sub, args.role))
    print(f"{args.sub} (user {user}) is {args.role} in {org}")
    return 0


def _org(args: argparse.Namespace) -> int:
    """``hub org create``: a new organization; prints its id."""
    import asyncpg

    from persistence.orgs import SLUG_PATTERN, create

    if not 0 < len(args.name) <= 200:
        print("hub org create: --name must be 1..200 characters", file=sys.stderr)
        return 2
    if args.slug is not None and not re.fullmatch(SLUG_PATTERN, args.slug):
        print("hub org create: --slug must be 3..63 of a-z, 0-9 and -", file=sys.stderr)
        return 2
    dsn = owner_dsn("org")
    if not dsn:
        return 2
    try:
        org = asyncio.run(create(dsn, args.name, args.product, args.slug))
    except (asyncpg.UniqueViolationError, LookupError):
        print("hub org create: that slug is taken; pass another --slug", file=sys.stderr)
        return 1
    print(org)
    return 0


def _workers(text: str) -> int:
    """argparse type: 1..64 processes, as HUB_WORKERS."""
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError("must be 1..64")
    return int(text)


def _org_id(text: str) -> uuid.UUID:
    """argparse type: a uuid, so the hub will not refuse the token later."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an organization uuid") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="livehub real-time hub")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="start the hub (uvicorn + uvloop)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--log-level", default="info")
    run.add_argument("--workers", type=_workers, metavar="N",
                     help="processes sharing the port via SO_REUSEPORT (default HUB_WORKERS"
                          " or 1); more than 1 needs REDIS_URL")
    run.set_defaults(fn=_run)
    mig = sub.add_parser("migrate", help="apply SQL migrations (as the owner role)")
    mig.add_argument("--dsn", help="owner DSN (default: DATABASE_URL)")
    mig.set_defaults(fn=_migrate)
    tok = sub.add_parser("token", help="mint a development connection token (uses HUB_SECRET)")
    tok.add_argument("--org", required=True, type=_org_id, help="organization uuid")
    tok.add_argument("--sub", required=True,
                     help="user id: the user's uuid, or their external_id")
    tok.add_argument("--role", action="append", required=True,
                     choices=[role.value for role in Role if role is not Role.OVERLAY],
                     help="repeatable")
    tok.add_argument("--ttl", type=int, default=3600,
                     help="seconds until exp (at most HUB_MAX_TOKEN_TTL)")
    tok.set_defaults(fn=_token)
    mem = sub.add_parser("member", help="give a user a role in an org (owner DSN); without"
                         " `add`, creates the org and the user when missing")
    mem.add_argument("action", nargs="?", choices=["add"],
                     help="add: the org must exist (--org may be its slug)")
    mem.add_argument("--org", required=True, help="organization uuid (or slug, with add)")
    mem.add_argument("--sub", "--user", dest="sub", required=True,
                     help="the user: their uuid, or their external_id (a token's sub)")
    mem.add_argument("--role", required=True, choices=MEMBER_ROLES)
    mem.set_defaults(fn=_member)
    org = sub.add_parser("org", help="organizations (owner DSN)")
    org_cmd = org.add_subparsers(dest="org_cmd", required=True)
    create = org_cmd.add_parser("create", help="create an organization; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--product", required=True, choices=sorted(PRODUCTS))
    create.add_argument("--slug", help="a-z, 0-9 and -, 3..63 (default: from the name)")
    create.set_defaults(fn=_org)
    from hub import cli_demo

    cli_demo.add_parsers(sub, _org_id)
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", "info").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
