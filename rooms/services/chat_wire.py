"""The chat service's schema: method params and results, and the room events it sends.

Room events are the ``data`` of ``message`` frames; clients switch on ``type``. The
``chat`` and ``chat_history`` websocket frames are shorthands for ``chat.post`` and
``chat.history`` (``hub.commands``), so both spellings share these Structs.
"""

from __future__ import annotations

import msgspec

from rooms.codes import ErrorCode, ServiceError
from rooms.envelope import Count, Offset


class Post(msgspec.Struct, frozen=True):
    """Post a message. Retrying with the same ``client_msg_id`` posts it once."""

    text: str
    client_msg_id: str | None = None


class Posted(msgspec.Struct, frozen=True):
    """The stored message's id and status: "visible", "held" or, answering a retry of a
    message deleted since, "removed"."""

    message_id: str
    status: str


class HistoryParams(msgspec.Struct, frozen=True):
    """A page of stored chat older than ``before`` (a ``seq``); the newest when None."""

    before: Offset | None = None
    limit: Count = 50


class ChatItem(msgspec.Struct, frozen=True):
    """One stored chat message. ``seq`` orders messages and pages history."""

    seq: int
    message_id: str
    user: str
    text: str
    time: int  # milliseconds since the Unix epoch
    name: str = ""  # the author's display name when posting, as text ("" if none)
    staff: bool = False  # posted as staff (dj, moderator, admin): the host, not a look-alike


class Page(msgspec.Struct, frozen=True):
    """Stored chat, oldest first; ``before`` pages further back (None: nothing older)."""

    messages: list[ChatItem]
    before: int | None


def checked_post(post: Post, max_chars: int) -> Post:
    """``post`` with its text trimmed, or a refusal, whichever way it arrived.

    Raises:
        ServiceError: INVALID_FIELD (empty, NUL, bad client_msg_id) or PAYLOAD_TOO_LARGE.
    """
    text = post.text.strip()
    if not text:
        raise ServiceError(ErrorCode.INVALID_FIELD, "text is empty")
    if len(text) > max_chars:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"text is over {max_chars} characters")
    if "\x00" in text:  # Postgres text cannot hold NUL
        raise ServiceError(ErrorCode.INVALID_FIELD, "text contains a NUL character")
    cid = post.client_msg_id
    if cid is not None and (not 0 < len(cid) <= 64 or "\x00" in cid):
        raise ServiceError(ErrorCode.INVALID_FIELD, "client_msg_id must be 1-64 chars, no NUL")
    return Post(text, cid)


# -- room events ------------------------------------------------------------------------


class ChatPosted(msgspec.Struct, tag="chat", frozen=True):
    """A chat message, already stored in Postgres (or approved after being held)."""

    message_id: str
    user: str
    text: str
    time: int  # milliseconds since the Unix epoch
    name: str = ""  # the author's display name from their token (guests), as text
    staff: bool = False  # posted as staff (dj, moderator, admin): the host, not a look-alike


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
