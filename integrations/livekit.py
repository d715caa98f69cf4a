"""LiveKit video for events: role-based access tokens, going live, pay-per-view revocation
and webhooks (viewer count, room status).

Configuration (environment, see ``integrations.livekit_config``):

* ``LIVEKIT_URL``: LiveKit server URL (e.g. ``http://127.0.0.1:7880``); RoomService
  calls go here and token responses hand it to browsers.
* ``LIVEKIT_API_KEY`` / ``LIVEKIT_API_SECRET``: key pair for tokens, RoomService calls
  and webhook verification. Unset: every route below answers 503
  "streaming not configured".
* ``LIVEKIT_TOKEN_TTL``: access token lifetime in seconds (default 600).

Routes (the bearer is the caller's hub connection token, ``Authorization: Bearer``):

* ``POST /api/events/{event_id}/livekit-token`` ``{"kind": "publisher"|"viewer"|"bot"}``:
  a LiveKit token for the caller's org's event (grants: ``livekit_grants``). A viewer of
  a pay-per-view event needs a ``ppv_access`` row whose checkout is still paid, checked
  on every mint (402 otherwise). A ``sub`` that cannot be an identity (blank, control
  characters, over 128 characters) is 422. Every grant is audited ('livekit.token') in
  the transaction that checked it.
* ``POST /api/events/{event_id}/live`` (dj, admin): CreateRoom in LiveKit, then the
  event is 'live' with its ``livekit_room``, broadcast as ``event_status``.

LiveKit failures answer with our own short reasons, 503 "video service unavailable" (not
reachable) or 502 "video service refused the request"; LiveKit's text, which names
hosts and ports, goes to the log. A token cannot be taken back: a revoked viewer can
rejoin until their token expires, which is why ``LIVEKIT_TOKEN_TTL`` is short.
* ``POST /api/events/{event_id}/ppv/revoke`` ``{"user_id"}`` (server API key): see
  ``revoke_ppv``, which the Stripe integration calls directly on a refund.
* ``POST /webhooks/livekit``: see ``integrations.livekit_webhook``.
* Recording the stream (LiveKit Egress): see ``integrations.recording``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from litestar import post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIType, Schema

from integrations import http_docs as docs
from integrations import livekit_rooms as rooms
from integrations import livekit_store as store
from integrations import livekit_webhook as webhook
from integrations.http import (
    WEBHOOK_MAX_BODY,
    AnyRequest,
    BearerDep,
    NodeDep,
    PoolDep,
    json_body,
    require_api_key,
)
from integrations.livekit_config import LiveKitConfig
from integrations.livekit_grants import (
    BadIdentity,
    GrantRefused,
    Kind,
    grants_for,
    identity_for,
    mint,
    needs_payment,
    participant_identity,
    room_name,
)
from integrations.livekit_wire import (
    EventStatus,
    RevokeRequest,
    TokenRequest,
    TokenResponse,
    WebhookResult,
)
from persistence.audit import audit
from persistence.events import CLOSED
from persistence.tenant import Tenant, tenant_tx
from rooms.principal import Principal
from rooms.roles import Role

GO_LIVE: frozenset[Role] = frozenset({Role.DJ, Role.ADMIN})
_encoder = msgspec.json.Encoder()
log = logging.getLogger(__name__)


def _video_failed(exc: rooms.RoomServiceError) -> HTTPException:
    """Our own short reason for the client; LiveKit's (hosts, ports) goes to the log."""
    log.warning("LiveKit call failed: %s", exc)
    if exc.unreachable:
        return HTTPException("video service unavailable", status_code=503)
    return HTTPException("video service refused the request", status_code=502)


def _ready(cfg: LiveKitConfig, pool: PoolDep) -> asyncpg.Pool:
    if not cfg.enabled:
        raise HTTPException("streaming not configured", status_code=503)
    if pool is None:
        raise HTTPException("streaming needs Postgres", status_code=503)
    return pool


async def issue_token(pool: asyncpg.Pool, cfg: LiveKitConfig, who: Principal,
                      event_id: uuid.UUID, kind: Kind) -> TokenResponse:
    """Check the event, roles and (pay-per-view) purchase; mint and audit in one transaction."""
    try:
        identity = identity_for(kind, who.sub)
        grants_for(kind, who.roles, "")  # refuse on roles before touching Postgres
    except BadIdentity as exc:
        raise HTTPException(str(exc), status_code=422) from None
    except GrantRefused as exc:
        raise HTTPException(str(exc), status_code=403) from None
    tenant = who.tenant()
    async with tenant_tx(pool, tenant) as conn:
        event = await store.event(conn, event_id)
        if event is None:
            raise HTTPException("no such event in your organization", status_code=404)
        if needs_payment(kind, who.roles, event.ppv_price_cents) and not (
                tenant.user_id is not None
                and await store.has_ppv_access(conn, event_id, tenant.user_id)):
            raise HTTPException("pay-per-view event: purchase required", status_code=402)
        room = room_name(event_id, event.livekit_room)
        token, expires_at = mint(cfg, identity, grants_for(kind, who.roles, room))
        await audit(conn, who.sub, "livekit.token",
                    str(event_id), {"kind": kind, "identity": identity, "ttl": cfg.token_ttl,
                                    "room": room, "sub": who.sub})
    return TokenResponse(token=token, url=cfg.browser_url, room=room, identity=identity,
                         expires_at=expires_at)


