"""``POST /api/events/{id}/overlay``: create or rotate an event's OBS overlay secret.

Called by the back office (``X-API-Key``) or by the org's own staff with a hub token
(``Authorization: Bearer``; dj or admin, which an owner or admin membership confirms).
The answer carries the overlay page's absolute URL (``<base>/overlay/<secret>``, from
the request's base URL) with the new secret; it is shown once, only its hash
is kept. Rotating revokes the previous secret at once: every node closes the overlay
connections that used it (``hub.overlays``). The rotation is audited
('overlay.rotate') in the same transaction.
"""

from __future__ import annotations

import uuid

import msgspec
from litestar import post
from litestar.exceptions import HTTPException, NotFoundException

from hub.runtime import Hub
from integrations import http_docs as docs
from integrations.http import AnyRequest, BearerDep, caller_for
from persistence import overlays as store
from persistence.tenant import tenant_tx
from rooms.principal import Principal
from rooms.roles import Role

# Who may rotate with a token: an owner's or admin's membership confirms admin.
ROTATORS = frozenset({Role.DJ, Role.ADMIN})


class OverlayLink(msgspec.Struct, frozen=True):
    url: str  # <base>/overlay/<secret>: the OBS browser source page, absolute
    version: int  # counts rotations; connections holding an older one are closed
    expires_at: int | None = None  # never, for now: a secret lives until rotated


async def _rotate(hub: Hub, who: Principal, event_id: uuid.UUID, base: str) -> OverlayLink:
    """Rotate as ``who``, admitted to the event's organization; ``base`` is the hub's
    address as the caller reached it (the URL is pasted into OBS, so it is absolute)."""
    assert hub.db is not None
    secret = store.new_secret()
    async with tenant_tx(hub.db, who.tenant()) as conn:
        version = await store.rotate(conn, event_id, secret,
                                     None if who.is_server else who.sub)
    if version is None:  # deleted meanwhile, or RLS hides it: the same answer as none
        raise NotFoundException("no such event in your organization")
    if hub.overlays is not None:
        await hub.overlays.announce(event_id, version)
    return OverlayLink(url=f"{base}/overlay/{secret}", version=version)


@post("/api/events/{event_id:uuid}/overlay", status_code=200,
      security=[*docs.API_KEY_SECURITY, *docs.BEARER_SECURITY],
      summary="Create or rotate the event's OBS overlay secret (API key, or dj/admin bearer)",
      description="Either `X-API-Key` (the server API), or `Authorization: Bearer` with a"
                  " hub token of the event's organization whose dj or admin role a"
                  " membership confirms. The returned URL is the only copy of the secret;"
                  " it can watch this event room and acknowledge its tip alerts, nothing"
                  " else. Rotating closes every overlay connection that used the old one"
                  " (close code 4003).",
      # No body, and a malformed id matches no route: Litestar's assumed 400 cannot happen.
      operation_class=docs.documented(drop=[400]),
      responses=docs.errors(docs.API_KEY_ERRORS, docs.BEARER_ERRORS, docs.BACKING,
                            docs.PATH_ID_ERRORS, {
          401: "X-API-Key is wrong (when sent, it is the only credential checked)",
          403: "The bearer's confirmed roles include neither dj nor admin",
          404: "Unknown event, or the bearer's organization does not own it",
          503: "Overlay secrets need Postgres"}))
async def rotate_overlay(request: AnyRequest, event_id: uuid.UUID,
                         bearer: BearerDep) -> OverlayLink:
    hub: Hub = request.app.state.hub
    if hub.db is None:
        raise HTTPException("overlay secrets need Postgres", status_code=503)
    owner = await hub.directory.event_org(event_id)
    who = await caller_for(request, bearer, owner, ROTATORS,
                           unknown="no such event in your organization",
                           refusal="rotating the overlay secret needs the dj or admin role")
    return await _rotate(hub, who, event_id, str(request.base_url).rstrip("/"))
