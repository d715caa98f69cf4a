"""Room services: the pieces DJs, hosts and fans use (chat, requests, karaoke, tips).

Every change takes one path, whether it came from a websocket frame, the HTTP API, a
verified webhook or an SMS (``rooms.services.dispatch``):

1. authorize (``rooms.access``: the org check and the method's roles);
2. change state in Postgres in the caller's tenant transaction (``Context.tx``);
3. commit;
4. broadcast one encoded room event (``Context.publish``).

State changes carry a per-queue ``version``; a call made against a stale version is
refused with ``STALE_VERSION`` and the current state.

A call may also run inside a transaction its caller already holds (a webhook that
claims its event id and applies the effect atomically): ``Context.unit`` is then set,
``tx`` runs in a savepoint of that transaction, and broadcasts wait until it commits.

A service is a module exposing ``SERVICE: Service``; ``rooms.services`` lists them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from persistence.chat import ChatWriter
from persistence.tenant import Tenant, tenant_tx
from rooms.access import Access
from rooms.directory import Directory
from rooms.node import Node
from rooms.principal import Principal
from rooms.roles import ANYONE, Role
from rooms.services.chat_config import ChatConfig
from rooms.services.tips_config import TipsConfig

_encoder = msgspec.json.Encoder()

Conn = PoolConnectionProxy
Hook = Callable[[str, dict[str, Any]], Awaitable[None]]
Effect = Callable[[], Awaitable[None] | None]


async def _run(effect: Effect) -> None:
    result = effect()
    if result is not None:
        await result


_PUBLISH_RETRIES = (0.1, 0.2, 0.3)  # seconds before each further try


class BroadcastFailed(ConnectionError):
    """A committed change whose broadcast failed every try: it is stored, and nobody saw it
    live. Still a connection error (4503, a webhook's provider redelivers), but its caller
    is told the change was saved, not that nothing changed."""


async def _published(node: Node, room: str, data: bytes) -> None:
    """Broadcast a committed change, trying again when the broker fails.

    Nothing else would: the caller's retry finds the change done and does not publish it
    again (chat's client_msg_id, a webhook's event id), so a broadcast lost here is lost
    silently to every subscriber. The common failure is a pooled connection to a Redis
    that just restarted, which fails once. Should a failed try have reached Redis after
    all, the event goes out twice; each carries its message id or queue version, so
    clients drop the repeat.
    """
    for delay in _PUBLISH_RETRIES:
        try:
            await node.publish(room, data)
            return
        except Exception:  # the broker's own errors
            await asyncio.sleep(delay)
    try:
        await node.publish(room, data)
    except Exception as exc:
        raise BroadcastFailed(f"saved, but not broadcast: {exc!r}") from exc


async def _no_hook(name: str, payload: dict[str, Any]) -> None:
    return None


@dataclass
class Unit:
    """A caller's open transaction that service calls join; effects run after its commit."""

    conn: Conn
    tenant: Tenant
    effects: list[Effect] = field(default_factory=list)
    # False for reads only (the snapshots of a subscribe): calls share the transaction
    # with no savepoint each, since none of them writes anything to roll back.
    savepoints: bool = True

    async def run_effects(self) -> None:
        for effect in self.effects:
            await _run(effect)


@dataclass
class Context:
    """What services get from the hub: the app pool, the node, the room directory, the
    chat writer, outgoing hooks and settings; ``unit`` when joining a caller's transaction."""

    pool: asyncpg.Pool
    node: Node
    directory: Directory
    writer: ChatWriter
    hooks: Mapping[str, Hook] = field(default_factory=dict)
    chat: ChatConfig = field(default_factory=ChatConfig)
    tips: TipsConfig = field(default_factory=TipsConfig)
    unit: Unit | None = None

    def joined(self, unit: Unit | None) -> Context:
        """This context, joining ``unit`` (or on its own when None)."""
        return self if unit is self.unit else replace(self, unit=unit)

    @asynccontextmanager
    async def tx(self, who: Principal) -> AsyncIterator[Conn]:
        """A transaction under ``who``'s tenant claims: a savepoint of the unit's, if any.

        Commits when the block exits normally and rolls back when it raises.
        """
        if self.unit is None:
            async with tenant_tx(self.pool, who.tenant()) as conn:
                yield conn
            return
        if who.tenant() != self.unit.tenant:
            raise RuntimeError(f"a call as {who.tenant()} cannot join {self.unit.tenant}")
        if not self.unit.savepoints:
            yield self.unit.conn
            return
        async with self.unit.conn.transaction():
            yield self.unit.conn

    async def later(self, effect: Effect) -> None:
        """Run ``effect`` once the change is committed: now, or after the unit commits."""
        if self.unit is not None:
            self.unit.effects.append(effect)
        else:
            await _run(effect)

    async def publish(self, room: object, event: msgspec.Struct) -> None:
        """Encode once and broadcast a room event, after the state change committed."""
        data, node = _encoder.encode(event), self.node
        await self.later(lambda: _published(node, str(room), data))

    async def notify(self, hook: str, payload: dict[str, Any]) -> None:
        """Call an outgoing hook (e.g. ``next_up`` -> SMS in integrations) after commit."""
        fn = self.hooks.get(hook, _no_hook)
        await self.later(lambda: fn(hook, payload))


Handler = Callable[[Context, Principal, Any, Any], Awaitable[Any]]
SnapshotFn = Callable[[Context, Principal, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    """One callable method: ``<service>.<name>`` with a msgspec params Struct."""

    name: str
    params: type[msgspec.Struct]
    handler: Handler
    roles: frozenset[Role] = ANYONE
    doc: str = ""
    server_only: bool = False  # e.g. payment confirmation: never from a websocket
    # Whether a ban refuses it (the dispatcher checks). chat.post reads sanctions in its
    # own rules query, mutes too; reading chat history stays open to the banned.
    banned_refused: bool = True

    def access(self, service: str) -> Access:
        return Access(f"{service}.{self.name}", self.roles, self.server_only)


@dataclass(frozen=True)
class Service:
    name: str
    methods: tuple[Method, ...]
    snapshot: SnapshotFn | None = None
    events: tuple[type[msgspec.Struct], ...] = ()  # room events it broadcasts (for docs)
    doc: str = ""
