"""The karaoke queue service (``karaoke.*``): signups, fair rotation, host controls.

Rules, as a singer or host sees them:

* Anyone in the event room signs up with a name and a song (``karaoke.signup``); the
  singer is the token's ``sub``. A singer may have at most ``max_active`` songs queued
  or on stage at once (default 1; the host changes it with ``karaoke.settings``).
* The queue is in fair-rotation order: a singer's Nth song goes after every other
  singer's Nth song, so newcomers are not starved by regulars. The exact rule is in
  ``rooms.services.karaoke_rotation``.
* The song on stage (``now_singing``) is out of the queue; ``next_up`` is the first
  queued song whose singer is not on hold.
* Hosts (performer, dj, moderator, admin): ``next`` ends the song on stage (sung) and
  brings ``next_up`` on; ``sung`` and ``skip`` take any queued or on-stage song out
  (only sung songs count toward a singer's rounds); ``move`` puts a song at an index;
  ``hold`` keeps a singer's songs in place but passes over them until ``release`` (a
  hold also ends once the singer has no song left in the queue, so a later signup is
  not silently held); ``settings`` changes the limits. Host changes are written to the
  audit log.
* Every host action carries the queue ``version`` the host saw. A stale one is refused
  with STALE_VERSION and the current state, so two hosts pressing ``next`` together
  advance one singer, not two.
* Each song's ``wait_seconds`` estimates its start from ``slot_seconds`` (default 240).

An event with karaoke off refuses every change; an ended or cancelled one refuses
signups (``event_gate``).

Every change locks the event's queue row, bumps ``version``, commits, then broadcasts
one ``karaoke`` room event with the full new state (the queue is short; a full state
is simpler for clients than diffs and a missed event is repaired by the next one).
When ``next_up`` becomes a different song, the ``next_up`` hook is called with the
singer's real sub and, if they gave one with consent, their phone: the SMS integration
texts "you're up next".

Phones: a signup may carry ``phone`` with ``sms_consent: true`` (refused without it;
normalized to E.164 by ``rooms.phones``). It is stored on the signup and never sent to
the room. A texting fan's sub (``sms:<phone>``) is shown in room events as an alias
(``karaoke_aliases``); hosts may name a singer by that alias.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
from asyncpg.pool import PoolConnectionProxy

from persistence.audit import audit
from rooms.access import event_of
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.phones import normalize
from rooms.principal import Principal
from rooms.roles import ANYONE, HOSTS
from rooms.services import karaoke_rotation as rotation
from rooms.services import karaoke_store as store
from rooms.services.base import Context, Method, Service
from rooms.services.event_gate import require_open
from rooms.services.karaoke_aliases import alias, resolve
from rooms.services.karaoke_store import Queue, Row
from rooms.services.karaoke_wire import (
    Entry,
    KaraokeChanged,
    KaraokeState,
    Mine,
    MineResult,
    MoveParams,
    NoParams,
    Settings,
    SettingsParams,
    Signed,
    SignupParams,
    SignupRef,
    SingerRef,
    VersionRef,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Action = Callable[[PoolConnectionProxy, Queue], Awaitable[T]]


def state_of(q: Queue) -> KaraokeState:
    """The wire state of a queue: ordered, with next up, holds and waits."""
    waiting = {r.id: r for r in q.rows if r.status == "waiting"}
    stage = next((r for r in q.rows if r.status == "up"), None)
    held = set(q.held)
    ordered = rotation.order(r.slot() for r in waiting.values())
    wait = rotation.waits(ordered, held, stage is not None, q.slot_seconds)
    queue = [_entry(q, waiting[s.id], s.singer in held, wait[s.id]) for s in ordered]
    nxt = rotation.next_up(ordered, held)
    return KaraokeState(
        version=q.version,
        now_singing=None if stage is None else _entry(q, stage, False, 0),
        next_up=next((e for e in queue if nxt is not None and e.signup_id == nxt.id), None),
        queue=queue, held=sorted(alias(q.alias_key, s) for s in held),
        settings=Settings(max_active=q.max_active, slot_seconds=q.slot_seconds))


def _entry(q: Queue, r: Row, held: bool, wait: int) -> Entry:
    """One row as the room sees it: no phone, and a texting singer's sub aliased."""
    return Entry(signup_id=r.id, singer=r.singer, singer_sub=alias(q.alias_key, r.singer_sub),
                 song=r.song, round=r.round, held=held, wait_seconds=wait)


def _unknown_event() -> ServiceError:
    return ServiceError(ErrorCode.UNKNOWN_ROOM, "unknown event")


