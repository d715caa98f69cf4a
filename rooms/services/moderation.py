"""Chat moderation, the staff side of the chat service: delete, mute, ban, slow mode,
blocked words, held messages.

Staff only (dj, moderator, admin). Every sanction and deletion is written to
``audit_log`` in the same transaction as the change, then broadcast.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from persistence.audit import audit
from rooms.blocked_words import MAX_WORD_CHARS, MAX_WORDS, ListTooBig, normalize
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomName
from rooms.principal import Principal
from rooms.roles import ORG_ADMINS, STAFF
from rooms.services.base import Context, Method, Service
from rooms.services.chat import published
from rooms.services.chat_rules import changed
from rooms.services.chat_wire import ChatRemoved, ChatRoomSettings, Sanctioned


class MessageRef(msgspec.Struct, frozen=True):
    message_id: str


class SanctionParams(msgspec.Struct, frozen=True):
    user: str
    minutes: int = 60
    reason: str | None = None


class UserRef(msgspec.Struct, frozen=True):
    user: str


class SlowMode(msgspec.Struct, frozen=True):
    seconds: int


class BlockedWords(msgspec.Struct, frozen=True):
    words: list[str]
    action: Literal["reject", "hold"] = "reject"


class NoParams(msgspec.Struct, frozen=True):
    pass


class Done(msgspec.Struct, frozen=True):
    ok: bool = True


class HeldMessage(msgspec.Struct, frozen=True):
    message_id: str
    user: str
    text: str
    time: int


class Held(msgspec.Struct, frozen=True):
    messages: list[HeldMessage]


class ChatState(msgspec.Struct, frozen=True):
    """Snapshot: the room's chat settings."""

    slow_mode_seconds: int


def _row_id(message_id: str) -> int:
    """The stored row a message_id names (chat_sent, chat events and history carry it)."""
    if message_id.isascii() and message_id.isdigit() and int(message_id) < 2**63:
        return int(message_id)
    return 0  # no such row: ids start at 1


async def delete(ctx: Context, caller: Principal, room: RoomName, params: MessageRef) -> Done:
    async with ctx.tx(caller) as conn:
        done = await conn.fetchval(
            "UPDATE chat_messages SET status = 'deleted' WHERE organization_id = app_org_id()"
            " AND room = $1 AND id = $2 AND status <> 'deleted' RETURNING id",
            str(room), _row_id(params.message_id))
        if done is None:
            raise ServiceError(ErrorCode.INVALID_FIELD, "no such message in this room")
        await audit(conn, caller.sub, "chat.delete", str(done),
                    {"room": str(room), "by": caller.sub})
    await ctx.publish(room, ChatRemoved(message_id=str(done), by=caller.sub))
    return Done()


async def _sanction(ctx: Context, caller: Principal, room: RoomName, params: SanctionParams,
                    kind: str) -> Done:
    if not 0 < params.minutes <= 60 * 24 * 365:
        raise ServiceError(ErrorCode.INVALID_FIELD, "minutes must be 1..525600")
    if params.user == caller.sub:
        raise ServiceError(ErrorCode.REFUSED, f"you cannot {kind} yourself")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=params.minutes)
    async with ctx.tx(caller) as conn:
        await conn.execute(
            "INSERT INTO chat_sanctions (organization_id, user_sub, kind, until, reason,"
            " created_by) VALUES (app_org_id(), $1, $2, $3, $4, $5)",
            params.user, kind, until, params.reason, caller.sub)
        await audit(conn, caller.sub, f"chat.{kind}", params.user,
                    {"room": str(room), "minutes": params.minutes, "reason": params.reason,
                     "by": caller.sub})
    await ctx.publish(room, Sanctioned(user=params.user, kind=kind,
                                       until=int(until.timestamp() * 1000), by=caller.sub))
    return Done()


async def mute(ctx: Context, caller: Principal, room: RoomName, params: SanctionParams) -> Done:
    return await _sanction(ctx, caller, room, params, "mute")


async def ban(ctx: Context, caller: Principal, room: RoomName, params: SanctionParams) -> Done:
    return await _sanction(ctx, caller, room, params, "ban")


async def lift(ctx: Context, caller: Principal, room: RoomName, params: UserRef) -> Done:
    now = dt.datetime.now(dt.UTC)
    async with ctx.tx(caller) as conn:
        await conn.execute(
            "UPDATE chat_sanctions SET until = $2 WHERE organization_id = app_org_id()"
            " AND user_sub = $1 AND until > $2", params.user, now)
        await audit(conn, caller.sub, "chat.lift", params.user,
                    {"room": str(room), "by": caller.sub})
    await ctx.publish(room, Sanctioned(user=params.user, kind="lift",
                                       until=int(now.timestamp() * 1000), by=caller.sub))
    return Done()


