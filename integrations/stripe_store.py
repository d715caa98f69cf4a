"""SQL of the Stripe integration. Functions taking ``conn`` run inside a ``tenant_tx``;
those taking ``pool`` are the sanctioned cross-tenant lookups (ids only, see 0008)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from integrations.stripe_wire import Kind

Conn = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class OrgPayments:
    account_id: str | None
    charges_enabled: bool


@dataclass(frozen=True)
class Checkout:
    id: uuid.UUID
    event_id: uuid.UUID
    kind: Kind
    tip_id: uuid.UUID | None
    request_id: uuid.UUID | None
    user_sub: str
    user_id: uuid.UUID | None
    amount_cents: int
    fee_cents: int
    status: str = "open"
    session_id: str | None = None
    payment_intent_id: str | None = None


_CHECKOUT_COLUMNS = ("id, event_id, kind, tip_id, request_id, user_sub, user_id, amount_cents,"
                     " fee_cents, status, session_id, payment_intent_id")


def _checkout(row: asyncpg.Record) -> Checkout:
    return Checkout(**dict(row))


# -- organizations ------------------------------------------------------------------------


async def org_payments(conn: Conn) -> OrgPayments | None:
    row = await conn.fetchrow("SELECT stripe_account_id, charges_enabled FROM organizations"
                              " WHERE id = app_org_id()")
    return None if row is None else OrgPayments(row[0], row[1])


async def set_account(conn: Conn, account_id: str) -> str:
    """Store the connected account unless the org has one already; the one it keeps."""
    kept: str = await conn.fetchval(
        "UPDATE organizations SET stripe_account_id = coalesce(stripe_account_id, $1)"
        " WHERE id = app_org_id() RETURNING stripe_account_id", account_id)
    return kept


async def sync_account(conn: Conn, charges: bool, payouts: bool, created: int) -> bool:
    """Take the flags from an account.updated event unless a newer one was applied."""
    status = await conn.execute(
        "UPDATE organizations SET charges_enabled = $1, payouts_enabled = $2,"
        " stripe_synced_at = to_timestamp($3) WHERE id = app_org_id()"
        " AND (stripe_synced_at IS NULL OR stripe_synced_at <= to_timestamp($3))",
        charges, payouts, created)
    return bool(status == "UPDATE 1")


async def account_org(pool: asyncpg.Pool, account_id: str) -> uuid.UUID | None:
    org: uuid.UUID | None = await pool.fetchval(
        "SELECT app_org_for_stripe_account($1)", account_id)
    return org


# -- checkout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PayableEvent:
    """What a checkout needs to know of its event."""

    ppv_price_cents: int | None
    status: str
    tips: bool
    requests: bool


async def payable_event(conn: Conn, event_id: uuid.UUID) -> PayableEvent | None:
    """The event in the caller's org, or None."""
    row = await conn.fetchrow("SELECT ppv_price_cents, status, tips_enabled, requests_enabled"
                              " FROM events WHERE organization_id = app_org_id() AND id = $1",
                              event_id)
    return None if row is None else PayableEvent(*row)


async def request_in_event(conn: Conn, event_id: uuid.UUID, request_id: uuid.UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM song_requests WHERE organization_id = app_org_id()"
        " AND event_id = $1 AND id = $2)", event_id, request_id)
    return found


async def known_user(conn: Conn, sub: str) -> uuid.UUID | None:
    """The users row behind a token sub, if the sub is one (fans may have none)."""
    try:
        user = uuid.UUID(sub)
    except ValueError:
        return None
    found: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE id = $1", user)
    return found


async def create_checkout(conn: Conn, c: Checkout, message: str | None,
                          from_name: str | None) -> Checkout | None:
    """Insert the checkout (and, for a tip, its pending tips row); on a retry with the
    same id, the row stored the first time (None: the id belongs to another org)."""
    if c.tip_id is not None:
        await conn.execute(
            "INSERT INTO tips (id, organization_id, event_id, user_id, amount_cents,"
            " platform_fee_cents, status, message, from_name)"
            " VALUES ($1, app_org_id(), $2, $3, $4, $5, 'pending', $6, $7)"
            " ON CONFLICT (id) DO NOTHING",
            c.tip_id, c.event_id, c.user_id, c.amount_cents, c.fee_cents, message, from_name)
    await conn.execute(
        "INSERT INTO stripe_checkouts (id, organization_id, event_id, kind, tip_id, request_id,"
        " user_sub, user_id, amount_cents, fee_cents)"
        " VALUES ($1, app_org_id(), $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        c.id, c.event_id, c.kind, c.tip_id, c.request_id, c.user_sub, c.user_id,
        c.amount_cents, c.fee_cents)
    return await checkout(conn, c.id)


async def set_session(conn: Conn, c: Checkout, session_id: str) -> None:
    await conn.execute("UPDATE stripe_checkouts SET session_id = $2"
                       " WHERE organization_id = app_org_id() AND id = $1", c.id, session_id)
    if c.tip_id is not None:
        await conn.execute("UPDATE tips SET stripe_checkout_session_id = $2"
                           " WHERE organization_id = app_org_id() AND id = $1",
                           c.tip_id, session_id)


async def checkout(conn: Conn, checkout_id: uuid.UUID, *,
                   lock: bool = False) -> Checkout | None:
    row = await conn.fetchrow(
        f"SELECT {_CHECKOUT_COLUMNS} FROM stripe_checkouts WHERE organization_id ="
        f" app_org_id() AND id = $1{' FOR UPDATE' if lock else ''}", checkout_id)
    return None if row is None else _checkout(row)


async def mark(conn: Conn, checkout_id: uuid.UUID, status: str,
               payment_intent_id: str | None) -> None:
    await conn.execute(
        "UPDATE stripe_checkouts SET status = $2,"
        " payment_intent_id = coalesce(payment_intent_id, $3),"
        " paid_at = CASE WHEN $2 = 'paid' THEN now() ELSE paid_at END,"
        " refunded_at = CASE WHEN $2 = 'refunded' THEN now() ELSE refunded_at END"
        " WHERE organization_id = app_org_id() AND id = $1",
        checkout_id, status, payment_intent_id)


async def checkout_org(pool: asyncpg.Pool, checkout_id: uuid.UUID | None,
                       payment_intent: str | None) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(checkout id, org id) by our id or by Stripe's payment intent, no tenant context."""
    row = await pool.fetchrow("SELECT checkout_id, organization_id FROM"
                              " app_stripe_checkout_org($1, $2)", checkout_id, payment_intent)
    return None if row is None else (row[0], row[1])


async def grant_ppv(conn: Conn, c: Checkout) -> None:
    await conn.execute(
        "INSERT INTO ppv_access (organization_id, event_id, user_id, stripe_checkout_session_id)"
        " VALUES (app_org_id(), $1, $2, $3) ON CONFLICT (event_id, user_id) DO NOTHING",
        c.event_id, c.user_id, c.session_id)


# -- webhooks -------------------------------------------------------------------------------
