"""The chat room service: check the room's rules, store in Postgres, then broadcast.

Methods: ``chat.post`` and ``chat.history``; the websocket's ``chat`` and ``chat_history``
frames are shorthands for them. Moderation (``moderation.*``: delete, mute, ban, slow
mode, blocked words, held messages) is the same service's staff side, kept under its own
method names in ``moderation.py``; both share this module's broadcast of a posted message.

Rules: ``chat_rules`` (sanctions, slow mode, per-user rate, blocked words); staff are
exempt. No rules query runs for an accepted message: slow mode and blocked words are
cached per node until a moderator changes them, the per-user rate is counted in memory,
and a sanction is checked by the write itself.

Invariant: nothing is acknowledged or broadcast that is not stored. A message is
published to the room and acknowledged only after its row is committed, so it survives
the hub process dying right afterwards, and the ``message_id`` both carry is that row's
id (unique, and what moderation and history use). The write is group-committed with other
concurrent chat (``persistence.chat.ChatWriter``), which keeps Postgres off the fan-out
path: delivery to subscribers never waits on the database, only the sender's
acknowledgement does. A call joining a caller's transaction writes in that transaction
instead, and is broadcast once it commits.

Retries: the idempotency key is (org, room, author, client_msg_id), so one user's id never
touches another's message. A retry is answered with the original acknowledgement (same
``message_id``; status as the message is now: visible, held or removed) and broadcasts
nothing; it skips the rules, since the message was already accepted. A retry is spotted
by the write itself, or, when the rules would refuse it, by a look-up of its retry key.
One exception: a first attempt can commit and still fail, when the connection dies under
its COMMIT (Postgres crashing). Its sender was told 4503 and the room got nothing, so a
retry of a visible message whose broadcast is not in the room's history publishes it then.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import msgspec

from persistence import chat as store
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.roles import STAFF
from rooms.services.base import Context, Method, Service
from rooms.services.chat_rules import Admitted, admit, refusal
from rooms.services.chat_wire import (
    ChatItem,
    ChatPosted,
    HistoryParams,
    Page,
    Post,
    Posted,
    checked_post,
)

# Stored status -> the status an acknowledgement reports.
_ACK_STATUS = {"visible": "visible", "held": "held", "deleted": "removed"}


async def post(ctx: Context, who: Principal, room: RoomName, params: Post) -> Posted:
    """Apply the room's rules, store, then publish; a retry returns the original."""
    params = checked_post(params, ctx.chat.max_chars)
    client_msg_id = params.client_msg_id or str(uuid.uuid4())
    status = "visible"
    staff = who.has(STAFF)
    admitted: Admitted | None = None
    if not staff:
        checked = await admit(ctx, who, str(room), params.text, client_msg_id)
        if isinstance(checked, store.Stored):
            await _publish_if_unseen(ctx, room, checked, who, params.text, staff)
            return Posted(str(checked.id), _ACK_STATUS[checked.status])
        admitted, status = checked, checked.status
    message = store.ChatMessage(
        organization_id=who.org, room=str(room), body=params.text,
        client_msg_id=client_msg_id, event_id=room.id if room.kind is RoomKind.EVENT else None,
        author=who.sub, author_name=who.name, author_staff=staff, status=status)
    try:
        if ctx.unit is None:
            stored: store.Stored | None = await ctx.writer.write(message)
        else:
            async with ctx.tx(who) as conn:
                stored = (await store.insert(conn, [message]))[0]
    except store.Sanctioned:
        stored = None
    except BaseException:
        if admitted is not None:
            admitted.refund(ctx)
        raise
    if admitted is not None and (stored is None or not stored.inserted):
        admitted.refund(ctx)  # not stored, or a retry: the user's budget is unspent
    if stored is None:  # the write skipped an author with a mute or ban in force
        stored = await refusal(ctx, who, str(room), client_msg_id)
    if stored.inserted and stored.status == "visible":
        _first_attempts.add(stored.id)  # set as the write returns: no retry runs before
        try:
            await published(ctx, room, stored.id, who.sub, params.text, time.time(),
                            who.name, staff)
        finally:
            _first_attempts.discard(stored.id)
    elif not stored.inserted:
        await _publish_if_unseen(ctx, room, stored, who, params.text, staff)
    return Posted(str(stored.id), _ACK_STATUS[stored.status])


async def _publish_if_unseen(ctx: Context, room: RoomName, stored: store.Stored,
                             who: Principal, text: str, staff: bool) -> None:
    """A retry of a visible message: publish it unless the room's history holds it.

    Only a first attempt whose answer was lost under its COMMIT leaves it out. A retry
    after the broadcast left the history window (``HUB_HISTORY_SIZE``, ``HUB_HISTORY_TTL``)
    publishes it again, with the same ``message_id``, which clients already drop.
    """
    if stored.status != "visible" or stored.id in _first_attempts:
        return
    message_id = str(stored.id)
    hist = await ctx.node.history(str(room), 0, _WHOLE_WINDOW)
    needle = f'"message_id":"{message_id}"'.encode()
    for pub in hist.publications:
        if needle in pub.data and _is_chat(pub.data, message_id):
            return
    await published(ctx, room, stored.id, who.sub, text, time.time(), who.name, staff)


# Rows this process is publishing as first attempts: a concurrent retry (the same key in
# the same group commit, or just after) leaves the broadcast to them.
_first_attempts: set[int] = set()
_WHOLE_WINDOW = 1 << 30  # the node caps a history read at its window
_any_json = msgspec.json.Decoder()


def _is_chat(data: bytes, message_id: str) -> bool:
    try:
        event = _any_json.decode(data)
    except msgspec.DecodeError:
        return False
    return (isinstance(event, dict) and event.get("type") == "chat"
            and event.get("message_id") == message_id)


async def published(ctx: Context, room: RoomName, message_id: int, author: str, text: str,
                    at: float | dt.datetime, name: str = "", staff: bool = False) -> None:
    """Broadcast a stored, visible message (a new post, or a held one approved)."""
    seconds = at.timestamp() if isinstance(at, dt.datetime) else at
    await ctx.publish(room, ChatPosted(message_id=str(message_id), user=author, text=text,
                                       time=int(seconds * 1000), name=name, staff=staff))


async def history(ctx: Context, who: Principal, room: RoomName,
                  params: HistoryParams) -> Page:
    """A page of stored chat, oldest first, and the cursor for the page before it."""
    limit = min(params.limit, ctx.chat.page_limit)
    async with ctx.tx(who) as conn:
        rows = await store.fetch_page(conn, str(room), params.before, limit + 1)
    older = len(rows) > limit
    rows = rows[1:] if older else rows
    items = [ChatItem(seq=r.id, message_id=str(r.id), user=r.author or "", text=r.body,
                      time=int(r.created_at.timestamp() * 1000), name=r.author_name,
                      staff=r.author_staff) for r in rows]
    return Page(items, items[0].seq if older and items else None)


SERVICE = Service(
    name="chat",
    doc="Room chat, stored in Postgres before it is broadcast. Staff are exempt from the"
        " rules (mutes and bans, slow mode, per-user rate, blocked words).",
    methods=(
        Method("post", Post, post, banned_refused=False,
               doc="Post a message (the `chat` frame); answered with its id and status"),
        Method("history", HistoryParams, history, banned_refused=False,
               doc="A page of stored chat older than `before` (the `chat_history` frame)"),
    ),
    events=(ChatPosted,),
)
