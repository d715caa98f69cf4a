"""Operator API: organizations. Create with the platform key; read and update with the
key or an admin token of that org (``hub.operator_auth``).

Writes run in ``tenant_tx`` as the caller, so RLS (0001: ``org_edit``) is the last word on
which row may change. Blocked words are the moderation service's: a PATCH that sets them
calls ``moderation.blocked_words`` through the dispatcher in the same transaction as the
other fields (authorized, audited and versioned there, so every node recompiles its
matcher). Changes to the tip threshold and the SMS number are audited here.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
from litestar import get, patch, post
from litestar.exceptions import HTTPException, NotFoundException

from hub import operator_auth as op
from hub.operator_wire import Org, OrgCreate, OrgPatch
from hub.products import product_for
from integrations import http_docs as docs
from integrations.http import AnyRequest, BearerDep, PoolDep, ServicesDep, require_api_key
from persistence import orgs
from persistence.audit import audit
from persistence.tenant import tenant_tx
from rooms.codes import ServiceError
from rooms.names import parse_room
from rooms.principal import Principal
from rooms.services.moderation import BlockedWords

_AUDITED = ("tip_priority_cents", "sms_number")  # money and who fans' texts reach
_DUPLICATES = {"organizations_slug_key": "slug already taken",
               "organizations_sms_number_key": "sms_number already belongs to another"
                                               " organization"}
_HOST_NOTE = ("`brand` is the product configured for the request's `Host` header"
              " (HUB_PRODUCT_HOSTS), else the org's product_context.")
_ORG_ERRORS: docs.Errors = {409: "The slug or SMS number belongs to another organization",
                            422: "A value is not allowed (e.g. too many blocked words)"}


def _duplicate(exc: asyncpg.UniqueViolationError) -> HTTPException:
    return HTTPException(_DUPLICATES.get(exc.constraint_name or "", "already exists"),
                         status_code=409)


async def _view(request: AnyRequest, conn: Any, row: asyncpg.Record) -> Org:
    words, action = await orgs.chat_rules(conn, row["id"])
    host = request.headers.get("host", "")
    return Org(**dict(row), brand=product_for(op.hub_of(request).products, host,
                                              row["product_context"]),
               blocked_words=words, blocked_action=action)


@post("/api/orgs", status_code=201, guards=[require_api_key], security=docs.API_KEY_SECURITY,
      summary="Create an organization (platform key)", description=_HOST_NOTE,
      operation_class=docs.documented(docs.json_body(
          OrgCreate, "The organization; the slug defaults to one made from the name")),
      responses=docs.errors(docs.API_KEY_ERRORS, op.BODY_422, docs.BACKING, _ORG_ERRORS, {
          503: "Organizations need Postgres"}))
async def create_org(request: AnyRequest, pool: PoolDep) -> Org:
    pool = op.need_db(pool)
    body = await op.decode(request, OrgCreate)
    extra = {k: v for k in ("tip_priority_cents", "sms_number")
             if (v := getattr(body, k)) is not None}
    for slug in [body.slug] if body.slug else orgs.slugs_for(body.name):
        org = uuid.uuid4()
        try:
            # Creating an org means claiming its new id first (RLS policy org_create).
            async with tenant_tx(pool, Principal.server(org).tenant()) as conn:
                row = await orgs.insert(conn, org, body.name, slug, body.product_context,
                                        extra)
                await audit(conn, None, "org.create", str(org),
                            {"slug": slug, "product_context": body.product_context, **extra})
                return await _view(request, conn, row)
        except asyncpg.UniqueViolationError as exc:
            if body.slug or exc.constraint_name != "organizations_slug_key":
                raise _duplicate(exc) from None
    raise HTTPException("could not find a free slug; pass one", status_code=409)


@get("/api/orgs/{org_id:uuid}", security=op.KEY_OR_BEARER,
     summary="An organization (platform key, or an admin token of the org)",
     description=_HOST_NOTE, operation_class=docs.documented(drop=[400]),
     responses=docs.errors(op.KEY_OR_BEARER_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS))
async def read_org(request: AnyRequest, org_id: uuid.UUID, pool: PoolDep,
                   bearer: BearerDep) -> Org:
    async with op.org_tx(request, org_id, bearer, pool) as (conn, row):
        return await _view(request, conn, row)


@patch("/api/orgs/{org_id:uuid}", security=op.KEY_OR_BEARER,
       summary="Change an organization (platform key, or an admin token of the org; audited)",
       description=_HOST_NOTE + " Blocked words go through the moderation service"
                                " (`moderation.blocked_words`): every node applies them with"
                                " the next chat message.",
       operation_class=docs.documented(docs.json_body(
           OrgPatch, "The fields to change; absent fields stay as they are")),
       responses=docs.errors(op.KEY_OR_BEARER_ERRORS, op.BODY_422, docs.BACKING, _ORG_ERRORS,
                             docs.PATH_ID_ERRORS))
async def update_org(request: AnyRequest, org_id: uuid.UUID, pool: PoolDep,
                     services: ServicesDep, bearer: BearerDep) -> Org:
    who = await op.org_caller(request, org_id, bearer)
    pool = op.need_db(pool)
    body = await op.decode(request, OrgPatch)
    if services is None:
        raise HTTPException("the operator API needs Postgres", status_code=503)
    changes = {k: v for k in orgs.EDITABLE
               if (v := getattr(body, k)) is not msgspec.UNSET}
    try:
        async with services.unit(who) as unit:
            before = await orgs.fetch(unit.conn, org_id, lock=True)
            if before is None:
                raise NotFoundException(op.UNKNOWN_ORG)
            row = await orgs.update(unit.conn, org_id, changes)
            moved = {k: {"from": before[k], "to": row[k]} for k in _AUDITED
                     if before[k] != row[k]}
            if moved:
                await audit(unit.conn, _actor(who), "org.update", str(org_id), moved)
            if body.blocked_words is not msgspec.UNSET or body.blocked_action is not msgspec.UNSET:
                words, action = await orgs.chat_rules(unit.conn, org_id)
                rules = BlockedWords(
                    words=words if body.blocked_words is msgspec.UNSET else body.blocked_words,
                    action=action if body.blocked_action is msgspec.UNSET
                    else body.blocked_action)
                await services.invoke(who, parse_room(f"org:{org_id}"),
                                      "moderation.blocked_words", rules, unit=unit)
            view = await _view(request, unit.conn, row)
    except asyncpg.UniqueViolationError as exc:
        raise _duplicate(exc) from None
    except ServiceError as exc:
        raise HTTPException(exc.reason, status_code=422) from None
    return view


def _actor(who: Principal) -> str | None:
    """The audit actor: the token's subject; None for the platform key."""
    return None if who.is_server else who.sub


ROUTES = [create_org, read_org, update_org]
