"""The ``event_status`` room event: an event went live or ended.

Published by the events lifecycle (``rooms/services/event.py``) and by the LiveKit
integration (go-live, room webhooks), so it lives here, below both.
"""

from __future__ import annotations

from typing import Literal

import msgspec

EventStatusValue = Literal["scheduled", "live", "ended", "cancelled"]  # events.status


class EventStatus(msgspec.Struct, frozen=True, tag="event_status"):
    """The event went live or ended; ``livekit_room`` is the room to join for video."""

    status: EventStatusValue
    livekit_room: str | None
