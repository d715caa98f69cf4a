"""Postgres access for the SMS integration. Every function but ``org_for_number`` runs on a
``tenant_tx`` connection of the number's org.

Queries repeat ``organization_id = app_org_id()`` so the (organization_id, ...) indexes are
usable (the policy's admin OR hides them from the planner).
"""

from __future__ import annotations

import uuid
from typing import Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn = PoolConnectionProxy
Direction = Literal["in", "out"]


async def org_for_number(pool: asyncpg.Pool, number: str) -> uuid.UUID | None:
    """The org whose Twilio number this is (no tenant context needed: SECURITY DEFINER)."""
    org: uuid.UUID | None = await pool.fetchval("SELECT app_org_for_sms_number($1)", number)
    return org


async def mark_processed(conn: Conn, message_sid: str) -> None:
    await conn.execute("UPDATE webhook_events SET processed_at = now() WHERE organization_id"
                       " = app_org_id() AND provider = 'twilio' AND event_id = $1", message_sid)


async def conversation(conn: Conn, phone: str) -> uuid.UUID:
    """The conversation with this phone, created on first contact."""
    conv: uuid.UUID = await conn.fetchval(
        "INSERT INTO sms_conversations (organization_id, phone) VALUES (app_org_id(), $1)"
        " ON CONFLICT (organization_id, phone) DO UPDATE SET phone = EXCLUDED.phone"
        " RETURNING id", phone)
    return conv


async def add_message(conn: Conn, conversation_id: uuid.UUID, direction: Direction, body: str,
                      twilio_sid: str | None) -> None:
    await conn.execute(
        "INSERT INTO sms_messages (organization_id, conversation_id, direction, body,"
        " twilio_sid) VALUES (app_org_id(), $1, $2, $3, $4)",
        conversation_id, direction, body, twilio_sid)


async def history(conn: Conn, conversation_id: uuid.UUID,
                  limit: int) -> list[tuple[Direction, str]]:
    """The conversation's last ``limit`` messages, oldest first (the agents' memory)."""
    rows = await conn.fetch(
        "SELECT direction, body FROM (SELECT id, direction, body FROM sms_messages"
        " WHERE organization_id = app_org_id() AND conversation_id = $1"
        " ORDER BY id DESC LIMIT $2) m ORDER BY id", conversation_id, limit)
    return [(r["direction"], r["body"]) for r in rows]


async def live_event(conn: Conn) -> uuid.UUID | None:
    """The org's live event: status 'live', the latest start first."""
    event: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM events WHERE organization_id = app_org_id() AND status = 'live'"
        " ORDER BY starts_at DESC NULLS LAST, created_at DESC LIMIT 1")
    return event


async def org_number(conn: Conn) -> str | None:
    number: str | None = await conn.fetchval(
        "SELECT sms_number FROM organizations WHERE id = app_org_id()")
    return number


async def set_opt_out(conn: Conn, phone: str, opted_out: bool, word: str) -> None:
    await conn.execute(
        "INSERT INTO sms_opt_outs (organization_id, phone, opted_out, keyword)"
        " VALUES (app_org_id(), $1, $2, $3) ON CONFLICT (organization_id, phone)"
        " DO UPDATE SET opted_out = EXCLUDED.opted_out, keyword = EXCLUDED.keyword,"
        " changed_at = now()", phone, opted_out, word)


async def is_opted_out(conn: Conn, phone: str) -> bool:
    out = await conn.fetchval("SELECT opted_out FROM sms_opt_outs WHERE organization_id ="
                              " app_org_id() AND phone = $1", phone)
    return bool(out)
