"""Chat limits, from the hub's settings (``HUB_MAX_CHAT_CHARS``, ``HUB_CHAT_USER_BURST``)."""

from __future__ import annotations

import msgspec


class ChatConfig(msgspec.Struct, frozen=True, kw_only=True):
    max_chars: int = 500  # per message, after trimming
    user_burst: int = 5  # messages per user per room per 10 s (staff exempt)
    page_limit: int = 100  # most messages one history page returns
