"""The agents' tools: what a model (or the rule-based fallback) may do for a texting fan.

Every tool is scoped to one organization, the one whose number the fan texted:

* Arguments are decoded into the tool's msgspec Struct (``forbid_unknown_fields``, length
  and range limits) before anything runs; arguments that fail are refused with the
  validation message, which goes back to the model as the tool's result (``run_tool``).
* Song requests and karaoke signups go through their room services
  (``services.invoke``): the same path as a websocket ``call`` frame, so they are
  authorized, stored, and broadcast to the DJ's socket. The caller is the fan,
  ``sms:<phone>`` with the viewer role, not the server: the per-fan cap and
  one-vote-per-fan then hold per phone, bans apply, and a fan cannot reach server-only
  methods (payment confirmation) by texting.
* ``karaoke_signup`` ("sing <song>") signs the fan up with the phone they texted from
  and their consent (texting "sing" is asking to be told when they are up), so the
  karaoke service's ``next_up`` hook texts them; STOP still stops it.
* Everything else runs in ``tenant_tx`` under the org's claims, so RLS keeps it inside
  the org.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
import msgspec
from msgspec import Meta

from persistence.tenant import tenant_tx
from rooms.codes import ServiceError
from rooms.names import RoomKind, RoomName
from rooms.phones import sms_sub
from rooms.principal import Principal
from rooms.roles import Role
from rooms.services.dispatch import Dispatcher
from rooms.services.karaoke_wire import Signed, SignupParams
from rooms.services.requests_wire import Mine, MyRequests, Submit, Submitted

Title = Annotated[str, Meta(min_length=1, max_length=200, description="song title")]
Artist = Annotated[str, Meta(max_length=200, description="artist, empty if unknown")]
Text = Annotated[str, Meta(max_length=500)]
Label = Annotated[str, Meta(min_length=1, max_length=60)]
# A texting fan who gave no name: never their number, which the whole room would see.
DEFAULT_SINGER = "Text-in singer"


class ToolError(Exception):
    """The tool ran and refused (no live event, unknown service...): told to the model."""


@dataclass(frozen=True)
class ToolContext:
    """Who the tools act for: the org whose number was texted, and the fan's phone."""

    pool: asyncpg.Pool
    services: Dispatcher
    org: uuid.UUID
    phone: str
    event_id: uuid.UUID | None  # the org's live event, if any

    @property
    def caller(self) -> Principal:
        return sms_caller(self.org, self.phone)


def sms_caller(org: uuid.UUID, phone: str) -> Principal:
    """A texting fan as a room-service caller (see the module docstring for why)."""
    return Principal(sub=sms_sub(phone), org=org, roles=frozenset({Role.VIEWER}))


# -- argument Structs ------------------------------------------------------------------


class CreateSongRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Add a song to the live event's request queue; returns its position."""

    title: Title
    artist: Artist = ""
    note: Annotated[str, Meta(max_length=280)] = ""


class QueuePosition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The fan's own requests in the live event with their queue positions."""


class KaraokeSignup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Sign the fan up to sing karaoke at the live event; they get a text when up next."""

    song: Annotated[str, Meta(min_length=1, max_length=120, description="song to sing")]
    singer: Annotated[str, Meta(min_length=1, max_length=60,
                                description="name the host calls out")] = DEFAULT_SINGER


class CheckAvailability(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Whether the org is free to be booked on a date."""

    date: Annotated[datetime.date, Meta(description="YYYY-MM-DD")]


class QuotePrice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Price of a service for some hours; an empty service lists every service's rate."""

    service: Annotated[str, Meta(max_length=60)] = ""
    hours: Annotated[int, Meta(ge=1, le=24)] = 4


class CreateBookingInquiry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Record a booking inquiry for the org's staff."""

    date: Annotated[datetime.date, Meta(description="YYYY-MM-DD")]
    event_type: Label
    guests: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    notes: Text = ""


