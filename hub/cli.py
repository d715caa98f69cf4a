"""``hub`` command line: run the server, mint a development token."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from hub import settings as hub_settings


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.connection import HubConnection
    from hub.runtime import Hub

    settings = hub_settings.load(host=args.host, port=args.port)
    hub = Hub(settings)
    app = create_app(settings, hub)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        ws=HubConnection.bind(hub),  # type: ignore[arg-type]  # duck-typed Protocol
        lifespan="on", access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout) + 1,
        log_level=args.log_level,
    )
    # uvicorn drains on SIGTERM, then re-raises the signal against the handler
    # that was installed before it: make that one exit 0, as a drained node should.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.Server(config).run()
    return 0


def _token(args: argparse.Namespace) -> int:
    from hub.auth import mint_token

    settings = hub_settings.load()
    print(mint_token(settings.secret, sub=args.sub, org=args.org, roles=args.role, ttl=args.ttl))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="livehub real-time hub")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="start the hub (uvicorn + uvloop)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--log-level", default="info")
    run.set_defaults(fn=_run)
    tok = sub.add_parser("token", help="mint a development connection token (uses HUB_SECRET)")
    tok.add_argument("--org", required=True, help="organization uuid")
    tok.add_argument("--sub", required=True, help="user id")
    tok.add_argument("--role", action="append", required=True,
                     help="viewer, performer, dj, moderator or admin (repeatable)")
    tok.add_argument("--ttl", type=int, default=3600, help="seconds until exp")
    tok.set_defaults(fn=_token)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