async def go_live(pool: asyncpg.Pool, node: NodeDep, cfg: LiveKitConfig, who: Principal,
                  event_id: uuid.UUID) -> EventStatus:
    """Create the LiveKit room, then mark the event live and tell its room."""
    if not who.has(GO_LIVE):
        raise HTTPException("going live needs the dj or admin role", status_code=403)
    tenant = who.tenant()
    async with tenant_tx(pool, tenant) as conn:
        event = await store.event(conn, event_id)
    if event is None:
        raise HTTPException("no such event in your organization", status_code=404)
    if event.status in CLOSED:  # the lifecycle never leads back (persistence.events)
        raise HTTPException(f"an event cannot go from {event.status} to live", status_code=409)
    # LiveKit first, outside any transaction: no row lock is held across the network,
    # and a failure leaves the event as it was. CreateRoom is idempotent.
    try:
        await rooms.create_room(cfg, room_name(event_id, event.livekit_room))
    except rooms.RoomServiceError as exc:
        raise _video_failed(exc) from None
    async with tenant_tx(pool, tenant) as conn:
        room = await store.set_live(conn, event_id, room_name(event_id, event.livekit_room))
        if room is None:  # ended or cancelled meanwhile
            raise HTTPException("the event has ended meanwhile", status_code=409)
        await audit(conn, who.sub, "livekit.live",
                    str(event_id), {"room": room, "sub": who.sub})
    status = EventStatus("live", room)
    await node.publish(f"event:{event_id}", _encoder.encode(status))
    return status


async def revoke_ppv(pool: asyncpg.Pool, cfg: LiveKitConfig, org_id: uuid.UUID,
                     event_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Refund of pay-per-view access: drop the purchase (audited 'ppv.revoke'), then kick
    the user out of the event's LiveKit room.

    The row is gone once this transaction commits, so no new viewer token is issued; the
    kick comes after, so it cannot race ahead of a token being minted (see
    ``store.has_ppv_access``). The user not being in the room is fine. Calling it again
    is harmless, which is also how to retry after an error.

    Raises:
        livekit_rooms.RoomServiceError: LiveKit refused or was unreachable (the purchase
            is already removed; call again to retry the kick).
    """
    async with tenant_tx(pool, Tenant(org_id, None, "admin")) as conn:
        room = await _drop_purchase(conn, event_id, user_id)
    await _kick(cfg, room, user_id)


async def revoke_access(cfg: LiveKitConfig, conn: store.Conn, event_id: uuid.UUID,
                        user_id: uuid.UUID) -> Callable[[], Awaitable[None]]:
    """``revoke_ppv`` inside a caller's transaction (a refund webhook's): drop the purchase
    there, and return the kick for the caller to run once it commits. A failed kick is
    logged: the refund stands, and access is gone with the row."""
    room = await _drop_purchase(conn, event_id, user_id)

    async def kick() -> None:
        try:
            await _kick(cfg, room, user_id)
        except rooms.RoomServiceError as exc:
            log.warning("ppv revoke of %s in %s: LiveKit kick failed: %s", user_id, room, exc)

    return kick


async def _drop_purchase(conn: store.Conn, event_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """Delete the purchase (audited); return the event's LiveKit room name."""
    event = await store.event(conn, event_id)
    if event is None:
        raise LookupError(f"event {event_id} is not in this organization")
    had = await store.delete_ppv(conn, event_id, user_id)
    room = room_name(event_id, event.livekit_room)
    await audit(conn, None, "ppv.revoke", str(event_id),
                {"user_id": str(user_id), "had_access": had, "room": room})
    return room


async def _kick(cfg: LiveKitConfig, room: str, user_id: uuid.UUID) -> None:
    if cfg.enabled:  # without LiveKit nobody can be watching
        # The identity the viewer token carried: the same canonical form as at minting.
        await rooms.remove_participant(cfg, room, participant_identity(str(user_id)))


_READY_ERRORS: docs.Errors = {503: "Streaming not configured (LIVEKIT_API_KEY, LIVEKIT_API_SECRET),"
                                   " or no Postgres"}
_EVENT_ERRORS: docs.Errors = {404: "No such event in the caller's organization"}
_VIDEO_ERRORS: docs.Errors = {502: "The video service refused the request",
                              503: "The video service is unavailable"}


