"""The LiveKit integration's HTTP bodies and the room events it broadcasts."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec

from integrations.livekit_grants import Kind

EventStatusValue = Literal["scheduled", "live", "ended"]  # events.status


class TokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Kind


class TokenResponse(msgspec.Struct, frozen=True):
    token: str
    url: str  # LIVEKIT_URL: where the browser connects
    room: str
    identity: str
    expires_at: int  # ms since the Unix epoch


class RevokeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    user_id: uuid.UUID


class WebhookResult(msgspec.Struct, frozen=True):
    outcome: str  # 'applied' | 'duplicate' (already seen) | 'ignored' (unknown room)


# -- room events (broadcast to event:<uuid>) ----------------------------------------------


class EventStatus(msgspec.Struct, frozen=True, tag="event_status"):
    """The event went live or ended; ``livekit_room`` is the room to join for video."""

    status: EventStatusValue
    livekit_room: str | None


class Viewers(msgspec.Struct, frozen=True, tag="viewers"):
    """How many visible participants are in the event's LiveKit room (bots excluded)."""

    count: int