async def _change(ctx: Context, caller: Principal, room: RoomName, change: str,
                  action: Action[T], target: str | None = None,
                  version: int | None = None) -> tuple[KaraokeState, T]:
    """Lock, check the event (karaoke on; open for signups), check ``version`` (host
    actions), apply ``action``, bump the version, commit; then broadcast and notify."""
    event_id = event_of(room, "karaoke")
    async with ctx.tx(caller) as conn:
        # The event row before the queue row: the lock order of event.update.
        await require_open(conn, event_id, "karaoke", new_entry=change == "signup")
        q = await store.lock(conn, event_id)
        if q is None:
            raise _unknown_event()
        if version is not None and version != q.version:
            raise ServiceError(ErrorCode.STALE_VERSION, f"the queue is at version {q.version},"
                               f" not {version}", state=state_of(q))
        before = state_of(q).next_up
        out = await action(conn, q)
        # A hold outlives nothing: once the singer has no queued song it is dropped, so
        # their next signup is not silently held.
        q.held = [s for s in q.held
                  if any(r.singer_sub == s and r.status == "waiting" for r in q.rows)]
        await store.save(conn, q)
        if target is not None:
            await audit(conn, caller.sub, f"karaoke.{change}", target,
                        {"by": caller.sub})
        saved = await store.load(conn, event_id)
        state = state_of(saved)
    await ctx.publish(room, KaraokeChanged(**msgspec.structs.asdict(state), change=change))
    after = state.next_up
    row = None if after is None else saved.row(after.signup_id)
    if row is not None and (before is None or before.signup_id != row.id):
        await _notify_next_up(ctx, event_id, row)
    return state, out


async def _notify_next_up(ctx: Context, event_id: uuid.UUID, r: Row) -> None:
    """The hook gets the real sub and the consented phone: it runs in-process, never in
    a room event."""
    payload = {"event_id": str(event_id), "singer": r.singer, "signup_id": r.id,
               "singer_sub": r.singer_sub}
    if r.phone is not None:
        payload["phone"] = r.phone
    try:
        await ctx.notify("next_up", payload)
    except Exception:  # the change is committed and broadcast; a failed SMS must not undo it
        log.exception("next_up hook failed for signup %s", r.id)


def _active(q: Queue, signup_id: str) -> Row:
    row = q.row(signup_id)
    if row is None:
        raise ServiceError(ErrorCode.REFUSED, "that signup is not queued or on stage")
    return row


# -- methods ---------------------------------------------------------------------------


def _consented_phone(params: SignupParams) -> str | None:
    """The signup's phone in E.164, or None when it gave none.

    Raises:
        ServiceError: INVALID_FIELD for a phone without ``sms_consent`` or a malformed one.
    """
    if params.phone is None:
        return None
    if not params.sms_consent:
        raise ServiceError(ErrorCode.INVALID_FIELD, "a phone needs sms_consent: true (the"
                           " singer agrees to be texted when they are up next)")
    try:
        return normalize(params.phone)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID_FIELD, str(exc)) from None


async def signup(ctx: Context, caller: Principal, room: RoomName, params: SignupParams) -> Signed:
    singer, song = params.singer.strip(), params.song.strip()
    if not singer or not song:
        raise ServiceError(ErrorCode.INVALID_FIELD, "singer and song must not be blank")
    phone = _consented_phone(params)

    async def act(conn: PoolConnectionProxy, q: Queue) -> Row:
        mine = sum(r.singer_sub == caller.sub for r in q.rows)
        if mine >= q.max_active:
            raise ServiceError(ErrorCode.REFUSED, f"you have {mine} song(s) in the queue; the"
                               f" host allows {q.max_active} at a time")
        round_ = rotation.new_round(await store.singer_rounds(conn, q.event_id, caller.sub))
        return await store.add(conn, q, caller.sub, singer, song, round_, phone)

    state, row = await _change(ctx, caller, room, "signup", act)
    return Signed(signup_id=row.id, round=row.round, version=state.version)


async def mine(ctx: Context, caller: Principal, room: RoomName, params: NoParams) -> MineResult:
    event_id = event_of(room, "karaoke")
    async with ctx.tx(caller) as conn:
        if not await store.event_exists(conn, event_id):
            raise _unknown_event()
        q = await store.load(conn, event_id)
    state, me = state_of(q), alias(q.alias_key, caller.sub)
    songs: list[Mine] = []
    if state.now_singing is not None and state.now_singing.singer_sub == me:
        songs.append(Mine(state.now_singing.signup_id, state.now_singing.song, 0, 0, False))
    ordered = [rotation.Slot(e.signup_id, e.singer_sub, e.round, 0) for e in state.queue]
    ahead = rotation.ahead(ordered, set(state.held))
    songs += [Mine(e.signup_id, e.song, ahead[e.signup_id] + 1, e.wait_seconds, e.held)
              for e in state.queue if e.singer_sub == me]
    return MineResult(version=state.version, songs=songs)


async def settings(ctx: Context, caller: Principal, room: RoomName,
                   params: SettingsParams) -> KaraokeState:
    async def act(conn: PoolConnectionProxy, q: Queue) -> None:
        if params.max_active is not None:
            q.max_active = params.max_active  # applies to new signups; nobody is removed
        if params.slot_seconds is not None:
            q.slot_seconds = params.slot_seconds

    return (await _change(ctx, caller, room, "settings", act, target="settings",
                          version=params.version))[0]