@post("/api/events/{event_id:uuid}/livekit-token", status_code=200,
      summary="A LiveKit access token for the event (bearer: hub connection token)",
      security=docs.BEARER_SECURITY,
      operation_class=docs.documented(docs.json_body(
          TokenRequest, "What the token is for: publishing (performer, dj, admin), viewing"
                        " (a pay-per-view event needs a purchase) or a bot")),
      responses=docs.errors(_READY_ERRORS, docs.BEARER_ERRORS, docs.JSON_BODY_ERRORS,
                            docs.BACKING, _EVENT_ERRORS, docs.PATH_ID_ERRORS, {
          402: "Pay-per-view event: purchase required",
          403: "The caller's roles do not allow this kind of token",
          422: "The token's sub cannot be a LiveKit identity (blank, control characters,"
               " over 128 characters)"}))
async def livekit_token(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                        livekit_cfg: NamedDependency[LiveKitConfig],
                        bearer: BearerDep) -> TokenResponse:
    ready = _ready(livekit_cfg, pool)
    who = await bearer(request)
    body = await json_body(request, TokenRequest)
    return await issue_token(ready, livekit_cfg, who, event_id, body.kind)


@post("/api/events/{event_id:uuid}/live", status_code=200,
      summary="Go live: create the LiveKit room and mark the event live (dj, admin)",
      security=docs.BEARER_SECURITY,
      # No body, and a malformed id matches no route: Litestar's assumed 400 cannot happen.
      operation_class=docs.documented(drop=[400]),
      responses=docs.errors(_READY_ERRORS, docs.BEARER_ERRORS, docs.BACKING, _EVENT_ERRORS,
                            docs.PATH_ID_ERRORS,
                            _VIDEO_ERRORS, {403: "Going live needs the dj or admin role",
                                            409: "The event has ended or was cancelled"}))
async def livekit_live(request: AnyRequest, event_id: uuid.UUID, pool: PoolDep,
                       node: NodeDep, livekit_cfg: NamedDependency[LiveKitConfig],
                       bearer: BearerDep) -> EventStatus:
    ready = _ready(livekit_cfg, pool)
    return await go_live(ready, node, livekit_cfg, await bearer(request), event_id)


@post("/api/events/{event_id:uuid}/ppv/revoke", status_code=204, guards=[require_api_key],
      security=docs.API_KEY_SECURITY,
      summary="Revoke pay-per-view access and remove the viewer from the LiveKit room",
      operation_class=docs.documented(docs.json_body(
          RevokeRequest, "The viewer whose purchase is revoked (a users.id)")),
      responses=docs.errors(docs.API_KEY_ERRORS, _READY_ERRORS, docs.JSON_BODY_ERRORS,
                            docs.BACKING, _VIDEO_ERRORS, docs.PATH_ID_ERRORS, {
          404: "Unknown event",
          502: "Access is revoked, but the video service refused to remove the viewer:"
               " call again to retry",
          503: "Access is revoked, but the video service is unavailable: call again to"
               " retry"}))
async def livekit_ppv_revoke(request: AnyRequest, event_id: uuid.UUID,
                             pool: PoolDep, livekit_cfg: NamedDependency[LiveKitConfig]) -> None:
    ready = _ready(livekit_cfg, pool)
    body = await json_body(request, RevokeRequest)
    org = await ready.fetchval("SELECT app_event_org($1)", event_id)
    if org is None:
        raise HTTPException("unknown event", status_code=404)
    try:
        await revoke_ppv(ready, livekit_cfg, org, event_id, body.user_id)
    except rooms.RoomServiceError as exc:  # access is gone already; retrying kicks again
        raise _video_failed(exc) from None


@post("/webhooks/livekit", status_code=200, request_max_body_size=WEBHOOK_MAX_BODY,
      summary="LiveKit webhook (signed by LiveKit)",
      description="LiveKit signs each call: the Authorization header carries a JWT signed"
                  " with LIVEKIT_API_SECRET whose sha256 claim is the body's hash (an"
                  " Authorization header cannot be an OpenAPI parameter, hence this note).",
      operation_class=docs.documented(docs.raw_body(
          "application/webhook+json",
          f"A LiveKit webhook event, exactly as signed (at most {WEBHOOK_MAX_BODY // 1024} KiB)",
          Schema(type=OpenAPIType.OBJECT))),
      responses=docs.errors(_READY_ERRORS, docs.BODY_ERRORS, docs.BACKING, {
          400: "Signed correctly, but not a LiveKit webhook event",
          401: "Missing or bad signature, or the body is not the one signed"}))
async def livekit_webhook(request: AnyRequest, pool: PoolDep, node: NodeDep,
                          livekit_cfg: NamedDependency[LiveKitConfig]) -> WebhookResult:
    ready = _ready(livekit_cfg, pool)
    body = await request.body()
    try:
        event = webhook.verify(livekit_cfg, body, request.headers.get("Authorization", ""))
    except webhook.WebhookRefused as exc:
        raise HTTPException(f"webhook refused: {exc}", status_code=401) from None
    except webhook.WebhookMalformed as exc:
        raise HTTPException(f"webhook unreadable: {exc}", status_code=400) from None
    return await webhook.apply(ready, node, event, body)


ROUTES: list[Any] = [livekit_token, livekit_live, livekit_ppv_revoke, livekit_webhook]
