"""Guards for the server API: the ``X-API-Key`` header must equal ``HUB_API_KEY``."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException
from litestar.handlers.base import BaseRouteHandler

API_KEY_HEADER = "X-API-Key"


def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: the server API needs ``X-API-Key`` equal to ``HUB_API_KEY``.

    With no ``HUB_API_KEY`` the server API is disabled: 503 that says so.
    """
    expected = connection.app.state.hub.settings.api_key
    if not expected:
        raise ServiceUnavailableException("server API disabled: HUB_API_KEY is unset")
    given = connection.headers.get(API_KEY_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException("missing or wrong X-API-Key")
