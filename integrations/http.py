"""Shared pieces of the HTTP routes: the API key guard, bearer auth's shape, JSON bodies.

Routes get what they use through Litestar dependency injection (``hub.app`` provides
them): ``pool``, ``services``, ``node``, each part's config, and ``bearer``, which
turns ``Authorization: Bearer <hub token>`` into a confirmed ``Principal`` (401 otherwise).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers.base import BaseRouteHandler

from rooms.node import Node
from rooms.principal import Principal
from rooms.roles import Role
from rooms.services.dispatch import Dispatcher

T = TypeVar("T")
AnyRequest = Request[Any, Any, Any]
# The caller's principal from its bearer token, staff roles confirmed; 401 otherwise.
Bearer = Callable[[AnyRequest], Awaitable[Principal]]
# Route parameters the hub provides by name (``hub.app.dependencies``).
PoolDep = NamedDependency[asyncpg.Pool | None]  # None: no Postgres on this node
ServicesDep = NamedDependency[Dispatcher | None]
NodeDep = NamedDependency[Node]
BearerDep = NamedDependency[Bearer]
API_KEY_HEADER = "X-API-Key"

# Body caps of the provider webhooks (unbearerd until the signature is
# checked, so a declared size over the cap is refused before anything is read).
WEBHOOK_MAX_BODY = 64 * 1024  # LiveKit events and Twilio SMS forms are a few KB
STRIPE_WEBHOOK_MAX_BODY = 256 * 1024  # Stripe events embed whole objects


def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: the server API needs ``X-API-Key`` equal to ``HUB_API_KEY``.

    The app puts the key in ``app.state.api_key``; with none the server API is
    disabled: 503 that says so.
    """
    expected: str = connection.app.state.api_key
    if not expected:
        raise ServiceUnavailableException("server API disabled: HUB_API_KEY is unset")
    given = connection.headers.get(API_KEY_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException("missing or wrong X-API-Key")


async def json_body(request: AnyRequest, type_: type[T], invalid: int = 400) -> T:
    """Decode and validate a JSON body with msgspec; 400 with the reason otherwise
    (``invalid``, e.g. 422, for JSON whose fields or values are refused)."""
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except msgspec.ValidationError as exc:
        raise HTTPException(str(exc), status_code=invalid) from None
    except msgspec.DecodeError:
        raise HTTPException("body must be JSON", status_code=400) from None


async def caller_for(request: AnyRequest, bearer: Bearer, owner: uuid.UUID | None,
                     roles: frozenset[Role], *, unknown: str, refusal: str) -> Principal:
    """Who acts on a resource of org ``owner`` (None: no such resource): the server for
    the platform key (``X-API-Key``, the only credential checked when sent), else the
    bearer token's confirmed principal, which must be of ``owner`` and hold one of
    ``roles``. Another org's resource answers as an unknown one, so ids cannot be probed.

    Raises:
        HTTPException: 401 (bad key or token), 404 ``unknown``, 403 ``refusal``; 503 when a
            key is sent and the server API is disabled.
    """
    if API_KEY_HEADER in request.headers:
        require_api_key(request, request.route_handler)
        if owner is None:
            raise NotFoundException(unknown)
        return Principal.server(owner)
    who = await bearer(request)
    if owner is None or who.org != owner:
        raise NotFoundException(unknown)
    if not who.has(roles):
        raise PermissionDeniedException(refusal)
    return who
