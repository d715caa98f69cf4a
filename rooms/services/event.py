"""An event's lifecycle and settings (``event.*``), run by its DJs and admins.

* ``event.status``: scheduled -> live -> ended, or scheduled -> cancelled; any other
  move is refused naming both ends. Going live and ending broadcast ``event_status``.
  Once ended or cancelled, the request and karaoke queues take no new entries
  (``event_gate``).
* ``event.update``: title, start, tip goal and alert timeout, pay-per-view price,
  visibility, feature toggles, request cap and song length, karaoke limits. Karaoke
  limits are part of the karaoke state, so a change of them bumps its version and
  broadcasts ``karaoke`` (change ``settings``), as ``karaoke.settings`` does.

Both lock the event row, so two DJs pressing "end" together end it once.
"""

from __future__ import annotations

import msgspec

from persistence import events as store
from persistence.audit import audit
from rooms.access import event_of
from rooms.codes import ErrorCode, ServiceError
from rooms.event_status import EventStatus
from rooms.names import RoomName
from rooms.principal import Principal
from rooms.roles import Role
from rooms.services import karaoke_store
from rooms.services.base import Conn, Context, Method, Service
from rooms.services.event_wire import EventSettings, StatusChange
from rooms.services.karaoke import state_of
from rooms.services.karaoke_wire import KaraokeChanged

# Who runs an event: its DJs, and admins (an owner membership confirms admin).
RUNNERS = frozenset({Role.DJ, Role.ADMIN})
_BROADCAST = frozenset({"live", "ended"})


async def _locked(conn: Conn, room: RoomName) -> store.Event:
    event = await store.lock(conn, event_of(room, "event"))
    if event is None:
        raise ServiceError(ErrorCode.UNKNOWN_ROOM, "unknown event")
    return event


async def status(ctx: Context, caller: Principal, room: RoomName,
                 params: StatusChange) -> store.Event:
    async with ctx.tx(caller) as conn:
        event = await _locked(conn, room)
        if params.status not in store.TRANSITIONS[event.status]:
            raise ServiceError(ErrorCode.REFUSED, f"an event cannot go from {event.status}"
                               f" to {params.status}")
        await store.set_status(conn, event.id, params.status)
        await audit(conn, caller.sub, "event.status", str(event.id),
                    {"from": event.status, "to": params.status, "by": caller.sub})
        event = msgspec.structs.replace(event, status=params.status)
    if params.status in _BROADCAST:
        await ctx.publish(room, EventStatus(params.status, event.livekit_room))
    return event


async def update(ctx: Context, caller: Principal, room: RoomName,
                 params: EventSettings) -> store.Event:
    values = params.values()
    if values.get("title") == "":
        raise ServiceError(ErrorCode.INVALID_FIELD, "title must not be blank")
    karaoke = None
    async with ctx.tx(caller) as conn:
        event = await store.update(conn, await _locked(conn, room), values)
        await audit(conn, caller.sub, "event.update", str(event.id),
                    {"fields": sorted(values), "by": caller.sub})
        if "karaoke_max_active" in values or "karaoke_slot_seconds" in values:
            karaoke = state_of(await karaoke_store.load(conn, event.id))
    if karaoke is not None:
        await ctx.publish(room, KaraokeChanged(**msgspec.structs.asdict(karaoke),
                                               change="settings"))
    return event


SERVICE = Service(
    name="event",
    doc=__doc__ or "",
    events=(EventStatus,),
    methods=(
        Method("status", StatusChange, status, RUNNERS,
               "move the event along its lifecycle (live, ended, cancelled)"),
        Method("update", EventSettings, update, RUNNERS,
               "change the event's settings (absent fields unchanged)"),
    ),
)
