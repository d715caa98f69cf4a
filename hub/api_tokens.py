"""Hub connection tokens over HTTP: minting (operator API) and refreshing (pages).

Minting is how an operator's own backend signs its users in: it names the user (their
``users.id`` or ``external_id``) and the role; the hub checks the membership confirms the
role (``hub.memberships.CONFIRMS``) and signs a token whose ``sub`` is the user's
external_id if set, else their users.id, for at most ``HUB_MAX_TOKEN_TTL`` seconds.

Refreshing (``POST /api/tokens/refresh``) swaps a valid token, or one expired at most
``HUB_REFRESH_GRACE`` seconds ago (a laptop that slept through its refresh), for a fresh
one with the same claims, within the sign-in's ``HUB_MAX_SESSION`` (``hub.token_refresh``).
No other route or the websocket accepts an expired token.
``REFRESHES_PER_MINUTE`` per ``sub`` and org, per process: a page needs one per token
lifetime, a few tabs a few more.
"""

from __future__ import annotations

import time
import uuid

import msgspec
from litestar import post
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException

from hub import operator_auth as op
from hub import token_refresh as renew
from hub.auth import TokenError, mint_token, verify_claims
from hub.guests import GuestLimiter
from hub.memberships import CONFIRMS
from hub.operator_wire import IssuedToken, TokenRequest
from integrations import http_docs as docs
from integrations.http import AnyRequest, BearerDep, PoolDep
from persistence import members
from persistence.overlays import well_formed as overlay_shaped
from persistence.tenant import tenant_tx
from rooms.roles import Role

REFRESHES_PER_MINUTE = 10


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



class RefreshedToken(msgspec.Struct, frozen=True):
    token: str  # the new hub token: same sub, org, name; roles as confirmed now
    sub: str
    org: uuid.UUID
    roles: list[str]  # the roles in effect (a staff role no membership confirms is gone)
    name: str  # the display name claim ("" when the token has none)
    expires_at: int  # ms since the Unix epoch: refresh before this
    session_expires_at: int  # ms since the Unix epoch: no refresh past this; sign in again


def _presented(request: AnyRequest) -> str:
    """The bearer token as sent; 401 for anything that cannot be one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException("Authorization: Bearer <hub token> required", status_code=401)
    if "." not in token and overlay_shaped(token):
        raise HTTPException("an overlay link is not a token: it does not expire and has"
                            " nothing to refresh", status_code=401)
    return token


@post("/api/tokens/refresh", status_code=200, security=docs.BEARER_SECURITY,
      summary="A fresh hub token for the one presented (pages refresh before exp)",
      description="The bearer (Authorization header) is the current hub token, valid or"
                  " expired at most HUB_REFRESH_GRACE seconds ago (default 1800: a laptop"
                  " asleep through a break); no body. The new token keeps the sub, org, name"
                  " and event claims and the"
                  " presented token's lifetime (exp - iat, at most HUB_MAX_TOKEN_TTL). Staff"
                  " roles are re-confirmed against memberships: one no longer confirmed is"
                  " dropped (a removed DJ gets a viewer token), never added. A chain of"
                  " refreshes ends HUB_MAX_SESSION after the sign-in it started from"
                  " (auth_time); no token's exp reaches past that.",
      operation_class=docs.documented(drop=[400]),
      responses=docs.errors(docs.BEARER_ERRORS, docs.BACKING, {
          401: "An overlay secret (not a token); or the session is older than"
               " HUB_MAX_SESSION: sign in again",
          429: "Too many refreshes for this sub; retry after Retry-After seconds"}))
async def refresh_token(request: AnyRequest) -> RefreshedToken:
    hub = op.hub_of(request)
    settings = hub.settings
    try:
        who, claims = verify_claims(settings.secret, _presented(request),
                                    max_ttl=settings.max_token_ttl,
                                    expired_grace=settings.refresh_grace)
        now = int(time.time())
        plan = renew.renewal(claims, now=now, max_ttl=settings.max_token_ttl,
                             max_session=settings.max_session)
        extra = renew.carried(claims, plan)
    except TokenError as exc:
        raise HTTPException(exc.reason, status_code=401) from None
    except renew.SessionOver as exc:
        raise HTTPException(str(exc), status_code=401) from None
    limiter: GuestLimiter = request.app.state.refresh_limiter
    wait = limiter.take(f"{who.org}/{who.sub}")
    if wait:
        raise HTTPException("too many token refreshes", status_code=429,
                            headers={"Retry-After": str(wait)})
    roles = sorted(role.value for role in (await hub.confirmed(who)).roles)
    token = mint_token(settings.secret, sub=who.sub, org=who.org, roles=roles, ttl=plan.ttl,
                       name=who.name, extra=extra, now=now)
    return RefreshedToken(token=token, sub=who.sub, org=who.org, roles=roles, name=who.name,
                          expires_at=(now + plan.ttl) * 1000,
                          session_expires_at=plan.session_ends * 1000)


ROUTES = [issue_token, refresh_token]
