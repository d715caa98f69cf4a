"""Operator API: mint a hub connection token for a member (platform key).

This is how an operator's own backend signs its users in: it names the user (their
``users.id`` or ``external_id``) and the role; the hub checks the membership confirms the
role (``hub.memberships.CONFIRMS``) and signs a token whose ``sub`` is the user's
external_id if set, else their users.id, for at most ``HUB_MAX_TOKEN_TTL`` seconds.
"""

from __future__ import annotations

import time
import uuid

from litestar import post
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException

from hub import operator_auth as op
from hub.auth import mint_token
from hub.memberships import CONFIRMS
from hub.operator_wire import IssuedToken, TokenRequest
from integrations import http_docs as docs
from integrations.http import AnyRequest, BearerDep, PoolDep
from persistence import members
from persistence.tenant import tenant_tx
from rooms.roles import Role


@post("/api/orgs/{org_id:uuid}/tokens", status_code=200, security=op.KEY_OR_BEARER,
      summary="Mint a hub token for a member (platform key)",
      description="An admin token of the organization is refused (403: minting needs the"
                  " platform key); a token of another organization gets 404.",
      operation_class=docs.documented(docs.json_body(
          TokenRequest, "The member (exactly one of user_id and external_id), the role and"
                        " the lifetime in seconds (capped at HUB_MAX_TOKEN_TTL)")),
      responses=docs.errors(op.KEY_OR_BEARER_ERRORS, op.BODY_422, docs.BACKING, docs.PATH_ID_ERRORS,
                            {403: "Only the platform key mints tokens; or the membership does"
                                  " not confirm the role",
                             404: "The user is not a member of the organization"}))
async def issue_token(request: AnyRequest, org_id: uuid.UUID, pool: PoolDep,
                      bearer: BearerDep) -> IssuedToken:
    who = await op.org_caller(request, org_id, bearer)
    op.platform_only(who, "minting tokens")
    pool = op.need_db(pool)
    body = await op.decode(request, TokenRequest)
    if (body.user_id is None) == (body.external_id is None):
        raise HTTPException("give exactly one of user_id and external_id", status_code=422)
    async with tenant_tx(pool, who.tenant()) as conn:
        found = await members.member(conn, org_id, user=body.user_id,
                                     external_id=body.external_id)
    if found is None:
        raise NotFoundException("the user is not a member of this organization")
    if body.role is not Role.VIEWER and body.role not in CONFIRMS[found["role"]]:
        raise PermissionDeniedException(f"a {found['role']} membership does not confirm the"
                                        f" {body.role} role")
    settings = op.hub_of(request).settings
    ttl = min(body.ttl, settings.max_token_ttl)
    sub = found["external_id"] or str(found["user_id"])
    return IssuedToken(token=mint_token(settings.secret, sub=sub, org=org_id,
                                        roles=[body.role.value], ttl=ttl),
                       sub=sub, org=org_id, roles=[body.role.value],
                       expires_at=int(time.time()) + ttl)



ROUTES = [issue_token]
