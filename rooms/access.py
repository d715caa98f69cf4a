"""Who may do what in which room: the role matrix and the org check, in one place.

Every entry point asks :func:`authorize`: the websocket session (before queueing, for
what it can tell without I/O), the command runner once the room's owner is known, and
the service dispatcher for every method call, whoever the caller (socket, HTTP API,
webhook, SMS).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.roles import ANYONE, HOSTS, STAFF, Role


@dataclass(frozen=True)
class Access:
    """An action on a room and the roles it needs (per room kind when they differ)."""

    name: str
    roles: frozenset[Role] | Mapping[RoomKind, frozenset[Role]] = ANYONE
    server_only: bool = False  # e.g. payment confirmation: never from a client

    def needs(self, kind: RoomKind) -> frozenset[Role]:
        return self.roles if isinstance(self.roles, frozenset) else self.roles[kind]


# Subscribing, and reading what a subscription shows, needs only membership of the org
# (a token naming no role at all may still watch).
JOIN: Final = Access("join", frozenset())
# Raw `publish` frames. Fans' chat, requests and tips go through room services, so
# viewers cannot publish raw data (they could fake a tip alert).
PUBLISH: Final = Access("publish", {RoomKind.ORG: STAFF, RoomKind.EVENT: HOSTS})


def authorize(who: Principal, room: RoomName, action: Access, owner: uuid.UUID | None) -> None:
    """Allow ``who`` to do ``action`` in ``room``, owned by org ``owner``, or raise.

    ``owner`` is None for an event nobody registered. Another org's event answers
    "unknown event" too, so event ids cannot be probed.

    An overlay credential (``who.event``) acts only in its own event room, whatever the
    action; there its role, ``overlay``, allows only what names it (join, tips).

    Raises:
        ServiceError: UNKNOWN_ROOM, or FORBIDDEN (another org's org room, a room outside
            an overlay's event, the server-only actions, or roles).
    """
    if owner is None or (owner != who.org and room.kind is RoomKind.EVENT):
        raise ServiceError(ErrorCode.UNKNOWN_ROOM, "unknown event")
    if owner != who.org:
        raise ServiceError(ErrorCode.FORBIDDEN, "room belongs to another organization")
    if action.server_only and not who.is_server:
        raise ServiceError(ErrorCode.FORBIDDEN, f"{action.name} is called by the server only")
    if (who.event is not None or Role.OVERLAY in who.roles) and not (
            room.kind is RoomKind.EVENT and room.id == who.event):
        raise ServiceError(ErrorCode.FORBIDDEN, "an overlay credential reaches its own"
                           " event room only")
    needed = action.needs(room.kind)
    if not needed or who.has(needed):
        return
    if action is PUBLISH:
        raise ServiceError(ErrorCode.FORBIDDEN, f"your roles cannot publish to {room.kind} rooms")
    raise ServiceError(ErrorCode.FORBIDDEN, f"{action.name} needs one of the roles "
                       f"{', '.join(sorted(needed))}")


def event_of(room: RoomName, service: str) -> uuid.UUID:
    """The event id of an event room, for services that only run there.

    Raises:
        ServiceError: UNKNOWN_ROOM.
    """
    if room.kind is not RoomKind.EVENT:
        raise ServiceError(ErrorCode.UNKNOWN_ROOM, f"{service} runs in event rooms only")
    return room.id