async def slow_mode(ctx: Context, caller: Principal, room: RoomName, params: SlowMode) -> Done:
    if not 0 <= params.seconds <= 3600:
        raise ServiceError(ErrorCode.INVALID_FIELD, "seconds must be 0..3600")
    async with ctx.tx(caller) as conn:
        await conn.execute(
            "INSERT INTO chat_room_settings (organization_id, room, slow_mode_seconds)"
            " VALUES (app_org_id(), $1, $2) ON CONFLICT (organization_id, room)"
            " DO UPDATE SET slow_mode_seconds = $2, updated_at = now()", str(room), params.seconds)
    await ctx.later(lambda: changed(ctx, caller.org, str(room)))  # every node's rules cache
    await ctx.publish(room, ChatRoomSettings(slow_mode_seconds=params.seconds))
    return Done()


async def blocked_words(ctx: Context, caller: Principal, room: RoomName,
                        params: BlockedWords) -> Done:
    try:
        words = normalize(params.words)
    except ListTooBig as exc:
        raise ServiceError(ErrorCode.REFUSED, str(exc)) from None
    # A new version makes every node recompile its matcher with its next message.
    async with ctx.tx(caller) as conn:
        await conn.execute(
            "INSERT INTO chat_settings (organization_id, blocked_words, blocked_action)"
            " VALUES (app_org_id(), $1, $2) ON CONFLICT (organization_id) DO UPDATE"
            " SET blocked_words = $1, blocked_action = $2, updated_at = now(),"
            " version = nextval('chat_settings_version_seq')",
            words, params.action)
        await audit(conn, caller.sub, "chat.blocked_words", None,
                    {"count": len(words), "action": params.action, "by": caller.sub})
    await ctx.later(lambda: changed(ctx, caller.org))  # every node's rules cache
    return Done()


async def held(ctx: Context, caller: Principal, room: RoomName, params: NoParams) -> Held:
    async with ctx.tx(caller) as conn:
        rows = await conn.fetch(
            "SELECT id, author, body, created_at FROM chat_messages"
            " WHERE organization_id = app_org_id() AND room = $1 AND status = 'held'"
            " ORDER BY id", str(room))
    return Held([HeldMessage(str(r["id"]), r["author"] or "", r["body"],
                             int(r["created_at"].timestamp() * 1000)) for r in rows])


async def approve(ctx: Context, caller: Principal, room: RoomName, params: MessageRef) -> Done:
    async with ctx.tx(caller) as conn:
        row = await conn.fetchrow(
            "UPDATE chat_messages SET status = 'visible' WHERE organization_id = app_org_id()"
            " AND room = $1 AND id = $2 AND status = 'held'"
            " RETURNING id, author, body, created_at, author_name, author_staff", str(room),
            _row_id(params.message_id))
    if row is None:
        raise ServiceError(ErrorCode.INVALID_FIELD, "no held message by that id")
    await published(ctx, room, row["id"], row["author"] or "", row["body"], row["created_at"],
                    row["author_name"], row["author_staff"])
    return Done()


async def snapshot(ctx: Context, caller: Principal, room: RoomName) -> ChatState:
    async with ctx.tx(caller) as conn:
        seconds = await conn.fetchval(
            "SELECT slow_mode_seconds FROM chat_room_settings"
            " WHERE organization_id = app_org_id() AND room = $1", str(room))
    return ChatState(slow_mode_seconds=seconds or 0)


SERVICE = Service(
    name="moderation",
    doc="Chat moderation for staff. Sanctions and deletions are audited.",
    methods=(
        Method("delete", MessageRef, delete, STAFF, "delete a message (broadcast as removal)"),
        Method("mute", SanctionParams, mute, STAFF, "mute a user for `minutes`"),
        Method("ban", SanctionParams, ban, STAFF, "ban a user for `minutes`: no chat, no calls"),
        Method("lift", UserRef, lift, STAFF, "end a user's mutes and bans"),
        Method("slow_mode", SlowMode, slow_mode, STAFF, "per-room seconds between a user's"
               " messages (0 = off)"),
        Method("blocked_words", BlockedWords, blocked_words, ORG_ADMINS,
               "set the org's blocked words and whether matches are rejected or held"
               f" (at most {MAX_WORDS} words of {MAX_WORD_CHARS} characters, else 4422)"),
        Method("held", NoParams, held, STAFF, "list held messages"),
        Method("approve", MessageRef, approve, STAFF, "publish a held message"),
    ),
    snapshot=snapshot,
    events=(ChatRemoved, Sanctioned, ChatRoomSettings),
)