class CreateFollowUp(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ask a person from the org to get back to the fan."""

    summary: Annotated[str, Meta(min_length=1, max_length=500)]
    due_date: datetime.date | None = None


# -- implementations -------------------------------------------------------------------


def _room(ctx: ToolContext) -> RoomName:
    if ctx.event_id is None:
        raise ToolError("there is no live event right now, so requests and karaoke signups"
                        " are closed")
    return RoomName(RoomKind.EVENT, ctx.event_id)


async def _service(ctx: ToolContext, method: str, params: msgspec.Struct) -> Any:
    try:
        return await ctx.services.invoke(ctx.caller, _room(ctx), method, params)
    except ServiceError as exc:
        raise ToolError(exc.reason) from None


async def create_song_request(ctx: ToolContext, args: CreateSongRequest) -> dict[str, Any]:
    out: Submitted = await _service(ctx, "requests.submit",
                                    Submit(title=args.title, artist=args.artist, note=args.note))
    req = out.request
    return {"request_id": str(req.id), "title": req.title, "artist": req.artist,
            "position": req.position, "votes": req.votes, "merged": out.merged}


async def queue_position(ctx: ToolContext, args: QueuePosition) -> dict[str, Any]:
    out: MyRequests = await _service(ctx, "requests.mine", Mine())
    return {"requests": [{"title": r.request.title, "status": r.request.status,
                          "position": r.request.position,
                          "eta_seconds": r.eta_seconds} for r in out.requests]}


async def karaoke_signup(ctx: ToolContext, args: KaraokeSignup) -> dict[str, Any]:
    out: Signed = await _service(ctx, "karaoke.signup", SignupParams(
        singer=args.singer, song=args.song, phone=ctx.phone, sms_consent=True))
    return {"signup_id": out.signup_id, "song": args.song, "singer": args.singer,
            "round": out.round}


def _db(ctx: ToolContext) -> Any:
    return tenant_tx(ctx.pool, ctx.caller.tenant())


async def check_availability(ctx: ToolContext, args: CheckAvailability) -> dict[str, Any]:
    if args.date < datetime.date.today():
        return {"date": args.date.isoformat(), "available": False, "why": "in the past"}
    async with _db(ctx) as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM events WHERE organization_id = app_org_id()"
            " AND status <> 'ended' AND starts_at::date = $1", args.date)
    return {"date": args.date.isoformat(), "available": booked == 0}


async def quote_price(ctx: ToolContext, args: QuotePrice) -> dict[str, Any]:
    async with _db(ctx) as conn:
        rows = await conn.fetch("SELECT service, hourly_cents, minimum_hours FROM"
                                " service_prices WHERE organization_id = app_org_id()"
                                " ORDER BY service")
    prices = {r["service"].lower(): r for r in rows}
    if not args.service:
        return {"services": [{"service": r["service"], "hourly_cents": r["hourly_cents"],
                              "minimum_hours": r["minimum_hours"]} for r in rows]}
    row = prices.get(args.service.strip().lower())
    if row is None:
        raise ToolError(f"no price for {args.service!r}; known services: "
                        f"{', '.join(r['service'] for r in rows) or 'none'}")
    hours = max(args.hours, row["minimum_hours"])
    return {"service": row["service"], "hours": hours, "total_cents": hours * row["hourly_cents"]}


async def create_booking_inquiry(ctx: ToolContext,
                                 args: CreateBookingInquiry) -> dict[str, Any]:
    async with _db(ctx) as conn:
        inquiry = await conn.fetchval(
            "INSERT INTO booking_inquiries (organization_id, phone, event_date, event_type,"
            " guests, notes) VALUES (app_org_id(), $1, $2, $3, $4, $5) RETURNING id",
            ctx.phone, args.date, args.event_type, args.guests, args.notes)
    return {"inquiry_id": str(inquiry), "status": "new"}


async def create_follow_up(ctx: ToolContext, args: CreateFollowUp) -> dict[str, Any]:
    async with _db(ctx) as conn:
        task = await conn.fetchval(
            "INSERT INTO follow_up_tasks (organization_id, phone, summary, due_date)"
            " VALUES (app_org_id(), $1, $2, $3) RETURNING id",
            ctx.phone, args.summary, args.due_date)
    return {"task_id": str(task)}


# -- registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    args: type[msgspec.Struct]
    run: Callable[[ToolContext, Any], Awaitable[dict[str, Any]]]

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry: the JSON schema msgspec derives from ``args``."""
        _, defs = msgspec.json.schema_components([self.args])
        params = dict(defs[self.args.__name__])
        params.pop("title", None)
        return {"type": "function", "function": {
            "name": self.name, "description": (self.args.__doc__ or "").strip(),
            "parameters": params}}


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("create_song_request", CreateSongRequest, create_song_request),
    Tool("queue_position", QueuePosition, queue_position),
    Tool("karaoke_signup", KaraokeSignup, karaoke_signup),
    Tool("check_availability", CheckAvailability, check_availability),
    Tool("quote_price", QuotePrice, quote_price),
    Tool("create_booking_inquiry", CreateBookingInquiry, create_booking_inquiry),
    Tool("create_follow_up", CreateFollowUp, create_follow_up),
)}


class ToolOutcome(msgspec.Struct, frozen=True):
    """What one tool call did: ``ran`` is False when it was refused before running."""

    name: str
    ran: bool
    result: dict[str, Any]


async def run_tool(ctx: ToolContext, allowed: frozenset[str], name: str,
                   arguments: str | bytes) -> ToolOutcome:
    """Validate the arguments against the tool's Struct, then run it.

    Never raises for the model's mistakes: an unknown or disallowed tool, arguments that
    fail validation, or a tool's refusal come back as ``{"error": ...}`` for the model.
    """
    tool = TOOLS.get(name)
    if tool is None or name not in allowed:
        return ToolOutcome(name, False, {"error": f"no tool {name!r} here; use one of "
                                                  f"{', '.join(sorted(allowed))}"})
    try:
        args = msgspec.json.decode(arguments or b"{}", type=tool.args)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return ToolOutcome(name, False, {"error": f"invalid arguments: {exc}"})
    try:
        return ToolOutcome(name, True, await tool.run(ctx, args))
    except ToolError as exc:
        return ToolOutcome(name, True, {"error": str(exc)})
