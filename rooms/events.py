"""Chat room events: the ``data`` of ``message`` frames that chat and moderation publish.

Encoded once by the service that makes them; the node never looks inside. Other
services define their events beside their code (``rooms/services/*``).
"""

from __future__ import annotations

import msgspec


class ChatPosted(msgspec.Struct, tag="chat", frozen=True):
    """A chat message, already stored in Postgres (or approved after being held)."""

    message_id: str
    user: str
    text: str
    time: int  # milliseconds since the Unix epoch


class ChatRemoved(msgspec.Struct, tag="chat_removed", frozen=True):
    """A moderator deleted a message: clients drop it from view."""

    message_id: str
    by: str


class Sanctioned(msgspec.Struct, tag="sanction", frozen=True):
    """A user was muted or banned until ``until`` (ms), or released (``until`` = now)."""

    user: str
    kind: str  # "mute" or "ban"
    until: int
    by: str


class ChatRoomSettings(msgspec.Struct, tag="chat_settings", frozen=True):
    """The room's chat settings changed."""

    slow_mode_seconds: int


_encoder = msgspec.json.Encoder()


def encode_event(event: msgspec.Struct) -> bytes:
    return _encoder.encode(event)
