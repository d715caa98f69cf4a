"""Events over HTTP: create, list, read, change settings, run the lifecycle, guest links.

Auth: the server API key (``X-API-Key``; acts as the org's admin) or a hub bearer token
whose roles a membership confirms. Owners and admins do everything; DJs read, change
settings and run the lifecycle of their org's events but do not create them; other roles
get 403. Another org's events and orgs answer 404, as unknown ones do, so ids cannot be
probed. Changes go through the room services (``event.update``, ``event.status``), which
authorize, lock the event row, audit and broadcast.

``POST /api/events/{id}/guest`` needs no auth: the event id in a shared link is the
secret. It mints a short-lived viewer token for a public, free, not yet ended event.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Annotated, Any

import msgspec
from litestar import get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.response import Response

from hub.auth import mint_token
from hub.guests import GuestLimiter
from hub.runtime import Hub
from integrations import http_docs as docs
from integrations.http import AnyRequest, BearerDep, caller_for, json_body
from persistence import events as store
from persistence.tenant import tenant_tx
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal, display_name
from rooms.roles import Role
from rooms.services.event import RUNNERS
from rooms.services.event_wire import EventSettings, NewEvent, StatusChange

_CREATORS = frozenset({Role.ADMIN})
_STATUS_VALUES = ("scheduled", "live", "ended", "cancelled")


class EventList(msgspec.Struct, frozen=True):
    events: list[store.Event]  # newest first


class GuestRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class GuestToken(msgspec.Struct, frozen=True):
    token: str  # a viewer connection token for the event's org
    sub: str  # guest:<random>
    name: str  # the display name others see (cleaned)
    room: str  # event:<uuid>
    expires_at: int  # ms since the Unix epoch
    url: str  # the viewer page with this token: /e/<event>#token=...


# -- auth ---------------------------------------------------------------------------------

_AUTH = [*docs.API_KEY_SECURITY, *docs.BEARER_SECURITY]
_AUTH_ERRORS: docs.Errors = {
    401: "Neither a valid X-API-Key nor a valid Authorization: Bearer <hub token>",
    503: "Events need Postgres, or the X-API-Key given but HUB_API_KEY is unset"}
_UNKNOWN_EVENT: docs.Errors = {404: "Unknown event, or another organization's"}
_NOT_RUNNER: docs.Errors = {403: "The token's confirmed roles include none of owner, admin, dj"}
# A change of an existing event (PATCH, status): a JSON body, run by a room service.
_CHANGE_ERRORS = (_AUTH_ERRORS, docs.BODY_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS,
                  _UNKNOWN_EVENT, _NOT_RUNNER, {400: "The body is not JSON"})


def _hub(request: AnyRequest) -> Hub:
    hub: Hub = request.app.state.hub
    if hub.db is None or hub.services is None:
        raise HTTPException("events need Postgres", status_code=503)
    return hub


async def _caller(request: AnyRequest, bearer: BearerDep, org: uuid.UUID | None,
                  roles: frozenset[Role]) -> Principal:
    """The server (API key) acting for ``org``, or the bearer's confirmed principal; 404
    for another org (or an unknown one), 403 without one of ``roles``."""
    return await caller_for(request, bearer, org, roles, unknown="unknown organization",
                            refusal=f"needs one of the roles {', '.join(sorted(roles))}")


async def _event_caller(request: AnyRequest, bearer: BearerDep, event_id: uuid.UUID,
                        roles: frozenset[Role]) -> Principal:
    owner = await _hub(request).directory.event_org(event_id)
    return await caller_for(request, bearer, owner, roles, unknown="unknown event",
                            refusal=f"needs one of the roles {', '.join(sorted(roles))}")


_SERVICE_STATUS = {ErrorCode.UNKNOWN_ROOM: 404, ErrorCode.FORBIDDEN: 403,
                   ErrorCode.INVALID_FIELD: 422, ErrorCode.REFUSED: 409}


async def _invoke(request: AnyRequest, who: Principal, event_id: uuid.UUID, method: str,
                  params: Any) -> store.Event:
    services = _hub(request).services
    assert services is not None
    try:
        result: store.Event = await services.invoke(
            who, RoomName(RoomKind.EVENT, event_id), method, params)
    except ServiceError as exc:
        raise HTTPException(exc.reason, status_code=_SERVICE_STATUS.get(exc.code, 400)) from None
    return result


# -- routes ---------------------------------------------------------------------------------


@post("/api/orgs/{org_id:uuid}/events", status_code=201, security=_AUTH,
      summary="Create an event (owner, admin); features default by the org's product",
      operation_class=docs.documented(docs.json_body(NewEvent, "The title and any settings")),
      responses=docs.errors(_AUTH_ERRORS, docs.BODY_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS, {
          400: "The body is not JSON",
          403: "The token's confirmed roles do not include owner or admin",
          404: "Unknown organization, or another organization",
          422: "A field is missing, unknown, blank or out of range, or a bad enum value"}))
async def create_event(request: AnyRequest, org_id: uuid.UUID, bearer: BearerDep) -> store.Event:
    who = await _caller(request, bearer, org_id, _CREATORS)
    body = await json_body(request, NewEvent, invalid=422)
    values = body.values()
    if not values["title"]:
        raise HTTPException("title must not be blank", status_code=422)
    async with tenant_tx(_hub(request).db, who.tenant()) as conn:  # type: ignore[arg-type]
        product = await store.product_of(conn, org_id)
        if product is None:
            raise HTTPException("unknown organization", status_code=404)
        return await store.create(conn, org_id, product, values)


@get("/api/orgs/{org_id:uuid}/events", security=_AUTH,
     summary="An organization's events, newest first (owner, admin, dj)",
     responses=docs.errors(_AUTH_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS, _NOT_RUNNER, {
         400: "limit is not an integer",
         404: "Unknown organization, or another organization",
         422: "status is not scheduled, live, ended or cancelled, or limit is out of range"}))
async def list_events(request: AnyRequest, org_id: uuid.UUID, bearer: BearerDep,
                      status: str | None = None,
                      limit: Annotated[int, Parameter(ge=1, le=200)] = 50) -> EventList:
    who = await _caller(request, bearer, org_id, RUNNERS)
    if status is not None and status not in _STATUS_VALUES:
        raise HTTPException(f"status must be one of {', '.join(_STATUS_VALUES)}",
                            status_code=422)
    async with tenant_tx(_hub(request).db, who.tenant()) as conn:  # type: ignore[arg-type]
        if await store.product_of(conn, org_id) is None:
            raise HTTPException("unknown organization", status_code=404)
        return EventList(await store.list_for(conn, org_id, status, limit))  # type: ignore[arg-type]


@get("/api/events/{event_id:uuid}", security=_AUTH,
     summary="An event and all its settings (owner, admin, dj)",
     responses=docs.errors(_AUTH_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS, _UNKNOWN_EVENT,
                           _NOT_RUNNER, {400: "A parameter is malformed"}))
async def read_event(request: AnyRequest, event_id: uuid.UUID, bearer: BearerDep) -> store.Event:
    who = await _event_caller(request, bearer, event_id, RUNNERS)
    async with tenant_tx(_hub(request).db, who.tenant()) as conn:  # type: ignore[arg-type]
        event = await store.get(conn, event_id)
    if event is None:
        raise HTTPException("unknown event", status_code=404)
    return event


@patch("/api/events/{event_id:uuid}", security=_AUTH,
       summary="Change an event's settings (owner, admin, dj); absent fields stay",
       operation_class=docs.documented(docs.json_body(
           EventSettings, "The settings to change; null clears a nullable one")),
       responses=docs.errors(*_CHANGE_ERRORS, {
           422: "A field is unknown, blank or out of range, or a bad enum value"}))
async def update_event(request: AnyRequest, event_id: uuid.UUID,
                       bearer: BearerDep) -> store.Event:
    who = await _event_caller(request, bearer, event_id, RUNNERS)
    body = await json_body(request, EventSettings, invalid=422)
    return await _invoke(request, who, event_id, "event.update", body)


@post("/api/events/{event_id:uuid}/status", status_code=200, security=_AUTH,
      summary="Move an event along its lifecycle (owner, admin, dj): scheduled -> live ->"
              " ended, scheduled -> cancelled; live and ended broadcast event_status",
      operation_class=docs.documented(docs.json_body(StatusChange, "The status to move to")),
      responses=docs.errors(*_CHANGE_ERRORS, {
          409: "The event cannot go from its status to that one (both named)",
          422: "status is not live, ended or cancelled"}))
async def change_status(request: AnyRequest, event_id: uuid.UUID,
                        bearer: BearerDep) -> store.Event:
    who = await _event_caller(request, bearer, event_id, RUNNERS)
    body = await json_body(request, StatusChange, invalid=422)
    return await _invoke(request, who, event_id, "event.status", body)


@post("/api/events/{event_id:uuid}/guest", status_code=201,
      summary="A guest viewer token for a public, free event that has not ended (no auth;"
              " rate-limited per client address)",
      operation_class=docs.documented(docs.json_body(GuestRequest, "The guest's display name")),
      responses=docs.errors(docs.BODY_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS, {
          400: "The body is not JSON",
          403: "The event is private, or pay-per-view",
          404: "Unknown event",
          409: "The event has ended or was cancelled",
          422: "display_name is missing, too long, or has nothing printable",
          429: "Too many guest tokens from this address; retry after Retry-After seconds",
          503: "Events need Postgres"}))
async def guest_token(request: AnyRequest, event_id: uuid.UUID) -> Response[GuestToken]:
    hub = _hub(request)
    limiter: GuestLimiter = request.app.state.guest_limiter
    wait = limiter.take(request.client.host if request.client else "")
    if wait:
        raise HTTPException("too many guest tokens from this address", status_code=429,
                            headers={"Retry-After": str(wait)})
    body = await json_body(request, GuestRequest, invalid=422)
    name = display_name(body.display_name)
    if not name:
        raise HTTPException("display_name has nothing printable", status_code=422)
    org = await hub.directory.event_org(event_id)
    event = None
    if org is not None:
        async with tenant_tx(hub.db, Principal.server(org).tenant()) as conn:  # type: ignore[arg-type]
            event = await store.get(conn, event_id)
    if org is None or event is None:
        raise HTTPException("unknown event", status_code=404)
    if event.visibility != "public":
        raise HTTPException("the event is private: ask its host for an invitation",
                            status_code=403)
    if event.pay_per_view:
        raise HTTPException("the event is pay-per-view: buy a ticket to watch", status_code=403)
    if event.status in store.CLOSED:
        raise HTTPException(f"the event is {event.status}", status_code=409)
    ttl = min(request.app.state.guest_config.ttl, hub.settings.max_token_ttl)
    sub = f"guest:{secrets.token_urlsafe(12)}"
    token = mint_token(hub.settings.secret, sub=sub, org=org, roles=[Role.VIEWER.value],
                       ttl=ttl, name=name)
    expires = int((dt.datetime.now(dt.UTC).timestamp() + ttl) * 1000)
    room = f"event:{event_id}"
    return Response(GuestToken(token, sub, name, room, expires,
                               f"/e/{event_id}#token={token}"), status_code=201)


ROUTES = [create_event, list_events, read_event, update_event, change_status, guest_token]
