"""Room names: ``org:<uuid>`` for an organization, ``event:<uuid>`` for one event."""

from __future__ import annotations

import enum
import uuid

import msgspec


class RoomKind(enum.StrEnum):
    ORG = "org"
    EVENT = "event"


class RoomName(msgspec.Struct, frozen=True):
    """A parsed room name. ``str(room)`` gives back the canonical form."""

    kind: RoomKind
    id: uuid.UUID

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


def parse_room(name: str) -> RoomName:
    """Parse ``org:<uuid>`` or ``event:<uuid>``.

    Raises:
        ValueError: the kind is unknown or the id is not a canonical UUID.
    """
    kind, sep, raw_id = name.partition(":")
    if not sep:
        raise ValueError(f"room {name!r} is not <kind>:<uuid>")
    try:
        room_kind = RoomKind(kind)
        room_id = uuid.UUID(raw_id)
    except ValueError:
        raise ValueError(f"room {name!r} is not org:<uuid> or event:<uuid>") from None
    if str(room_id) != raw_id:
        # One spelling per room, so two clients never end up in different channels.
        raise ValueError(f"room {name!r} must use the lowercase hyphenated uuid form")
    return RoomName(room_kind, room_id)