async def move(ctx: Context, caller: Principal, room: RoomName, params: MoveParams) -> KaraokeState:
    async def act(conn: PoolConnectionProxy, q: Queue) -> None:
        queued = rotation.order(r.slot() for r in q.rows if r.status == "waiting")
        try:
            changed, q.next_position = rotation.move(queued, params.signup_id,
                                                     params.to_index, q.next_position)
        except KeyError:
            raise ServiceError(ErrorCode.REFUSED, "that signup is not in the queue") from None
        await store.set_keys(conn, q, changed)

    return (await _change(ctx, caller, room, "move", act, target=params.signup_id,
                          version=params.version))[0]


async def next_singer(ctx: Context, caller: Principal, room: RoomName,
                      params: VersionRef) -> KaraokeState:
    async def act(conn: PoolConnectionProxy, q: Queue) -> None:
        stage = next((r for r in q.rows if r.status == "up"), None)
        nxt = state_of(q).next_up
        if stage is None and nxt is None:
            raise ServiceError(ErrorCode.REFUSED, "nobody is on stage or up next")
        if stage is not None:
            await store.set_status(conn, q, stage, "done")
        if nxt is not None:
            await store.set_status(conn, q, _active(q, nxt.signup_id), "up")

    return (await _change(ctx, caller, room, "next", act, target="stage",
                          version=params.version))[0]


def _finish(status: str) -> Callable[[Context, Principal, RoomName, SignupRef],
                                     Awaitable[KaraokeState]]:
    change = "sung" if status == "done" else "skip"

    async def handler(ctx: Context, caller: Principal, room: RoomName,
                      params: SignupRef) -> KaraokeState:
        async def act(conn: PoolConnectionProxy, q: Queue) -> None:
            await store.set_status(conn, q, _active(q, params.signup_id), status)

        return (await _change(ctx, caller, room, change, act, target=params.signup_id,
                              version=params.version))[0]

    return handler


async def hold(ctx: Context, caller: Principal, room: RoomName, params: SingerRef) -> KaraokeState:
    async def act(conn: PoolConnectionProxy, q: Queue) -> None:
        sub = resolve(q.alias_key, params.singer_sub, (r.singer_sub for r in q.rows))
        if sub in q.held:
            raise ServiceError(ErrorCode.REFUSED, "that singer is already on hold")
        if not any(r.singer_sub == sub and r.status == "waiting" for r in q.rows):
            raise ServiceError(ErrorCode.REFUSED, "that singer has no song in the queue")
        q.held.append(sub)

    return (await _change(ctx, caller, room, "hold", act, target=params.singer_sub,
                          version=params.version))[0]


async def release(ctx: Context, caller: Principal, room: RoomName,
                  params: SingerRef) -> KaraokeState:
    async def act(conn: PoolConnectionProxy, q: Queue) -> None:
        sub = resolve(q.alias_key, params.singer_sub, q.held)
        if sub not in q.held:
            raise ServiceError(ErrorCode.REFUSED, "that singer is not on hold")
        q.held.remove(sub)

    return (await _change(ctx, caller, room, "release", act, target=params.singer_sub,
                          version=params.version))[0]


async def snapshot(ctx: Context, caller: Principal, room: RoomName) -> KaraokeState | None:
    """The event's queue for a (re)subscriber; None for org rooms."""
    if room.kind is not RoomKind.EVENT:
        return None
    async with ctx.tx(caller) as conn:
        return state_of(await store.load(conn, room.id))


SERVICE: Service = Service(
    name="karaoke",
    doc=__doc__ or "",
    snapshot=snapshot,
    events=(KaraokeChanged,),
    methods=(
        Method("signup", SignupParams, signup, ANYONE,
               "queue a song for the caller (fair rotation; max_active per singer); phone +"
               " sms_consent: true to be texted when up next"),
        Method("mine", NoParams, mine, ANYONE,
               "the caller's songs: place in line (1 = next up, 0 = on stage) and wait"),
        Method("settings", SettingsParams, settings, HOSTS,
               "change max_active (songs per singer) and slot_seconds (wait estimate)"),
        Method("move", MoveParams, move, HOSTS,
               "put a queued song at to_index; refused with the state if version is stale"),
        Method("next", VersionRef, next_singer, HOSTS,
               "end the song on stage (sung) and bring next_up on stage"),
        Method("sung", SignupRef, _finish("done"), HOSTS,
               "mark a queued or on-stage song sung (it leaves the queue)"),
        Method("skip", SignupRef, _finish("skipped"), HOSTS,
               "take a queued or on-stage song out unsung (it does not count as a round)"),
        Method("hold", SingerRef, hold, HOSTS,
               "pass over a singer's songs, keeping their place, until release"),
        Method("release", SingerRef, release, HOSTS,
               "end a hold: the singer's songs are back where they were"),
    ),
)
