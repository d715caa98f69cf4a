"""The browser pages: the viewer ``/e/<event>``, the DJ dashboard ``/dj/<event>`` and the
OBS overlay ``/overlay/<secret>``.

Each page is one HTML shell (``hub/web/pages/page.html``) naming its bundle
(``/static/app/<name>.page.js`` and ``.css``, built by ``make ui``). The shell is filled
in here with the brand and the public facts a page needs before anyone signs in, as JSON in
``<meta name="livehub">``; credentials never pass through here (a token travels in the URL
fragment, which browsers do not send). A private event's shell carries only the event,
its status and visibility, and the brand: no title, price, features or goal.

Brand: the product configured for the request's Host (``HUB_PRODUCT_HOSTS``), else the
event's organization's ``product_context`` (``hub.products``).
"""

from __future__ import annotations

import html
import uuid
from pathlib import Path
from typing import Final

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import HTTPException

from hub.operator_auth import hub_of
from hub.products import product_for
from hub.security_headers import security_headers
from integrations import http_docs as docs
from integrations.http import BearerDep
from persistence import events as store
from persistence import overlays
from persistence.tenant import tenant_tx
from rooms.access import JOIN, authorize
from rooms.codes import ErrorCode, ServiceError
from rooms.names import parse_room
from rooms.principal import Principal

SHELL: Final = (Path(__file__).parent / "web" / "pages" / "page.html").read_text()
BRAND_NAMES: Final = {"tipjar": "TipJar", "djdash": "DJ Dash", "m10dj": "M10DJ"}
DEFAULT_PRODUCT: Final = "djdash"


class PageConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What a page knows before sign-in (``<meta name="livehub" content=...>``)."""

    page: str  # viewer, dj or overlay
    brand: str  # tipjar, djdash or m10dj
    brand_name: str
    event: str | None = None  # the event's uuid (None: unknown event or secret)
    title: str | None = None  # this and below: only for a public event
    status: str | None = None  # scheduled, live, ended, cancelled
    visibility: str | None = None
    ppv_price_cents: int | None = None
    tips: bool = False
    requests: bool = False
    karaoke: bool = False
    tip_goal_cents: int | None = None
    livekit: bool = False  # streaming is configured on this hub


_encode = msgspec.json.Encoder().encode


def render(name: str, config: PageConfig) -> bytes:
    """The shell of page ``name`` with ``config`` filled in (escaped for attributes)."""
    shell = SHELL.replace("{{page}}", name)
    title = f"{config.title} · {config.brand_name}" if config.title else config.brand_name
    filled = (shell.replace("{{config}}", html.escape(_encode(config).decode(), quote=True))
              .replace("{{title}}", html.escape(title))
              .replace("{{brand}}", html.escape(config.brand))
              .replace("{{brand_name}}", html.escape(config.brand_name)))
    return filled.encode()


async def _event_config(request: Request, page: str,  # type: ignore[type-arg]
                        event_id: uuid.UUID | None, *, signed_in: bool = False) -> PageConfig:
    hub = hub_of(request)
    host = request.headers.get("host", "")
    product, event = "", None
    org = await hub.directory.event_org(event_id) if event_id is not None else None
    if org is not None and hub.db is not None:
        async with tenant_tx(hub.db, Principal.server(org).tenant()) as conn:
            event = await store.get(conn, event_id)  # type: ignore[arg-type]
            product = await store.product_of(conn, org) or ""
    brand = product_for(hub.products, host, product) or DEFAULT_PRODUCT
    brand = brand if brand in BRAND_NAMES else DEFAULT_PRODUCT
    base = PageConfig(page=page, brand=brand, brand_name=BRAND_NAMES[brand],
                      livekit=hub.parts.livekit.enabled)
    if event is None:
        return base
    if event.visibility != "public" and not signed_in:
        # Anyone may hold a private event's uuid: it learns only that the event exists.
        return msgspec.structs.replace(base, event=str(event.id), status=event.status,
                                       visibility=event.visibility)
    return msgspec.structs.replace(
        base, event=str(event.id), title=event.title, status=event.status,
        visibility=event.visibility, ppv_price_cents=event.ppv_price_cents or None,
        tips=event.tips, requests=event.requests, karaoke=event.karaoke,
        tip_goal_cents=event.tip_goal_cents)


def _page(body: bytes, status: int = 200) -> Response[bytes]:
    # The shell names the event: never cache it in a shared cache.
    return Response(body, status_code=status, media_type="text/html",
                    headers={"Cache-Control": "no-store"})


@get("/e/{event_id:uuid}", include_in_schema=False, middleware=[security_headers])
async def viewer_page(request: Request, event_id: uuid.UUID) -> Response[bytes]:  # type: ignore[type-arg]
    """The fans' page: stream, chat, tips, requests and karaoke."""
    config = await _event_config(request, "viewer", event_id)
    return _page(render("viewer", config), 200 if config.event else 404)


@get("/dj/{event_id:uuid}", include_in_schema=False, middleware=[security_headers])
async def dj_page(request: Request, event_id: uuid.UUID) -> Response[bytes]:  # type: ignore[type-arg]
    """The DJ dashboard (a staff token in the fragment signs in)."""
    config = await _event_config(request, "dj", event_id)
    return _page(render("dj", config), 200 if config.event else 404)


@get("/overlay/{secret:str}", include_in_schema=False, middleware=[security_headers])
async def overlay_page(request: Request, secret: str) -> Response[bytes]:  # type: ignore[type-arg]
    """The OBS browser source. An unknown or rotated secret still gets the (transparent,
    empty) shell: OBS shows nothing rather than an error page over the stream."""
    hub = hub_of(request)
    grant = await overlays.grant_of(hub.db, secret) if hub.db is not None else None
    config = await _event_config(request, "overlay", grant.event if grant else None)
    return _page(render("overlay", config))


@get("/api/events/{event_id:uuid}/page", security=docs.BEARER_SECURITY,
     summary="A page's facts about an event, private ones included (bearer: a hub token"
             " that may join the event's room)",
     description="What a public event's page shell carries (title, status, visibility,"
                 " pay-per-view price, features, tip goal), for a signed-in page of a"
                 " private event, whose shell names only the event, its status and"
                 " visibility.",
     operation_class=docs.documented(drop=[400]),
     responses=docs.errors(docs.BEARER_ERRORS, docs.BACKING, docs.PATH_ID_ERRORS, {
         403: "The token may not join this event's room",
         404: "No such event, or another organization's event",
         503: "Events need Postgres"}))
async def page_facts(request: Request, event_id: uuid.UUID,  # type: ignore[type-arg]
                     bearer: BearerDep) -> PageConfig:
    who = await bearer(request)
    hub = hub_of(request)
    if hub.db is None:
        raise HTTPException("events need Postgres", status_code=503)
    room = parse_room(f"event:{event_id}")
    try:
        authorize(who, room, JOIN, await hub.directory.org_of(room))
    except ServiceError as exc:
        status = 404 if exc.code is ErrorCode.UNKNOWN_ROOM else 403
        raise HTTPException(exc.reason, status_code=status) from None
    config = await _event_config(request, "viewer", event_id, signed_in=True)
    if config.event is None:
        raise HTTPException("unknown event", status_code=404)
    return config


ROUTES = [viewer_page, dj_page, overlay_page, page_facts]
