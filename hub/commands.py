"""Running a connection's commands: the node, the room services, and the answers.

``hub.session`` turns a frame into a command; this module runs it and writes the
answer; ``hub.connection`` only moves bytes. A command here touches a :class:`Peer`
(send, and the session's state), never a socket, so it is tested with a plain object
standing in for the connection.

Authorization: ``rooms.access.authorize`` against the room's owner from the directory,
when the command runs (the session already refused what it could tell without I/O).
Reads (``history``, ``presence``, ``unsubscribe``) need a subscription the hub confirmed
(``session.joined``): commands run in order, so a read pipelined behind a refused
``subscribe`` finds the room not joined.

Failures: a refusal (``ServiceError``) is answered with its code and nothing changed;
an unreachable Redis or Postgres with 4503; anything else with 4500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
from msgspec import Raw

from hub import metrics
from hub import protocol as p
from hub.auth import TokenError
from hub.expiry import ExpiryWheel
from hub.session import (
    Command,
    DoCall,
    DoChat,
    DoChatHistory,
    DoHistory,
    DoPresence,
    DoPublish,
    DoRefresh,
    DoSubscribe,
    DoUnsubscribe,
    Reply,
    Session,
    error,
)
from hub.unreachable import UNREACHABLE
from rooms.access import JOIN, PUBLISH, Access, authorize
from rooms.codes import ErrorCode, ServiceError
from rooms.directory import Directory
from rooms.names import RoomName
from rooms.node import Node, Subscriber
from rooms.principal import Principal
from rooms.services.base import BroadcastFailed
from rooms.services.chat_wire import HistoryParams, Page, Post, Posted
from rooms.services.dispatch import Dispatcher

log = logging.getLogger(__name__)
_json = msgspec.json.Encoder()


class Peer(Subscriber, Protocol):
    """The connection a command runs for (``hub.connection.HubConnection``): a node
    subscriber that can also be sent replies."""

    session: Session | None
    closing: bool

    def send(self, frame: bytes) -> None: ...


Verify = Callable[[str], Principal]  # a token -> its principal, or TokenError
Confirm = Callable[[Principal], Awaitable[Principal]]  # staff roles vs memberships


class Commands:
    """Everything a command needs from the node; one per hub process."""

    def __init__(self, node: Node, directory: Callable[[], Directory],
                 services: Callable[[], Dispatcher | None], verify: Verify, confirm: Confirm,
                 expiry: ExpiryWheel[Any]) -> None:
        self._node = node
        self._directory = directory
        self._services = services
        self._verify = verify
        self._confirm = confirm
        self._expiry = expiry

    async def run(self, peer: Peer, command: Command) -> None:
        """Run one command and answer it; never raises (but for cancellation)."""
        request_id = getattr(command, "id", None)
        try:
            await self._run(peer, command)
        except ServiceError as exc:  # a refusal by a rule: nothing changed
            metrics.ERRORS.labels(code=str(int(exc.code))).inc()
            state = None if exc.state is None else Raw(_json.encode(exc.state))
            peer.send(p.encode(p.Error(code=int(exc.code), reason=exc.reason, id=request_id,
                                       state=state)))
        except Exception as exc:
            log.warning("command %s failed: %r", type(command).__name__, exc)
            if isinstance(command, DoSubscribe) and peer.session is not None:
                peer.session.subscribe_failed(str(command.room))
            code = ErrorCode.UNAVAILABLE if isinstance(exc, UNREACHABLE) else ErrorCode.INTERNAL
            metrics.ERRORS.labels(code=str(int(code))).inc()
            reason = ("saved, but not broadcast (the broker failed); sending it again with"
                      " the same id does not store it twice, and a chat is broadcast then"
                      if isinstance(exc, BroadcastFailed) else "request failed; nothing changed")
            peer.send(error(code, reason, request_id).frame)

    async def _authorize(self, who: Principal, room: RoomName, action: Access) -> None:
        authorize(who, room, action, await self._directory().org_of(room))

    def _needs(self, services: Dispatcher | None, what: str) -> Dispatcher:
        if services is None:
            raise ServiceError(ErrorCode.UNAVAILABLE, f"{what} Postgres; this node runs"
                               " without it")
        return services

    async def _run(self, peer: Peer, command: Command) -> None:
        session = peer.session
        assert session is not None
        who = session.principal
        node = self._node
        match command:
            case DoSubscribe(room=room):
                try:
                    await self._authorize(who, room, JOIN)
                except ServiceError:
                    session.subscribe_failed(str(room))
                    raise
                member = p.Member(client=who.client_id, user=who.sub, roles=sorted(who.roles),
                                  name=who.name)
                recovered = await node.subscribe(
                    peer, str(room), member, recover=command.recover,
                    presence_events=command.presence_events, request_id=command.id)
                if peer.closing:  # closed while subscribing: undo upstream state
                    await node.unsubscribe(peer, str(room))
                    return
                session.subscribe_done(str(room))
                services = self._services()
                if not recovered and services is not None:
                    await self._snapshots(peer, services, who, room, command.id)
            case DoUnsubscribe(room=room):
                _joined(session, room)
                session.unsubscribe_done(room)
                await node.unsubscribe(peer, room)
                peer.send(p.encode(p.Unsubscribed(room=room, id=command.id)))
            case DoPublish(room=room):
                await self._authorize(who, room, PUBLISH)
                pub = await node.publish(str(room), command.data)
                metrics.PUBLISHED.inc()
                peer.send(p.encode(p.Published(room=pub.room, epoch=pub.epoch,
                                               offset=pub.offset, id=command.id)))
            case DoPresence(room=room):
                _joined(session, room)
                members = await node.presence_snapshot(room)
                peer.send(p.encode(p.PresenceSnapshot(room=room, count=len(members),
                                                      members=members, id=command.id)))
            case DoHistory(room=room):
                _joined(session, room)
                hist = await node.history(room, command.since, command.limit)
                last = hist.publications[-1].offset if hist.publications else command.since
                peer.send(p.encode(p.History(
                    room=room, epoch=hist.epoch, offset=hist.offset,
                    complete=hist.complete and (last >= hist.offset
                                                or len(hist.publications) == command.limit),
                    publications=[p.Publication(x.offset, Raw(x.data))
                                  for x in hist.publications], id=command.id)))
            case DoChat(room=room) | DoChatHistory(room=room):  # shorthands for chat.*
                services = self._needs(self._services(), "chat needs")
                reply: p.ChatSent | p.ChatPage
                if isinstance(command, DoChat):
                    posted: Posted = await services.invoke(
                        who, room, "chat.post", Post(command.text, command.client_msg_id))
                    reply = p.ChatSent(room=str(room), message_id=posted.message_id,
                                       status=posted.status, id=command.id)
                else:
                    page: Page = await services.invoke(
                        who, room, "chat.history", HistoryParams(command.before, command.limit))
                    reply = p.ChatPage(room=str(room), messages=page.messages,
                                       before=page.before, id=command.id)
                peer.send(p.encode(reply))
            case DoCall(room=room):
                services = self._needs(self._services(), "room services need")
                result = await services.call(who, room, command.method, command.params)
                peer.send(p.encode(p.Result(room=str(room), method=command.method,
                                            result=Raw(result), id=command.id)))
            case DoRefresh():
                await self._refresh(peer, session, command)
            case Reply():  # pragma: no cover - replies never reach the inbox
                peer.send(command.frame)

    async def _snapshots(self, peer: Peer, services: Dispatcher, who: Principal,
                         room: RoomName, request_id: int | None) -> None:
        """After a fresh ``subscribed``: each service's state and version.

        Postgres down: the subscription stands (room traffic needs only the broker), and
        the client is told with a 4503 for its subscribe that the state did not come: it
        unsubscribes and subscribes again later for it.
        """
        try:
            snapshots = await services.snapshots(who, room)
        except UNREACHABLE as exc:
            log.warning("subscribed to %s without snapshots: %r", room, exc)
            metrics.ERRORS.labels(code=str(int(ErrorCode.UNAVAILABLE))).inc()
            peer.send(error(ErrorCode.UNAVAILABLE, "subscribed without the room's service"
                            " state; unsubscribe and subscribe again for it", request_id).frame)
            return
        for service, state in snapshots:
            peer.send(p.encode(p.Snapshot(room=str(room), service=service, state=Raw(state))))

    async def _refresh(self, peer: Peer, session: Session, command: DoRefresh) -> None:
        """Swap in a new token for the same sub and org; anything else changes nothing."""
        try:
            new = self._verify(command.token)
        except TokenError as exc:
            raise ServiceError(ErrorCode.TOKEN_REFUSED, exc.reason) from None
        old = session.principal
        if new.sub != old.sub or new.org != old.org or old.event is not None:
            raise ServiceError(ErrorCode.TOKEN_REFUSED,  # an overlay has no token to refresh
                               "token is for another user or organization")
        new = await self._confirm(msgspec.structs.replace(new, client_id=old.client_id))
        if peer.closing:
            return
        session.principal = new
        self._expiry.add(peer, new.exp)
        peer.send(p.encode(p.Refreshed(exp=new.exp, roles=sorted(new.roles), id=command.id)))


def _joined(session: Session, room: str) -> None:
    """Refuse unless the subscription to ``room`` was confirmed (checked when the command
    runs, after every subscribe queued before it has finished or failed).

    Raises:
        ServiceError: NOT_SUBSCRIBED.
    """
    if room not in session.joined:
        raise ServiceError(ErrorCode.NOT_SUBSCRIBED, "not subscribed")

