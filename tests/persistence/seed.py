"""Three organizations with a row in every tenant table, written as the owner (bypasses RLS)."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

TENANT_TABLES_SQL = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND (c.relname = 'organizations' OR EXISTS (
        SELECT 1 FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped))
ORDER BY 1
"""


def key_column(table: str) -> str:
    """The column a tenant table's policies compare with app.org_id."""
    return "id" if table == "organizations" else "organization_id"


@dataclass
class Org:
    id: uuid.UUID
    owner: uuid.UUID
    viewer: uuid.UUID
    live_event: uuid.UUID
    ended_event: uuid.UUID
    room: str


@dataclass
class Seed:
    orgs: dict[str, Org] = field(default_factory=dict)
    admin: uuid.UUID = field(default_factory=uuid.uuid4)


async def tenant_tables(conn: asyncpg.Connection) -> list[str]:
    return [r["relname"] for r in await conn.fetch(TENANT_TABLES_SQL)]


async def seed_org(conn: asyncpg.Connection, label: str) -> Org:
    """Insert one organization and one row per tenant table for it."""
    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    o = Org(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), f"room-{tag}")
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO users (id, display_name, email) VALUES ($1, $2, $3)",
            [(o.owner, f"owner {tag}", f"owner-{tag}@x.test"),
             (o.viewer, f"viewer {tag}", f"viewer-{tag}@x.test")])
        await conn.execute(
            "INSERT INTO organizations (id, name, slug, product_context, owner_id,"
            " stripe_account_id) VALUES ($1, $2, $2, 'tipjar', $3, $4)",
            o.id, tag, o.owner, f"acct_{tag}")
        await conn.executemany(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)",
            [(o.id, o.owner, "owner"), (o.id, o.viewer, "viewer")])
        await conn.executemany(
            "INSERT INTO events (id, organization_id, title, status, livekit_room)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(o.live_event, o.id, f"live {tag}", "live", o.room),
             (o.ended_event, o.id, f"ended {tag}", "ended", None)])
        await conn.execute(
            "INSERT INTO chat_messages (organization_id, event_id, room, user_id, body,"
            " client_msg_id) VALUES ($1, $2, $3, $4, 'hello', 'c1')",
            o.id, o.live_event, o.room, o.owner)
        request_id = await conn.fetchval(
            "INSERT INTO song_requests (organization_id, event_id, requested_by, song_title)"
            " VALUES ($1, $2, $3, 'Song') RETURNING id", o.id, o.live_event, o.viewer)
        await conn.execute(
            "INSERT INTO request_votes (organization_id, request_id, voter_key)"
            " VALUES ($1, $2, $3)", o.id, request_id, str(o.viewer))
        await conn.execute(
            "INSERT INTO karaoke_signups (organization_id, event_id, user_id, singer_name,"
            " position) VALUES ($1, $2, $3, 'Singer', 1)", o.id, o.live_event, o.viewer)
        await conn.execute(
            "INSERT INTO tips (organization_id, event_id, user_id, amount_cents,"
            " platform_fee_cents, status, stripe_checkout_session_id,"
            " stripe_payment_intent_id) VALUES ($1, $2, $3, 500, 50, 'paid', $4, $5)",
            o.id, o.live_event, o.viewer, f"cs_{tag}", f"pi_{tag}")
        await conn.execute(
            "INSERT INTO ppv_access (organization_id, event_id, user_id) VALUES ($1, $2, $3)",
            o.id, o.live_event, o.viewer)
        await conn.execute(
            "INSERT INTO webhook_events (organization_id, provider, event_id, type)"
            " VALUES ($1, 'stripe', $2, 'checkout.session.completed')", o.id, f"evt_{tag}")
        conversation = await conn.fetchval(
            "INSERT INTO sms_conversations (organization_id, phone) VALUES ($1, $2)"
            " RETURNING id", o.id, f"+1555{uuid.uuid4().int % 10**7:07d}")
        await conn.execute(
            "INSERT INTO sms_messages (organization_id, conversation_id, direction, body,"
            " twilio_sid) VALUES ($1, $2, 'in', 'hi', $3)", o.id, conversation, f"SM{tag}")
        await conn.execute(
            "INSERT INTO audit_log (organization_id, actor_id, action, target)"
            " VALUES ($1, $2, 'seed', 'organization')", o.id, o.owner)
        # Tables added by later migrations seed themselves: one module per migration
        # in tests/persistence/seeds/, each with `async def seed(conn, org) -> None`.
        for module in _extra_seeders():
            await module.seed(conn, o)
    return o


def _extra_seeders() -> list[Any]:
    folder = Path(__file__).parent / "seeds"
    names = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    return [importlib.import_module(f"tests.persistence.seeds.{name}") for name in names]


async def seed(dsn: str) -> Seed:
    """Seed orgs A, B and C plus a platform admin who belongs to none of them."""
    conn = await asyncpg.connect(dsn)
    try:
        s = Seed()
        for label in ("A", "B", "C"):
            s.orgs[label] = await seed_org(conn, label)
        await conn.execute("INSERT INTO users (id, display_name) VALUES ($1, 'staff')", s.admin)
        await conn.execute("INSERT INTO platform_admins (user_id) VALUES ($1)", s.admin)
        return s
    finally:
        await conn.close()
