"""The Litestar application: HTTP API, health, readiness and metrics.

Websockets are served by ``hub.connection`` inside the same uvicorn server
(see that module for why); everything HTTP is here and in the OpenAPI schema
at ``/schema``.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, get, post, put
from litestar.di import Provide
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub import admin_api, api_orgs, api_tokens, api_users, metrics, sse
from hub import protocol as p
from hub.api_events import ROUTES as EVENT_ROUTES
from hub.auth import TokenError
from hub.guests import GuestConfig, GuestLimiter
from hub.http_errors import handle_exception
from hub.http_limits import refuse_oversized_body
from hub.overlay_api import rotate_overlay
from hub.pages import ROUTES as PAGE_ROUTES
from hub.runtime import Hub
from hub.schema_ui import render_plugins
from hub.security_headers import security_headers, stream_origins
from hub.service_events import reserved_type
from hub.settings import Parts, Settings
from hub.unreachable import UNREACHABLE
from integrations import http_docs as docs
from integrations import livekit
from integrations.http import API_KEY_HEADER, AnyRequest, require_api_key
from integrations.routes import ROUTES
from rooms.codes import ServiceError
from rooms.env import from_env
from rooms.names import RoomKind, parse_room
from rooms.principal import Principal


class PublishResult(msgspec.Struct):
    room: str
    epoch: str
    offset: int


class EventRegistration(msgspec.Struct):
    org: uuid.UUID


class PresenceResult(msgspec.Struct):
    room: str
    count: int
    members: list[p.Member]


def _hub(request: Request) -> Hub:  # type: ignore[type-arg]
    hub: Hub = request.app.state.hub
    return hub


STATIC = Path(__file__).parent / "static"
# Litestar appends "; charset=utf-8" to text/* media types itself.
METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")
# Our own text: parse_room's message quotes the (possibly huge) name.
_MALFORMED_ROOM = "room must be org:<uuid> or event:<uuid>"


# Postgres answering with any error (recovery in progress, say) is not ready either.
_POSTGRES_DOWN: tuple[type[BaseException], ...] = (*UNREACHABLE, asyncpg.PostgresError)


class ReadyStatus(msgspec.Struct):
    status: str  # "ready", or why not: "draining", "broker unavailable", "postgres unavailable"


_ROOM_ERRORS: docs.Errors = {400: "The room is not org:<uuid> or event:<uuid>, or the event"
                                  " is unknown"}
_PUBLISH_BODY = docs.raw_body(
    "application/json",
    "Any one JSON value, sent to the room's subscribers as is. At most HUB_MAX_PUBLISH_BYTES"
    " and HUB_MAX_JSON_DEPTH deep; an object whose \"type\" is a room service's event type"
    " is refused (use the call route).")
_CALL_BODY = docs.raw_body(
    "application/json",
    "The method's params, a JSON object (the websocket `call` frame's `params`; see"
    " docs/protocol.md for each method).",
    Schema(type=OpenAPIType.OBJECT))


@get("/live", include_in_schema=False, media_type="text/html", middleware=[security_headers])
async def live_page() -> Response[bytes]:
    """Old ``/live#token=...&room=...`` links: forwards to ``/e``, ``/dj`` or ``/overlay``."""
    return Response((STATIC / "live.html").read_bytes(), media_type="text/html")


@get("/health", summary="Liveness: the process is up", responses=docs.errors())
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Readiness: broker and Postgres answer, and the node is not draining",
     responses=docs.errors({503: "Draining, or the broker or Postgres does not answer"},
                           bodies={503: ReadyStatus}))
async def ready(request: Request) -> Response[dict[str, str]]:  # type: ignore[type-arg]
    hub = _hub(request)
    if hub.draining:
        return Response({"status": "draining"}, status_code=HTTP_503_SERVICE_UNAVAILABLE)
    if not await hub.node.broker.ping():
        return Response({"status": "broker unavailable"},
                        status_code=HTTP_503_SERVICE_UNAVAILABLE)
    if hub.db is not None:
        try:  # the deadline covers the pool's acquire too: a wedged server cannot hang it
            await asyncio.wait_for(hub.db.fetchval("SELECT 1"), 2)
        except _POSTGRES_DOWN:
            return Response({"status": "postgres unavailable"},
                            status_code=HTTP_503_SERVICE_UNAVAILABLE)
    return Response({"status": "ready"})


@get("/metrics", summary="Prometheus metrics", include_in_schema=True,
     responses={**docs.errors(), **docs.ok(str, "Prometheus text exposition format",
                                           media_type=METRICS_MEDIA_TYPE)})
