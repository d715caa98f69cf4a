"""The chat room service: check the room's rules, store in Postgres, then broadcast.

Rules, in order, for everyone but staff (dj, moderator, admin), who are exempt
from the last three:

1. A banned or muted user cannot post (``REFUSED``), effective on their very
   next message, on every connection and node: the check reads Postgres.
2. Slow mode: one message per ``slow_mode_seconds`` per user in the room
   (``RATE_LIMITED``).
3. Per-user rate limit: at most ``user_burst`` messages per 10 s per room
   (``RATE_LIMITED``), across all of the user's connections.
4. Blocked words (whole words, any case): per org, either ``REFUSED`` or stored
   as ``held`` for a moderator to approve, as the org chooses. The list is compiled
   once per change per node (``rooms.blocked_words``); each message reads only the
   list's version, so a change applies on every node from the next message on.

Invariant: nothing is acknowledged (``chat_sent``) or broadcast that is not
stored. A message is published to the room and acknowledged only after its row
is committed, so it survives the hub process dying right afterwards, and the
``message_id`` both carry is that row's id (unique, and what moderation and
history use). The write is group-committed with other concurrent chat
(``persistence.chat``), which keeps Postgres off the fan-out path: delivery to
subscribers never waits on the database, only the sender's acknowledgement does.

Retries: the idempotency key is (org, room, author, client_msg_id), so one
user's id never touches another's message. A retry is answered with the
original acknowledgement (same ``message_id``; status as the message is now:
visible, held or removed) and broadcasts nothing; it skips the rules above,
since the message was already accepted. A retry is spotted by the rules query
already made per message, or, for staff and for concurrent retries, by the
write itself.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import asyncpg

from hub import protocol as p
from persistence.chat import ChatMessage, ChatWriter, Stored, page_history
from persistence.tenant import Principal as DbPrincipal
from persistence.tenant import tenant_tx
from rooms.blocked_words import MatcherCache
from rooms.events import ChatPosted, encode_event
from rooms.names import RoomKind, RoomName
from rooms.node import Node
from rooms.services.base import STAFF, Caller, ServiceError

_RULES = """
SELECT
  (SELECT id FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND coalesce(author, '') = $2
      AND client_msg_id = $3) AS prior_id,
  (SELECT status FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND coalesce(author, '') = $2
      AND client_msg_id = $3) AS prior_status,
  (SELECT max(until) FROM chat_sanctions
    WHERE organization_id = app_org_id() AND user_sub = $2 AND until > now()) AS sanctioned_until,
  (SELECT kind FROM chat_sanctions
    WHERE organization_id = app_org_id() AND user_sub = $2 AND until > now()
    ORDER BY kind = 'ban' DESC LIMIT 1) AS sanction,
  (SELECT slow_mode_seconds FROM chat_room_settings
    WHERE organization_id = app_org_id() AND room = $1) AS slow_mode,
  (SELECT version FROM chat_settings WHERE organization_id = app_org_id()) AS words_version,
  (SELECT blocked_action FROM chat_settings WHERE organization_id = app_org_id()) AS action,
  (SELECT max(created_at) FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND author = $2) AS last_at,
  (SELECT count(*) FROM chat_messages
    WHERE organization_id = app_org_id() AND room = $1 AND author = $2
      AND created_at > now() - interval '10 seconds') AS recent
