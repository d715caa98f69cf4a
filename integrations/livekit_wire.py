"""The LiveKit integration's HTTP bodies and the room events it broadcasts."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec

from integrations.livekit_grants import Kind
from rooms.event_status import EventStatus, EventStatusValue

__all__ = ["EventStatus", "EventStatusValue", "Layout", "Recording", "RecordingRequest",
           "RecordingState", "RecordingStatus", "RevokeRequest", "TokenRequest",
           "TokenResponse", "Viewers", "WebhookResult"]

RecordingStatus = Literal["starting", "recording", "stopping", "stopped", "failed"]
# LiveKit's built-in room composite layouts (the egress template's names).
Layout = Literal["speaker", "grid", "single-speaker"]


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


class RecordingRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to record: LiveKit's room composite layout."""

    layout: Layout = "speaker"


class RecordingState(msgspec.Struct, frozen=True):
    """The event's latest recording; ``status`` "idle" when it was never recorded."""

    status: RecordingStatus | Literal["idle"]
    egress_id: str | None = None  # LiveKit's id, once LiveKit accepted the start
    layout: str | None = None
    started_by: str | None = None  # the token subject that started it ("server": API key)
    started_at: int | None = None  # ms since the Unix epoch
    ended_at: int | None = None  # ms since the Unix epoch, once stopped or failed
    error: str | None = None  # why it failed (or was cut short)
    file: str | None = None  # where LiveKit stored the file, once it says so


class WebhookResult(msgspec.Struct, frozen=True):
    outcome: str  # 'applied' | 'duplicate' (already seen) | 'ignored' (unknown room)


# -- room events (broadcast to event:<uuid>) ----------------------------------------------


class Viewers(msgspec.Struct, frozen=True, tag="viewers"):
    """How many visible participants are in the event's LiveKit room (bots excluded)."""

    count: int


class Recording(msgspec.Struct, frozen=True, tag="recording"):
    """The event's recording (LiveKit Egress) changed: status and times (ms) only."""

    # The whole room gets this: why it failed (LiveKit's own text, which can name storage
    # buckets or hosts) and the egress id are for the DJs' and admins' GET.

    status: RecordingStatus
    started_at: int  # ms since the Unix epoch
    ended_at: int | None  # ms since the Unix epoch, once stopped or failed
