"""What other fans see of a singer's sub in karaoke room events. No I/O.

A fan who signs up by text has the sub ``sms:<phone>``; the karaoke state goes to every
socket in the room, so such a sub is shown as ``sms:<16 hex digits>`` instead: a keyed
hash with the event's secret ``alias_key`` (migration 0017). Without the key the alias
cannot be reversed by trying every phone number; with it the same singer keeps the same
alias all night, so hosts can ``hold`` / ``release`` by the sub they see. Other subs (web
users' token subs) are shown as they are.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from rooms.phones import SMS_SUB_PREFIX, phone_of


def alias(key: uuid.UUID, sub: str) -> str:
    """The sub as room events show it."""
    if phone_of(sub) is None:
        return sub
    digest = hashlib.blake2b(sub.encode(), key=key.bytes, digest_size=8).hexdigest()
    return SMS_SUB_PREFIX + digest


def resolve(key: uuid.UUID, shown: str, subs: Iterable[str]) -> str:
    """The real sub among ``subs`` that a host named by its alias (or by itself)."""
    return next((s for s in subs if alias(key, s) == shown), shown)
