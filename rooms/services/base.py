"""Room services: the pieces DJs, hosts and fans use (requests, karaoke, tips, moderation).

Every service follows one path, whether the call came from a websocket frame
(``call``), the HTTP API or a verified webhook: authorize, change state in
Postgres under the caller's org (``tenant_tx``), commit, then broadcast one
encoded room event. State changes carry a per-queue ``version``; a call made
against a stale version is refused with ``STALE_VERSION`` and the current state.

A service is a module exposing ``SERVICE: Service``; ``rooms.services`` lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from hub.auth import Role
from hub.protocol import ErrorCode
from persistence.tenant import Principal as DbPrincipal
from rooms.names import RoomName
from rooms.node import Node

_encoder = msgspec.json.Encoder()

STAFF: frozenset[Role] = frozenset({Role.DJ, Role.MODERATOR, Role.ADMIN})
HOSTS: frozenset[Role] = frozenset({Role.DJ, Role.PERFORMER, Role.MODERATOR, Role.ADMIN})
ANYONE: frozenset[Role] = frozenset(Role)
_RANK = (Role.ADMIN, Role.MODERATOR, Role.DJ, Role.PERFORMER, Role.VIEWER)


@dataclass(frozen=True)
class Caller:
    """Who is calling: from a verified token, or the server itself (webhooks, API)."""

    sub: str
    org: uuid.UUID
    roles: frozenset[Role]
    client_id: str = ""
    is_server: bool = False  # the hub itself: HTTP API with the API key, verified webhooks

    def db(self) -> DbPrincipal:
        """The tenant context for Postgres (the user claim is set only for uuid subs)."""
        try:
            user: uuid.UUID | None = uuid.UUID(self.sub)
        except ValueError:
            user = None
        role = next((r for r in _RANK if r in self.roles), "")
        return DbPrincipal(self.org, user, str(role))

    def has(self, roles: frozenset[Role]) -> bool:
        return not self.roles.isdisjoint(roles)

    @classmethod
    def server(cls, org: uuid.UUID) -> Caller:
        return cls(sub="server", org=org, roles=frozenset({Role.ADMIN}), is_server=True)


Hook = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _no_hook(name: str, payload: dict[str, Any]) -> None:
    return None


@dataclass
class Context:
    """What services get from the hub: the app pool, the node, and outgoing hooks."""

    pool: asyncpg.Pool
    node: Node
    hooks: dict[str, Hook] = field(default_factory=dict)

    async def publish(self, room: RoomName | str, event: msgspec.Struct) -> None:
        """Encode once and broadcast a room event (after the state change committed)."""
        await self.node.publish(str(room), _encoder.encode(event))

    async def notify(self, hook: str, payload: dict[str, Any]) -> None:
        """Call an outgoing hook (e.g. ``next_up`` -> SMS in integrations)."""
        await self.hooks.get(hook, _no_hook)(hook, payload)


class ServiceError(Exception):
    """A refused call. ``state`` (any Struct) is sent back, e.g. the current queue."""

    def __init__(self, code: ErrorCode, reason: str, state: Any = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.state = state


Handler = Callable[[Context, Caller, RoomName, Any], Awaitable[Any]]
SnapshotFn = Callable[[Context, Caller, RoomName], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    """One callable method: ``<service>.<name>`` with a msgspec params Struct."""

    name: str
    params: type[msgspec.Struct]
    handler: Handler
    roles: frozenset[Role] = ANYONE
    doc: str = ""
    server_only: bool = False  # e.g. payment confirmation: never from a websocket


@dataclass(frozen=True)
class Service:
    name: str
    methods: tuple[Method, ...]
    snapshot: SnapshotFn | None = None
    events: tuple[type[msgspec.Struct], ...] = ()  # room events it broadcasts (for docs)
    doc: str = ""
