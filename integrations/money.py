"""The event's money, from the ledger (``persistence.ledger``): the DJ dashboard's totals
and cash entries by an org admin.

Routes:

* ``GET /api/events/{event_id}/money`` (``X-API-Key``, or a bearer hub token with the
  dj or admin role in the event's org): gross, fees, refunds and net in cents, and counts.
* ``POST /api/events/{event_id}/money/manual`` (bearer, admin: an org owner's or admin's
  token) ``{kind: tip|bump, amount_cents, note, target?, from_name?, message?}``: records
  a ``source=manual`` ledger payment (no platform fee: the money never went through
  Stripe) and credits it through the room services (``tips.paid`` or
  ``requests.payment_confirmed``) in the same transaction, audited ('money.manual').
  Each call is a new payment: a client that retries after a lost answer should check
  the totals first.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import asyncpg
import msgspec
from litestar import get, post
from litestar.exceptions import HTTPException

from integrations import http_docs as docs
from integrations.http import (
    API_KEY_HEADER,
    AnyRequest,
    BearerDep,
    PoolDep,
    ServicesDep,
    caller_for,
)
from integrations.money_wire import ManualEntry, ManualResult, MoneySummary
from persistence import ledger
from persistence.audit import audit
from persistence.tenant import Tenant, tenant_tx
from rooms.codes import ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.roles import Role
from rooms.services.base import Unit
from rooms.services.dispatch import Dispatcher
from rooms.services.requests_wire import Payment, PaymentApplied
from rooms.services.tips_wire import PaidParams, TipResult

DASHBOARD: Final = frozenset({Role.DJ, Role.ADMIN})
CASHIERS: Final = frozenset({Role.ADMIN})  # a membership of owner or admin confirms it
_NO_EVENT = "no such event in your organization"


def _ready(pool: PoolDep) -> asyncpg.Pool:
    if pool is None:
        raise HTTPException("the money ledger needs Postgres", status_code=503)
    return pool


def _decode(body: bytes) -> ManualEntry:
    """The body as a ManualEntry: 400 when it is not JSON or misses a field, 422 when a
    value is refused (a bad kind, a non-positive amount, an empty note)."""
    try:
        return msgspec.json.decode(body, type=ManualEntry)
    except msgspec.ValidationError as exc:
        status = 400 if "missing required field" in str(exc) else 422
        raise HTTPException(str(exc), status_code=status) from None
    except msgspec.DecodeError:
        raise HTTPException("body must be JSON", status_code=400) from None


async def _event_exists(conn: ledger.Conn, event_id: uuid.UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE organization_id = app_org_id()"
        " AND id = $1)", event_id)
    return found


async def _tip_target(conn: ledger.Conn, event_id: uuid.UUID, tip_id: uuid.UUID) -> None:
    """A cash tip may pay a pending tip of this event, or start a new one.

    Raises:
        HTTPException: 409, the tip is another event's or already paid or refunded.
    """
    tip = await conn.fetchrow("SELECT event_id, status FROM tips WHERE organization_id ="
                              " app_org_id() AND id = $1", tip_id)
    if tip is not None and tip["event_id"] != event_id:
        raise HTTPException("that tip belongs to another event", status_code=409)
    if tip is not None and tip["status"] != "pending":
        raise HTTPException(f"that tip is already {tip['status']}", status_code=409)


async def _bump_target(conn: ledger.Conn, event_id: uuid.UUID, request_id: uuid.UUID) -> None:
    found = await conn.fetchval("SELECT true FROM song_requests WHERE organization_id ="
                                " app_org_id() AND event_id = $1 AND id = $2",
                                event_id, request_id)
    if not found:
        raise HTTPException("no such request in this event", status_code=404)


async def _credit(services: Dispatcher, unit: Unit, org: uuid.UUID, event_id: uuid.UUID,
                  entry: ManualEntry, target_id: uuid.UUID, ref: str
                  ) -> TipResult | PaymentApplied:
    room, server = RoomName(RoomKind.EVENT, event_id), Principal.server(org)
    try:
        if entry.kind == "tip":
            result: TipResult = await services.invoke(server, room, "tips.paid", PaidParams(
                tip_id=target_id, amount_cents=entry.amount_cents, payment_id=ref,
                from_name=entry.from_name, message=entry.message), unit=unit)
            return result
        applied: PaymentApplied = await services.invoke(
            server, room, "requests.payment_confirmed",
            Payment(request_id=target_id, amount_cents=entry.amount_cents, payment_id=ref),
            unit=unit)
        return applied
    except ServiceError as exc:  # rolls the ledger row back with everything else
        raise HTTPException(exc.reason, status_code=409) from None


async def record_manual(services: Dispatcher, who: Principal,
                        event_id: uuid.UUID, entry: ManualEntry) -> ManualResult:
    """Record a manual payment and credit it, in one transaction of the caller's org.

    Raises:
        HTTPException: 403 not an org admin, 404 unknown event or request, 409 a tip
            that cannot take it, 422 a bump without its request id.
    """
    if not who.has(CASHIERS):
        raise HTTPException("manual entries need an org owner or admin", status_code=403)
    if entry.kind == "bump" and entry.target is None:
        raise HTTPException("target (the request id) is required for a bump",
                            status_code=422)
    key = entry.entry_id or uuid.uuid4()
    # A new tip takes the retry key as its id, so a retry names the same tip.
    target_id = entry.target or key
    ref = f"{ledger.MANUAL_PREFIX}{key.hex}"
    async with services.unit(Principal.server(who.org)) as unit:
        conn = unit.conn
        if not await _event_exists(conn, event_id):
            raise HTTPException(_NO_EVENT, status_code=404)
        earlier = await ledger.amount(conn, "payment", entry.kind, target_id, ref)
        if earlier is None:
            if entry.kind == "tip":
                await _tip_target(conn, event_id, target_id)
            else:
                await _bump_target(conn, event_id, target_id)
            if not await ledger.record(conn, ledger.Entry(
                    event_id=event_id, kind="payment", cents=entry.amount_cents,
                    target=entry.kind, target_id=target_id, payment_ref=ref, source="manual",
                    created_by=who.sub, note=entry.note)):
                raise HTTPException("entry_id was already used for another entry",
                                    status_code=409)
            await audit(conn, who.sub, "money.manual", str(target_id), {
                "kind": entry.kind, "amount_cents": entry.amount_cents, "payment_ref": ref,
                "note": entry.note, "event_id": str(event_id), "by": who.sub})
        elif earlier != entry.amount_cents:
            raise HTTPException("entry_id was already used for another amount", status_code=409)
        # A retry credits again, which the services ignore (same payment id): same answer.
        credited = await _credit(services, unit, who.org, event_id, entry, target_id, ref)
    tip = credited if isinstance(credited, TipResult) else None
    bump = credited if isinstance(credited, PaymentApplied) else None
    return ManualResult(payment_ref=ref, target=entry.kind, target_id=target_id,
                        amount_cents=entry.amount_cents, tip=tip, bump=bump)


async def summary(pool: asyncpg.Pool, tenant: Tenant, event_id: uuid.UUID) -> MoneySummary:
    """The event's totals. Raises HTTPException 404 when the tenant has no such event."""
    async with tenant_tx(pool, tenant) as conn:
        if not await _event_exists(conn, event_id):
            raise HTTPException(_NO_EVENT, status_code=404)
        t = await ledger.totals(conn, event_id)
    return MoneySummary(event_id=event_id, currency="usd", gross_cents=t.gross_cents,
                        fees_cents=t.fees_cents, refunds_cents=t.refunds_cents,
                        net_cents=t.net_cents, manual_cents=t.manual_cents,
                        payments=t.payments, refunds=t.refunds)


