"""Shared pieces of the integrations' HTTP routes: bearer auth and JSON bodies."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException

from hub.auth import Principal, TokenError, verify_token
from hub.runtime import Hub

T = TypeVar("T")
AnyRequest = Request[Any, Any, Any]

# Body caps of the provider webhooks (unauthenticated until the signature is
# checked, so a declared size over the cap is refused before anything is read).
WEBHOOK_MAX_BODY = 64 * 1024  # LiveKit events and Twilio SMS forms are a few KB
STRIPE_WEBHOOK_MAX_BODY = 256 * 1024  # Stripe events embed whole objects


async def bearer(request: AnyRequest, hub: Hub) -> Principal:
    """The caller's hub connection token from ``Authorization: Bearer``; 401 otherwise.

    The same rules as a websocket: at most ``HUB_MAX_TOKEN_TTL``, and with Postgres the
    token's staff roles count only as far as a membership confirms them (hub.roles).
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException("Authorization: Bearer <hub token> required", status_code=401)
    try:
        principal = verify_token(hub.settings.secret, token.strip(),
                                 max_ttl=hub.settings.max_token_ttl)
    except TokenError as exc:
        raise HTTPException(exc.reason, status_code=401) from None
    if hub.roles is not None:
        principal = await hub.roles.confirm(principal)
    return principal


async def json_body(request: AnyRequest, type_: type[T]) -> T:
    """Decode and validate a JSON body with msgspec; 400 with the reason otherwise."""
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except msgspec.ValidationError as exc:
        raise HTTPException(str(exc), status_code=400) from None
    except msgspec.DecodeError:
        raise HTTPException("body must be JSON", status_code=400) from None