"""


# Stored status -> the status a chat_sent acknowledgement reports.
_ACK_STATUS = {"visible": "visible", "held": "held", "deleted": "removed"}


class ChatService:
    def __init__(self, node: Node, pool: asyncpg.Pool, writer: ChatWriter, *,
                 user_burst: int = 5) -> None:
        self._node = node
        self._pool = pool
        self._writer = writer
        self._user_burst = user_burst
        self._blocked = MatcherCache()

    async def post(self, caller: Caller, room: RoomName, text: str,
                   client_msg_id: str | None) -> tuple[str, str]:
        """Apply the room's rules, store, then publish; return (message id, status).

        A retry of a stored message returns its original (message id, status) and
        publishes nothing.

        Raises:
            ServiceError: REFUSED (sanction, blocked word), RATE_LIMITED, or INVALID_FIELD
                (a NUL character, which Postgres cannot store).
        """
        client_msg_id = client_msg_id or str(uuid.uuid4())
        if "\x00" in text or "\x00" in client_msg_id:
            raise ServiceError(p.ErrorCode.INVALID_FIELD,
                               "text and client_msg_id may not contain NUL characters")
        status = "visible"
        if not caller.has(STAFF):
            checked = await self._check(caller, room, text, client_msg_id)
            if isinstance(checked, Stored):
                return str(checked.id), _ACK_STATUS[checked.status]
            status = checked
        stored = await self._writer.write(ChatMessage(
            organization_id=caller.org, room=str(room), body=text, client_msg_id=client_msg_id,
            event_id=room.id if room.kind is RoomKind.EVENT else None, author=caller.sub,
            status=status,
        ))
        message_id = str(stored.id)
        if stored.inserted and stored.status == "visible":
            event = ChatPosted(message_id=message_id, user=caller.sub, text=text,
                               time=int(time.time() * 1000))
            await self._node.publish(str(room), encode_event(event))
        return message_id, _ACK_STATUS[stored.status]

    async def _check(self, caller: Caller, room: RoomName, text: str,
                     client_msg_id: str) -> str | Stored:
        """The status a new message gets, or the stored row when this is a retry."""
        async with tenant_tx(self._pool, caller.db()) as conn:
            rules = await conn.fetchrow(_RULES, str(room), caller.sub, client_msg_id)
            assert rules is not None
            version: int | None = rules["words_version"]
            words: list[str] = []
            blocked = None if version is None else self._blocked.get(caller.org, version)
            if version is not None and blocked is None:
                # The list changed (or this node has not seen it): fetch it, compile below.
                row = await conn.fetchrow(
                    "SELECT version, blocked_words FROM chat_settings"
                    " WHERE organization_id = app_org_id()")
                version, words = (None, []) if row is None else (row[0], row[1])
        if rules["prior_id"] is not None:
            return Stored(rules["prior_id"], rules["prior_status"], inserted=False)
        if rules["sanction"] is not None:
            until = rules["sanctioned_until"].isoformat(timespec="seconds")
            state = "banned" if rules["sanction"] == "ban" else "muted"
            raise ServiceError(p.ErrorCode.REFUSED, f"you are {state} until {until}")
        now = dt.datetime.now(dt.UTC)
        slow = rules["slow_mode"] or 0
        if slow and rules["last_at"] is not None:
            wait = slow - (now - rules["last_at"]).total_seconds()
            if wait > 0:
                raise ServiceError(p.ErrorCode.RATE_LIMITED,
                                   f"slow mode: wait {wait:.0f} s before your next message")
        if rules["recent"] >= self._user_burst:
            raise ServiceError(p.ErrorCode.RATE_LIMITED, "too many messages; slow down")
        if blocked is None and version is not None:  # off the database connection
            blocked = await self._blocked.compile(caller.org, version, words)
        if blocked is not None and blocked.matches(text):
            if rules["action"] == "hold":
                return "held"
            raise ServiceError(p.ErrorCode.REFUSED, "message contains a blocked word")
        return "visible"

    async def page(self, org: uuid.UUID, room: str, before: int | None,
                   limit: int) -> tuple[list[p.ChatItem], int | None]:
        """A page of stored chat, oldest first, and the cursor for the page before it."""
        rows = await page_history(self._pool, DbPrincipal(org, None, "hub"), room, before,
                                  limit + 1)
        older = len(rows) > limit
        rows = rows[1:] if older else rows
        items = [p.ChatItem(seq=r.id, message_id=str(r.id),
                            user=r.author or "", text=r.body,
                            time=int(r.created_at.timestamp() * 1000)) for r in rows]
        return items, (items[0].seq if older and items else None)