_READY_ERRORS: docs.Errors = {503: "No Postgres on this node"}
_AUTH = [docs.API_KEY_SECURITY[0], docs.BEARER_SECURITY[0]]


@get("/api/events/{event_id:uuid}/money", security=_AUTH,
     # No body, and a malformed id matches no route: Litestar's assumed 400 cannot happen.
     operation_class=docs.documented(drop=[400]),
     summary="The event's money from the ledger: gross, fees, refunds, net (X-API-Key, or"
             " bearer: dj or admin)",
     description=f"Send `{API_KEY_HEADER}` (the server API key) or `Authorization: Bearer`"
                 " with a dj or admin hub token of the event's organization.",
     responses=docs.errors(docs.BACKING, docs.PATH_ID_ERRORS, _READY_ERRORS, {
         401: "X-API-Key is wrong, or (without one) Authorization: Bearer <hub token> is"
              " missing, invalid or expired",
         403: "The token's roles are neither dj nor admin",
         404: "No such event (in the caller's organization)",
         503: "The server API is disabled (HUB_API_KEY unset) and X-API-Key was sent"}))
async def event_money(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                      bearer: BearerDep) -> MoneySummary:
    db = _ready(pool)
    owner = await db.fetchval("SELECT app_event_org($1)", event_id)
    who = await caller_for(request, bearer, owner, DASHBOARD, unknown="no such event",
                           refusal="the money dashboard needs the dj or admin role")
    return await summary(db, who.tenant(), event_id)


@post("/api/events/{event_id:uuid}/money/manual", status_code=200,
      security=docs.BEARER_SECURITY,
      summary="Record a cash tip or bump in the ledger and credit it (bearer: org owner or"
              " admin; audited)",
      operation_class=docs.documented(docs.json_body(
          ManualEntry, "What was paid by hand, for what, and a note saying so")),
      responses=docs.errors(docs.BEARER_ERRORS, docs.BODY_ERRORS, docs.BACKING,
                            docs.PATH_ID_ERRORS, _READY_ERRORS, {
          400: "The body is not JSON, or a field is missing or unknown",
          403: "The token is not an org owner's or admin's",
          404: "No such event in the caller's organization, or no such request in it",
          409: "The tip is another event's or already paid or refunded, or the service"
               " refused the credit",
          422: "A value is refused: kind is not tip or bump, amount_cents is not 1 to"
               " 100000000, an empty or over-long note, or a bump without target"}))
async def manual_money(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                       services: ServicesDep, bearer: BearerDep) -> ManualResult:
    _ready(pool)
    assert services is not None  # there with Postgres
    who = await bearer(request)
    entry = _decode(await request.body())
    return await record_manual(services, who, event_id, entry)


ROUTES: list[Any] = [event_money, manual_money]
