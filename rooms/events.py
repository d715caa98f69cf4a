"""Room events: the ``data`` of ``message`` frames that room services publish.

Encoded once by the service that makes them; the node never looks inside.
"""

from __future__ import annotations

import msgspec


class ChatPosted(msgspec.Struct, tag="chat", frozen=True):
    """A chat message, already stored in Postgres."""

    message_id: str
    user: str
    text: str
    time: int  # milliseconds since the Unix epoch


RoomEvent = ChatPosted

_encoder = msgspec.json.Encoder()


def encode_event(event: RoomEvent) -> bytes:
    return _encoder.encode(event)
