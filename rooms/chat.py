"""The chat room service: store in Postgres first, then broadcast.

A message is acknowledged (``chat_sent``) only after its row is committed, so
an acknowledged message survives the hub process dying right afterwards. The
write is group-committed with other concurrent chat (``persistence.chat``),
which keeps Postgres off the fan-out path: delivery to subscribers never waits
on the database, only the sender's acknowledgement does.
"""

from __future__ import annotations

import time
import uuid

import asyncpg

from hub import protocol as p
from persistence.chat import ChatMessage, ChatWriter, page_history
from persistence.tenant import Principal as DbPrincipal
from rooms.events import ChatPosted, encode_event
from rooms.names import RoomKind, RoomName
from rooms.node import Node


class ChatService:
    def __init__(self, node: Node, pool: asyncpg.Pool, writer: ChatWriter) -> None:
        self._node = node
        self._pool = pool
        self._writer = writer

    async def post(self, org: uuid.UUID, room: RoomName, user: str, text: str,
                   message_id: str | None) -> str:
        """Store, then publish, one chat message; return its message id."""
        message_id = message_id or str(uuid.uuid4())
        now_ms = int(time.time() * 1000)
        await self._writer.write(ChatMessage(
            organization_id=org, room=str(room), body=text, client_msg_id=message_id,
            event_id=room.id if room.kind is RoomKind.EVENT else None, author=user,
        ))
        event = ChatPosted(message_id=message_id, user=user, text=text, time=now_ms)
        await self._node.publish(str(room), encode_event(event))
        return message_id

    async def page(self, org: uuid.UUID, room: str, before: int | None,
                   limit: int) -> tuple[list[p.ChatItem], int | None]:
        """A page of stored chat, oldest first, and the cursor for the page before it."""
        rows = await page_history(self._pool, DbPrincipal(org, None, "hub"), room, before,
                                  limit + 1)
        older = len(rows) > limit
        rows = rows[1:] if older else rows
        items = [p.ChatItem(seq=r.id, message_id=r.client_msg_id or str(r.id),
                            user=r.author or "", text=r.body,
                            time=int(r.created_at.timestamp() * 1000)) for r in rows]
        return items, (items[0].seq if older and items else None)
