"""``hub event create``, ``hub demo`` and ``hub seed``: a night, or a load test, without SQL.

They write as the owner role (``DATABASE_URL``, or the embedded server ``hub run``
started), like ``hub member``, and mint tokens with ``HUB_SECRET``, so the hub that
serves them must share both. An event created ``--live`` starts live: nobody can be in
its room yet, so there is nobody to tell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from hub import settings as hub_settings
from hub.auth import mint_token
from hub.cli_db import owner_dsn
from persistence import events as store
from persistence import overlays
from persistence.members import add_member
from persistence.tenant import Tenant, tenant_tx

DJ_SUB = "demo-dj"


def _base_url(settings: hub_settings.Settings) -> str:
    """HUB_PUBLIC_URL when set (behind a proxy), else the address ``hub run`` listens on."""
    public = os.environ.get("HUB_PUBLIC_URL", "")
    return (public or f"http://{settings.host}:{settings.port}").rstrip("/")


async def _create_org(conn: asyncpg.Connection, name: str, product: str) -> uuid.UUID:
    org = uuid.uuid4()
    await conn.execute("INSERT INTO organizations (id, name, slug, product_context)"
                       " VALUES ($1, $2, $3, $4)", org, name, f"{product}-{org.hex[:12]}",
                       product)
    return org


async def _create_event(dsn: str, org: uuid.UUID, title: str, live: bool,
                        visibility: str = "public") -> store.Event:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        async with conn.transaction():
            product = await store.product_of(conn, org)
            if product is None:
                raise LookupError(f"unknown organization {org}")
            return await store.create(conn, org, product,
                                      {"title": title, "visibility": visibility},
                                      "live" if live else "scheduled")
    finally:
        await conn.close()


def event_create(args: argparse.Namespace) -> int:
    """``hub event create``: print the new event's id."""
    dsn = owner_dsn("event create")
    if not dsn:
        return 2
    if not args.title.strip() or len(args.title) > 200:
        print("hub event create: --title must be 1..200 characters", file=sys.stderr)
        return 2
    try:
        event = asyncio.run(_create_event(dsn, args.org, args.title.strip(), args.live))
    except LookupError as exc:
        print(f"hub event create: {exc}", file=sys.stderr)
        return 2
    print(event.id)
    return 0


def demo(args: argparse.Namespace) -> int:
    """``hub demo``: an org, its DJ, a live public event, and the URLs to open."""
    settings = hub_settings.load()
    dsn = owner_dsn("demo")
    if not dsn:
        return 2

    async def build() -> tuple[uuid.UUID, store.Event, str]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            org = await _create_org(conn, "Demo night", "m10dj")
        finally:
            await conn.close()
        await add_member(dsn, org, DJ_SUB, "dj")
        event = await _create_event(dsn, org, "Demo night", live=True)
        overlay = overlays.new_secret()  # the OBS overlay's own credential
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            async with tenant_tx(pool, Tenant(org, None, "admin")) as tx:
                await overlays.rotate(tx, event.id, overlay, None)
        finally:
            await pool.close()
        return org, event, overlay

    org, event, overlay = asyncio.run(build())
    ttl = settings.max_token_ttl
    dj = mint_token(settings.secret, sub=DJ_SUB, org=org, roles=["dj"], ttl=ttl)
    guest = mint_token(settings.secret, sub=f"guest:{secrets.token_urlsafe(12)}", org=org,
                       roles=["viewer"], ttl=min(7200, ttl), name="Guest")
    base = _base_url(settings)
    print(f"organization: {org}\nevent:        {event.id} (live, public)\n"
          f"DJ token:     {dj}\n"
          f"viewer URL:   {base}/e/{event.id}#token={guest}\n"
          f"DJ URL:       {base}/dj/{event.id}#token={dj}\n"
          f"overlay URL:  {base}/overlay/{overlay}\n"
          f"guest links:  POST {base}/api/events/{event.id}/guest"
          ' {"display_name": "..."}')
    return 0


async def _seed(dsn: str, secret: str, ttl: int, orgs: int, events: int,
                fans: int) -> list[dict[str, Any]]:
    out = []
    for n in range(orgs):
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            org = await _create_org(conn, f"Load {n}", "djdash")
        finally:
            await conn.close()
        dj_sub = f"seed-dj-{org.hex[:12]}"
        await add_member(dsn, org, dj_sub, "dj")
        made = [await _create_event(dsn, org, f"Load {n}.{m}", live=True)
                for m in range(events)]
        out.append({
            "org": str(org),
            "events": [str(e.id) for e in made],
            "rooms": [f"event:{e.id}" for e in made],
            "dj_token": mint_token(secret, sub=dj_sub, org=org, roles=["dj"], ttl=ttl),
            "fan_tokens": [mint_token(secret, sub=f"fan-{org.hex[:8]}-{k}", org=org,
                                      roles=["viewer"], ttl=ttl) for k in range(fans)],
        })
    return out


def seed(args: argparse.Namespace) -> int:
    """``hub seed``: load-test tenants, their live events and tokens, as JSON."""
    settings = hub_settings.load()
    dsn = owner_dsn("seed")
    if not dsn:
        return 2
    for flag in ("orgs", "events", "fans"):
        if not 0 <= getattr(args, flag) <= 10_000:
            print(f"hub seed: --{flag} must be 0..10000", file=sys.stderr)
            return 2
    tenants = asyncio.run(_seed(dsn, settings.secret, settings.max_token_ttl, args.orgs,
                                args.events, args.fans))
    Path(args.out).write_text(json.dumps({"orgs": tenants}, indent=1))
    print(f"seeded {args.orgs} org(s), {args.orgs * args.events} live event(s),"
          f" {args.orgs * args.fans} fan token(s) -> {args.out}")
    return 0


def add_parsers(sub: Any, org_id: Any) -> None:
    """The ``event``, ``demo`` and ``seed`` subcommands (``org_id``: the uuid arg type)."""
    ev = sub.add_parser("event", help="events (owner DSN)")
    ev_sub = ev.add_subparsers(dest="event_cmd", required=True)
    create = ev_sub.add_parser("create", help="create an event; prints its id")
    create.add_argument("--org", required=True, type=org_id, help="organization uuid")
    create.add_argument("--title", required=True)
    create.add_argument("--live", action="store_true", help="create it live")
    create.set_defaults(fn=event_create)
    dm = sub.add_parser("demo", help="an org, a DJ and a live public event; prints URLs")
    dm.set_defaults(fn=demo)
    sd = sub.add_parser("seed", help="load-test tenants and tokens, written as JSON")
    sd.add_argument("--orgs", type=int, default=1)
    sd.add_argument("--events", type=int, default=1)
    sd.add_argument("--fans", type=int, default=10)
    sd.add_argument("--out", default="seed.json")
    sd.set_defaults(fn=seed)