async def prometheus(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
    _hub(request).gauges()
    return Response(generate_latest(), media_type=METRICS_MEDIA_TYPE)


@post("/api/rooms/{room:str}/publish", guards=[require_api_key], status_code=200,
      security=docs.API_KEY_SECURITY, summary="Publish a JSON body to a room, as the server",
      operation_class=docs.documented(_PUBLISH_BODY),
      responses=docs.errors(docs.API_KEY_ERRORS, _ROOM_ERRORS, docs.BODY_ERRORS, docs.BACKING, {
          400: "The body is larger than HUB_MAX_PUBLISH_BYTES, nests deeper than"
               " HUB_MAX_JSON_DEPTH, is not one JSON value, or claims a service event type"}))
async def publish(request: Request, room: str) -> PublishResult:  # type: ignore[type-arg]
    hub = _hub(request)
    try:
        name = parse_room(room)
    except ValueError as exc:
        raise ValidationException(_MALFORMED_ROOM) from exc
    if name.kind is RoomKind.EVENT and await hub.directory.org_of(name) is None:
        raise ValidationException("unknown event")
    body = await request.body()
    if len(body) > hub.settings.max_publish_bytes:
        raise ValidationException("body exceeds HUB_MAX_PUBLISH_BYTES")
    if p.json_depth_exceeds(body, hub.settings.max_json_depth):
        raise ValidationException("body nests deeper than HUB_MAX_JSON_DEPTH")
    if not p.is_valid_json(body):
        raise ValidationException("body must be one JSON value")
    if (claimed := reserved_type(body)) is not None:
        # Clients trust service events; the services publish them after their own checks.
        raise ValidationException(f"type {claimed} is reserved for room services; use"
                                  " /api/rooms/{room}/call/{method}")
    pub = await hub.node.publish(str(name), body)
    metrics.PUBLISHED.inc()
    return PublishResult(room=pub.room, epoch=pub.epoch, offset=pub.offset)


@put("/api/events/{event_id:uuid}", guards=[require_api_key], security=docs.API_KEY_SECURITY,
     summary="Register which organization owns an event room (nodes without Postgres)",
     status_code=204,
     responses=docs.errors(docs.API_KEY_ERRORS, docs.BODY_ERRORS, docs.BACKING,
                           docs.PATH_ID_ERRORS, {
         400: "The body is not {\"org\": <uuid>}",
         409: "This node has Postgres: events belong to organizations there"}))
async def register_event(request: Request, event_id: uuid.UUID,  # type: ignore[type-arg]
                         data: EventRegistration) -> None:
    try:
        await _hub(request).directory.register_event(event_id, data.org)
    except NotImplementedError as exc:
        raise ClientException(str(exc), status_code=409) from None


@get("/api/rooms/{room:str}/presence", guards=[require_api_key],
     security=docs.API_KEY_SECURITY, summary="Who is in a room, across all nodes",
     responses=docs.errors(docs.API_KEY_ERRORS, docs.BACKING,
                           {400: "The room is not org:<uuid> or event:<uuid>"}))
async def presence(request: Request, room: str) -> PresenceResult:  # type: ignore[type-arg]
    try:
        name = str(parse_room(room))
    except ValueError as exc:
        raise ValidationException(_MALFORMED_ROOM) from exc
    members = await _hub(request).node.presence_snapshot(name)
    return PresenceResult(room=name, count=len(members), members=members)


@post("/api/rooms/{room:str}/call/{method:str}", guards=[require_api_key], status_code=200,
      security=docs.API_KEY_SECURITY,
      summary="Call a room service method as the server (integrations, back office)",
      operation_class=docs.documented(_CALL_BODY),
      responses=docs.errors(
          docs.API_KEY_ERRORS, _ROOM_ERRORS, docs.BODY_ERRORS, docs.BACKING, {
              400: "The service refused: invalid params, or its own rule (code, reason)",
              404: "No such method (code 4406), or the params name an unknown"
                   " organization, user or event",
              409: "Stale version (code 4412, with the current state), or a conflict with"
                   " stored records",
              422: "A value the database does not allow",
              503: "Room services need Postgres"},
          bodies={code: docs.either(docs.ErrorBody, docs.ServiceErrorBody)
                  for code in (400, 404, 409)}) | docs.ok(Any, "The method's result (JSON)"))
async def call_service(request: Request, room: str,  # type: ignore[type-arg]
                       method: str) -> Response[bytes]:
    hub = _hub(request)
    if hub.services is None:
        raise ClientException("room services need Postgres", status_code=503)
    try:
        name = parse_room(room)
    except ValueError as exc:
        raise ValidationException(_MALFORMED_ROOM) from exc
    org = await hub.directory.org_of(name)
    if org is None:
        raise ValidationException("unknown event")
    try:
        result = await hub.services.call(Principal.server(org), name, method,
                                         await request.body())
    except ServiceError as exc:
        body = {"code": int(exc.code), "reason": exc.reason,
                "state": None if exc.state is None else msgspec.to_builtins(exc.state)}
        status = 404 if exc.code is p.ErrorCode.UNKNOWN_METHOD else (
            409 if exc.code is p.ErrorCode.STALE_VERSION else 400)
        return Response(msgspec.json.encode(body), status_code=status,
                        media_type="application/json")
    return Response(result, media_type="application/json")


# The operator API: organizations, users, members, tokens (README "Operator API").
OPERATOR_ROUTES = [*api_orgs.ROUTES, *api_users.ROUTES, *admin_api.ROUTES, *api_tokens.ROUTES]


def dependencies(hub: Hub) -> dict[str, Provide]:
    """What routes may ask for by parameter name: the parts they use, never the ``Hub``.

    The pool and the services are None on a node without Postgres; each route says so
    in its own words (503).
    """
    parts = hub.parts

    async def bearer(request: AnyRequest) -> Principal:
        """The bearer token's principal, by the websocket's rules: at most
        HUB_MAX_TOKEN_TTL, and staff roles only as far as a membership confirms them."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException("Authorization: Bearer <hub token> required", status_code=401)
        try:
            principal = hub.verify(token.strip())
        except TokenError as exc:
            raise HTTPException(exc.reason, status_code=401) from None
        return await hub.confirmed(principal)

    def value(get: Callable[[], object]) -> Provide:
        return Provide(get, sync_to_thread=False)

    return {
        "pool": value(lambda: hub.db),
        "services": value(lambda: hub.services),
        "node": value(lambda: hub.node),
        "bearer": value(lambda: bearer),
        "stripe_cfg": value(lambda: parts.stripe),
        "livekit_cfg": value(lambda: parts.livekit),
        "twilio_cfg": value(lambda: parts.twilio),
        "agents_cfg": value(lambda: parts.agents),
        # A refund's pay-per-view revoke, in the refund webhook's transaction.
        "revoke_ppv": value(lambda: functools.partial(livekit.revoke_access, parts.livekit)),
    }


def create_app(settings: Settings, hub: Hub | None = None, parts: Parts | None = None) -> Litestar:
    hub = hub or Hub(settings, parts)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = Litestar(
        route_handlers=[health, ready, prometheus, publish, register_event, presence,
                        call_service, rotate_overlay, live_page, sse.room_events, *PAGE_ROUTES,
                        create_static_files_router(path="/static", directories=[STATIC],
                                                   middleware=[security_headers]),
                        *EVENT_ROUTES, *ROUTES, *OPERATOR_ROUTES],
        lifespan=[lifespan],
        dependencies=dependencies(hub),
        # Routes that take bodies set smaller caps (webhooks, integrations.http).
        request_max_body_size=settings.max_body_bytes,
        before_request=refuse_oversized_body,  # also on routes that never read a body
        exception_handlers={Exception: handle_exception},
        openapi_config=OpenAPIConfig(
            title="livehub", version="0.1.0", render_plugins=render_plugins(),
            components=Components(security_schemes={
                docs.API_KEY: SecurityScheme(type="apiKey", name=API_KEY_HEADER,
                                             security_scheme_in="header"),
                docs.BEARER: SecurityScheme(
                    type="http", scheme="bearer", bearer_format="JWT",
                    description="The caller's hub connection token (the websocket's), at"
                                " most HUB_MAX_TOKEN_TTL long"),
            }),
        ),
    )
    app.state.hub = hub  # the hub's own routes (health, publish, members...)
    app.state.api_key = settings.api_key  # integrations.http.require_api_key
    app.state.product_hosts = frozenset(hub.products)  # integrations.stripe_return
    app.state.guest_config = guest = from_env(GuestConfig)  # hub.api_events' guest links
    app.state.guest_limiter = GuestLimiter(guest.per_minute)
    app.state.refresh_limiter = GuestLimiter(api_tokens.REFRESHES_PER_MINUTE)  # per sub
    # The pages' CSP lets them reach LiveKit for the video (hub.security_headers).
    app.state.page_connect = stream_origins(hub.parts.livekit.browser_url)
    return app
