"""The LiveKit integration's HTTP bodies and the room events it broadcasts."""

from __future__ import annotations

import uuid

import msgspec

from integrations.livekit_grants import Kind
from rooms.event_status import EventStatus, EventStatusValue

__all__ = ["EventStatus", "EventStatusValue", "RevokeRequest", "TokenRequest", "TokenResponse",
           "Viewers", "WebhookResult"]


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


class Viewers(msgspec.Struct, frozen=True, tag="viewers"):
    """How many visible participants are in the event's LiveKit room (bots excluded)."""

    count: int
