"""Room names: ``org:<uuid>`` for an organization, ``event:<uuid>`` for one event."""

from __future__ import annotations

import enum
import functools
import uuid

import msgspec


class RoomKind(enum.StrEnum):
    ORG = "org"
    EVENT = "event"


class RoomName(msgspec.Struct, frozen=True, dict=True):
    """A parsed room name. ``str(room)`` gives back the canonical form.

    The form is built once per instance (``str(uuid)`` formats in Python: ~1 us, and a
    chat message needs its room's name several times); ``dict=True`` gives the cached
    property a place to live on a frozen struct.
    """

    kind: RoomKind
    id: uuid.UUID

    @functools.cached_property
    def name(self) -> str:
        return f"{self.kind.value}:{self.id}"

    def __str__(self) -> str:
        return self.name


# Names seen recently, parsed: every frame names its room, and parsing one costs a UUID
# parse and format. Cleared when full, so a client inventing names cannot grow it.
_parsed: dict[str, RoomName] = {}
_PARSED_MAX = 4096


def parse_room(name: str) -> RoomName:
    """Parse ``org:<uuid>`` or ``event:<uuid>``.

    Raises:
        ValueError: the kind is unknown or the id is not a canonical UUID.
    """
    room = _parsed.get(name)
    if room is not None:
        return room
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
    room = RoomName(room_kind, room_id)
    if len(_parsed) >= _PARSED_MAX:
        _parsed.clear()
    _parsed[name] = room
    return room
