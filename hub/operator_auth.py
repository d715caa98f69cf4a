"""Who may use the operator API on an organization, and how its bodies are read.

An operator route accepts either the platform key (``X-API-Key``: the server, for any
org) or a hub bearer token of that org whose admin role a membership confirms (an owner
or admin membership; ``hub.memberships``), checked the same way as everywhere else
(``hub.app.dependencies()['bearer']``). A token of another organization gets 404, as if
the org did not exist, so org ids cannot be probed; a token of the org without the role
gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
import msgspec
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)

from hub.runtime import Hub
from integrations import http_docs as docs
from integrations.http import API_KEY_HEADER, AnyRequest, Bearer, caller_for
from persistence import orgs
from persistence.tenant import tenant_tx
from rooms.principal import Principal
from rooms.roles import Role

T = TypeVar("T")

UNKNOWN_ORG = "unknown organization"
# Key or token: OpenAPI lists alternatives as separate requirements.
KEY_OR_BEARER: list[dict[str, list[str]]] = [*docs.API_KEY_SECURITY, *docs.BEARER_SECURITY]
KEY_OR_BEARER_ERRORS: docs.Errors = {
    401: "Neither a valid X-API-Key nor a valid bearer token (missing, invalid, expired or"
         " longer than HUB_MAX_TOKEN_TTL)",
    403: "The bearer token's admin role is not confirmed by an owner or admin membership",
    404: "Unknown organization (also for a token of another organization)",
    503: "The server API is disabled (HUB_API_KEY unset) and a key was sent; or no Postgres"}
BODY_422: docs.Errors = {**docs.BODY_ERRORS,
                         400: "The body is not JSON",
                         422: "A field is missing, unknown, of the wrong type or out of"
                              " range (the reason names it)"}


async def org_caller(request: AnyRequest, org: uuid.UUID, bearer: Bearer) -> Principal:
    """The principal acting on ``org``: the server for the platform key, else the bearer
    token's, which must be of ``org`` and carry a confirmed admin role.

    Raises:
        HTTPException: 401 neither credential is valid, 404 another organization's token,
            403 the token's admin role is not confirmed.
    """
    return await caller_for(request, bearer, org, frozenset({Role.ADMIN}), unknown=UNKNOWN_ORG,
                            refusal="needs an admin token confirmed by an owner or admin"
                                    " membership of this organization")


@asynccontextmanager
async def org_tx(request: AnyRequest, org: uuid.UUID, bearer: Bearer, pool: asyncpg.Pool | None,
                 ) -> AsyncIterator[tuple[PoolConnectionProxy, Record]]:
    """For a read: the caller admitted to ``org`` (``org_caller``), then a transaction under
    its claims and the org's row.

    Raises:
        HTTPException: as ``org_caller``; 503 without Postgres; 404 for an unknown org.
    """
    who = await org_caller(request, org, bearer)
    async with tenant_tx(need_db(pool), who.tenant()) as conn:
        row = await orgs.fetch(conn, org)
        if row is None:
            raise NotFoundException(UNKNOWN_ORG)
        yield conn, row


def hub_of(request: AnyRequest) -> Hub:
    """The running hub (the hub layer's own routes may see it; integrations may not)."""
    hub: Hub = request.app.state.hub
    return hub


def platform_only(who: Principal, what: str) -> None:
    """Refuse a token caller where only the platform key may act (403).

    Raises:
        PermissionDeniedException: ``who`` is not the server.
    """
    if not who.is_server:
        raise PermissionDeniedException(f"{what} needs the platform key ({API_KEY_HEADER})")


def need_db(pool: asyncpg.Pool | None) -> asyncpg.Pool:
    """The pool; 503 on a node without Postgres (``pool`` is None there).

    Raises:
        ServiceUnavailableException: no Postgres.
    """
    if pool is None:
        raise ServiceUnavailableException("the operator API needs Postgres")
    return pool


async def decode(request: AnyRequest, type_: type[T]) -> T:
    """The JSON body as ``type_``: 400 if it is not JSON, 422 naming the field otherwise.

    Raises:
        HTTPException: 400 or 422.
    """
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except msgspec.ValidationError as exc:
        reason = str(exc)  # names the field; an enum's echoed value is the caller's: cap it
        raise HTTPException(reason if len(reason) <= 200 else reason[:199] + "…",
                            status_code=422) from None
    except msgspec.DecodeError:
        raise HTTPException("body must be JSON", status_code=400) from None
