"""The room message envelope: what the node writes to subscribers around a room message.

A publication's ``data`` is carried as :class:`msgspec.Raw`, so the node never re-parses
what a publisher sent and encodes each message once for every subscriber. The hub's wire
protocol (``hub.protocol``) includes these frames in its server frame union.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from msgspec import Meta, Raw, Struct

# Integer fields are checked at the edge: they end up in Postgres bigint and Redis
# stream offsets, where a value past int64 (or a negative one) would fail deep inside.
INT64_MAX: Final = 2**63 - 1
Offset = Annotated[int, Meta(ge=0, le=INT64_MAX)]
Count = Annotated[int, Meta(ge=1, le=INT64_MAX)]
Epoch = Annotated[str, Meta(max_length=64)]


class StreamPosition(Struct, frozen=True):
    """Where a client left a room: the room's epoch and the last offset it saw."""

    epoch: Epoch
    offset: Offset


class Publication(Struct, frozen=True):
    """One retained room message as it appears in ``subscribed`` and ``history``."""

    offset: int
    data: Raw


class Subscribed(Struct, tag="subscribed", frozen=True):
    """Subscription confirmed. ``publications`` holds the recovered messages, in order.

    ``recovered`` is false when recovery was not requested or was impossible
    (epoch changed, window passed): the client must refetch state. Sent
    unrequested (``id`` null) when the room's history was reset under the
    subscription: the position moves to ``epoch``/``offset``.
    """

    room: str
    epoch: str
    offset: int
    recovered: bool
    publications: list[Publication] = []
    id: int | None = None


class Message(Struct, tag="message", frozen=True):
    """A room message, delivered to every subscriber."""

    room: str
    offset: int
    data: Raw


class Member(Struct, frozen=True):
    """One connection present in a room."""

    client: str
    user: str
    roles: list[str]
    name: str = ""  # display name from the token (guests); text, never markup


class Join(Struct, tag="join", frozen=True):
    """A member subscribed to the room."""

    room: str
    member: Member


class Leave(Struct, tag="leave", frozen=True):
    """A member left the room (unsubscribed, disconnected or its node died)."""

    room: str
    member: Member


_encoder = msgspec.json.Encoder()


def encode(frame: Struct) -> bytes:
    """Encode one envelope frame as JSON, as the hub's protocol does."""
    return _encoder.encode(frame)
