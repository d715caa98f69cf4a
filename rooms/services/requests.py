"""The song request queue of an event room: fans request and vote, DJs run the queue.

Rules (what a user sees):
  * A request names a title, an artist (optional) and a note. Two spellings of one song
    match (``requests_normalize``); requesting a song already queued (pending or accepted)
    adds your vote to it instead (``merged``). The submitter's own vote counts.
  * One vote per fan (token ``sub``) per request. Voting again, or re-requesting a song you
    already voted for, is a no-op that says ``counted: false``: retries are harmless.
  * A fan may have at most ``request_queues.max_open_per_fan`` (default 3) queued requests
    per event; merged requests are votes and don't count.
  * Order: the DJ's line-up first, then paid by amount, votes, age (``requests_order``).
    A request submitted with an amount is ``pending_payment`` and ranks as unpaid until
    the server confirms payment; each confirmed payment (a "bump") adds to ``paid_cents``,
    a refund takes its credit back. Repeated ``payment_id``s are ignored. Both need their
    row in the money ledger (``persistence.ledger``: the payment by its payment_ref, a
    refund by its refund id, same amount), else REFUSED; ``paid_cents`` is then what the
    ledger says the request still counts for (payments less refunds, partial ones too).
  * DJ actions (accept, play_now, played, decline, move) carry the ``version`` the DJ saw;
    any other version is refused with 4412 and the current queue, so no update is lost.
    play_now marks the song playing now as played; played closes a queued or playing
    request. Declined requests leave the queue and
    their requester sees the reason (room event and ``requests.mine``).
  * ``requests.mine``: your requests with position and ``eta_seconds`` = position x the
    event's average song length (``request_queues.song_seconds``, default 210 s).
  * An event with requests off refuses submit, vote and the DJ's actions; an ended or
    cancelled one refuses new requests (``event_gate``). Payments are still credited.
  * Every change commits, bumps the queue version, then publishes one ``requests`` event
    carrying the whole queue (small, and clients need only "take the newest version").
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from persistence import ledger
from persistence.audit import audit
from rooms.access import event_of
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.phones import shown
from rooms.principal import Principal
from rooms.roles import STAFF
from rooms.services import credits
from rooms.services import requests_store as store
from rooms.services.base import Context, Method, Service
from rooms.services.event_gate import require_open
from rooms.services.requests_normalize import same_song, song_key
from rooms.services.requests_order import OPEN, Entry, line_up, move, order
from rooms.services.requests_wire import (
    Decline,
    DjAction,
    Mine,
    Move,
    MyRequest,
    MyRequests,
    Op,
    Payment,
    PaymentApplied,
    QueueState,
    RequestItem,
    RequestsChanged,
    Submit,
    Submitted,
    Vote,
    Voted,
)

# -- state ----------------------------------------------------------------------------------


def _item(r: store.Row, position: int | None) -> RequestItem:
    return RequestItem(
        id=r.id, title=r.title, artist=r.artist, note=r.note, requester=shown(r.requester),
        requester_name=r.requester_name, status=r.status, payment=r.payment,
        paid_cents=r.paid_cents, offered_cents=r.offered_cents, votes=r.votes, position=position,
        lined_up=r.lineup_rank is not None, decline_reason=r.decline_reason, time=r.time_ms)


def _entries(rows: list[store.Row]) -> list[Entry]:
    return [Entry(r.id, r.paid_cents, r.votes, r.time_ms, r.lineup_rank)
            for r in rows if r.status in OPEN]


def _state(rows: list[store.Row], version: int) -> QueueState:
    by_id = {r.id: r for r in rows}
    playing = next((r for r in rows if r.status == "playing"), None)
    queue = [_item(by_id[e.id], i + 1) for i, e in enumerate(order(_entries(rows)))]
    return QueueState(version, None if playing is None else _item(playing, 0), queue)


def _in_state(state: QueueState, request_id: uuid.UUID) -> RequestItem | None:
    items = [state.now_playing, *state.queue]
    return next((i for i in items if i is not None and i.id == request_id), None)


async def _find(conn: store.Conn, event_id: uuid.UUID, request_id: uuid.UUID,
                rows: list[store.Row]) -> store.Row:
    """A queued or playing request; refused when closed, invalid when unknown."""
    row = next((r for r in rows if r.id == request_id), None)
    if row is not None:
        return row
    closed = await store.get(conn, event_id, request_id)
    if closed is None:
        raise ServiceError(ErrorCode.INVALID_FIELD, f"no request {request_id} in this event")
    raise ServiceError(ErrorCode.REFUSED, f"that request was already {closed.status}")


async def _commit(conn: store.Conn, event_id: uuid.UUID,
                  request_id: uuid.UUID) -> tuple[QueueState, RequestItem]:
    """Bump the version and read back the new state and the affected request."""
    version = await store.bump(conn, event_id)
    state = _state(await store.live_rows(conn, event_id), version)
    item = _in_state(state, request_id)
    if item is None:  # it just left the queue (played, declined)
        row = await store.get(conn, event_id, request_id)
        assert row is not None
        item = _item(row, None)
    return state, item


async def _broadcast(ctx: Context, room: RoomName, op: Op, state: QueueState,
                     item: RequestItem) -> None:
    await ctx.publish(room, RequestsChanged(op=op, version=state.version, request=item,
                                            now_playing=state.now_playing, queue=state.queue))


async def snapshot(ctx: Context, caller: Principal, room: RoomName) -> QueueState | None:
    if room.kind is not RoomKind.EVENT:
        return None
    async with ctx.tx(caller) as conn:
        queue, rows = await store.read(conn, room.id)
    return QueueState(0, None, []) if queue is None else _state(rows, queue.version)


# -- fans -------------------------------------------------------------------------------------


async def submit(ctx: Context, caller: Principal, room: RoomName, params: Submit) -> Submitted:
    event_id = event_of(room, "requests")
    key = song_key(params.title, params.artist)
    if not key[0]:
        raise ServiceError(ErrorCode.INVALID_FIELD, "the title needs letters or digits")
    op: Op = "added"
    async with ctx.tx(caller) as conn:
        await require_open(conn, event_id, "requests", new_entry=True)
        queue = await store.lock(conn, event_id)
        rows = await store.live_rows(conn, event_id)
        same = next((r for r in rows if r.status in OPEN
                     and same_song((r.title_key, r.artist_key), key)), None)
        if same is not None:
            if not await store.add_vote(conn, same.id, caller.sub):
                state = _state(rows, queue.version)
                item = _in_state(state, same.id)
                assert item is not None
                return Submitted(item, merged=True, counted=False, version=queue.version)
            request_id, op = same.id, "voted"
        else:
            mine = sum(r.requester == caller.sub and r.status in OPEN for r in rows)
            if mine >= queue.max_open_per_fan:
                raise ServiceError(ErrorCode.REFUSED, f"you already have {mine} requests in"
                                   " the queue; wait until one is played")
            request_id = await store.insert(
                conn, event_id, caller.sub, params.title.strip(), params.artist.strip(),
                params.note.strip(), key, params.amount_cents, caller.name or None)
            await store.add_vote(conn, request_id, caller.sub)
        state, item = await _commit(conn, event_id, request_id)
    await _broadcast(ctx, room, op, state, item)
    return Submitted(item, merged=same is not None, counted=True, version=state.version)


async def vote(ctx: Context, caller: Principal, room: RoomName, params: Vote) -> Voted:
    event_id = event_of(room, "requests")
    async with ctx.tx(caller) as conn:
        await require_open(conn, event_id, "requests", new_entry=False)
        queue = await store.lock(conn, event_id)
        rows = await store.live_rows(conn, event_id)
        row = await _find(conn, event_id, params.request_id, rows)
        if row.status not in OPEN:
            raise ServiceError(ErrorCode.REFUSED, "that request is playing now")
        if not await store.add_vote(conn, row.id, caller.sub):
            item = _in_state(_state(rows, queue.version), row.id)
            assert item is not None
            return Voted(item, counted=False, version=queue.version)
        state, item = await _commit(conn, event_id, row.id)
    await _broadcast(ctx, room, "voted", state, item)
    return Voted(item, counted=True, version=state.version)


async def mine(ctx: Context, caller: Principal, room: RoomName, params: Mine) -> MyRequests:
    event_id = event_of(room, "requests")
    async with ctx.tx(caller) as conn:
        queue, rows = await store.read(conn, event_id)
        if queue is None:
            return MyRequests(0, [])
        state = _state(rows, queue.version)
        own = await store.of_requester(conn, event_id, caller.sub)
    out = []
    for r in own:
        item = _in_state(state, r.id) or _item(r, None)
        eta = None if item.position is None else item.position * queue.song_seconds
        out.append(MyRequest(item, eta))
    return MyRequests(queue.version, out)


# -- DJs ----------------------------------------------------------------------------------------

Apply = Callable[[store.Conn, store.Row, list[store.Row]], Awaitable[None]]


async def _dj(ctx: Context, caller: Principal, room: RoomName, request_id: uuid.UUID,
              version: int, op: Op, apply: Apply, detail: dict[str, object]) -> QueueState:
    """Run one DJ action at the version the DJ saw, then commit and broadcast."""
    event_id = event_of(room, "requests")
    async with ctx.tx(caller) as conn:
        await require_open(conn, event_id, "requests", new_entry=False)
        queue = await store.lock(conn, event_id)
        rows = await store.live_rows(conn, event_id)
        if version != queue.version:
            raise ServiceError(ErrorCode.STALE_VERSION, f"the queue is at version"
                               f" {queue.version}, not {version}",
                               state=_state(rows, queue.version))
        row = await _find(conn, event_id, request_id, rows)
        await apply(conn, row, rows)
        await audit(conn, caller.sub, f"requests.{op}", str(request_id),
                    {"by": caller.sub, **detail})
        state, item = await _commit(conn, event_id, request_id)
    await _broadcast(ctx, room, op, state, item)
    return state


def _queued(row: store.Row) -> None:
    if row.status not in OPEN:
        raise ServiceError(ErrorCode.REFUSED, "that request is playing now; mark it played")


async def accept(ctx: Context, caller: Principal, room: RoomName, params: DjAction) -> QueueState:
    async def apply(conn: store.Conn, row: store.Row, rows: list[store.Row]) -> None:
        _queued(row)
        if row.status == "accepted":
            raise ServiceError(ErrorCode.REFUSED, "already accepted")
        await store.set_accepted(conn, row.id)
        await store.set_ranks(conn, rows, line_up(_entries(rows), row.id))
    return await _dj(ctx, caller, room, params.request_id, params.version, "accepted", apply, {})


async def play_now(ctx: Context, caller: Principal, room: RoomName,
                   params: DjAction) -> QueueState:
    async def apply(conn: store.Conn, row: store.Row, rows: list[store.Row]) -> None:
        _queued(row)
        for r in rows:
            if r.status == "playing":
                await store.set_status(conn, r.id, "played")
        await store.set_status(conn, row.id, "playing")
    return await _dj(ctx, caller, room, params.request_id, params.version, "playing", apply, {})


async def played(ctx: Context, caller: Principal, room: RoomName, params: DjAction) -> QueueState:
    async def apply(conn: store.Conn, row: store.Row, rows: list[store.Row]) -> None:
        await store.set_status(conn, row.id, "played")
    return await _dj(ctx, caller, room, params.request_id, params.version, "played", apply, {})


async def decline(ctx: Context, caller: Principal, room: RoomName, params: Decline) -> QueueState:
    reason = params.reason.strip()
    if not reason:
        raise ServiceError(ErrorCode.INVALID_FIELD, "say why (the fan sees the reason)")

    async def apply(conn: store.Conn, row: store.Row, rows: list[store.Row]) -> None:
        _queued(row)
        await store.set_status(conn, row.id, "declined", reason)
    return await _dj(ctx, caller, room, params.request_id, params.version, "declined", apply,
                     {"reason": reason})


async def move_to(ctx: Context, caller: Principal, room: RoomName, params: Move) -> QueueState:
    async def apply(conn: store.Conn, row: store.Row, rows: list[store.Row]) -> None:
        _queued(row)
        await store.set_ranks(conn, rows, move(_entries(rows), row.id, params.position))
    return await _dj(ctx, caller, room, params.request_id, params.version, "moved", apply,
                     {"position": params.position})


# -- server (payment provider) -------------------------------------------------------------


async def _payment(ctx: Context, caller: Principal, room: RoomName, params: Payment,
                   refund: bool) -> PaymentApplied:
    event_id = event_of(room, "requests")
    op: Op = "refunded" if refund else "paid"
    async with ctx.tx(caller) as conn:
        queue = await store.lock(conn, event_id)
        row = await store.get(conn, event_id, params.request_id)
        if row is None:
            raise ServiceError(ErrorCode.INVALID_FIELD, f"no request {params.request_id}")
        kind: ledger.Kind = "refund" if refund else "payment"
        if await store.payment_seen(conn, kind, params.payment_id):
            state = _state(await store.live_rows(conn, event_id), queue.version)
            item = _in_state(state, row.id) or _item(row, None)
            return PaymentApplied(item, applied=False, version=queue.version)
        cents = await credits.require(conn, kind, "bump", row.id, params.payment_id,
                                      params.amount_cents)
        await store.record_payment(conn, row.id, kind, params.payment_id, cents)
        paid = await ledger.counted(conn, "bump", row.id)  # the ranking reads the ledger
        await store.set_paid(conn, row.id, paid, "paid" if paid else "refunded")
        await audit(conn, caller.sub, f"requests.{op}", str(row.id),
                    {"amount_cents": cents, "payment_id": params.payment_id})
        state, item = await _commit(conn, event_id, row.id)
    await _broadcast(ctx, room, op, state, item)
    return PaymentApplied(item, applied=True, version=state.version)


async def payment_confirmed(ctx: Context, caller: Principal, room: RoomName,
                            params: Payment) -> PaymentApplied:
    return await _payment(ctx, caller, room, params, refund=False)


async def payment_refunded(ctx: Context, caller: Principal, room: RoomName,
                           params: Payment) -> PaymentApplied:
    return await _payment(ctx, caller, room, params, refund=True)


SERVICE = Service(
    name="requests",
    doc=__doc__ or "",
    snapshot=snapshot,
    events=(RequestsChanged,),
    methods=(
        Method("submit", Submit, submit,
               doc="Request a song (an already-queued song becomes your vote on it)"),
        Method("vote", Vote, vote, doc="Vote for a queued request (again: a no-op)"),
        Method("mine", Mine, mine, doc="Your requests with position and estimated wait"),
        Method("accept", DjAction, accept, roles=STAFF,
               doc="Accept and line up after the DJ's line-up"),
        Method("play_now", DjAction, play_now, roles=STAFF,
               doc="Mark playing now (the previous song becomes played)"),
        Method("played", DjAction, played, roles=STAFF, doc="Mark played"),
        Method("decline", Decline, decline, roles=STAFF,
               doc="Decline with a reason the fan sees"),
        Method("move", Move, move_to, roles=STAFF,
               doc="Move to a 1-based position; the requests above it are lined up as is"),
        Method("payment_confirmed", Payment, payment_confirmed, server_only=True,
               doc="Credit a confirmed payment (a bump) held by the ledger;"
                   " repeated payment_id ignored"),
        Method("payment_refunded", Payment, payment_refunded, server_only=True,
               doc="Take back a refund held by the ledger (payment_id: the refund id);"
                   " repeated payment_id ignored"),
    ),
)
