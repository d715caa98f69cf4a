"""The running hub: the composition root's live half.

One ``Hub`` per process. It builds every part from the settings and wires them
together: the node (broker, presence), the directory, the room services with their
hooks (SMS from ``integrations``), memberships, the command runner and the open
connections. The Litestar app (``hub.app``) starts and stops it and hands its parts to
routes; nothing below the hub ever sees a ``Hub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import asyncpg

from hub import metrics
from hub import protocol as p
from hub.address_slots import AddressSlots
from hub.auth import verify_token
from hub.commands import Commands
from hub.expiry import ExpiryWheel
from hub.gc_policy import GcPolicy
from hub.memberships import NOTICES, Memberships, claims_staff
from hub.overlays import NOTICES as OVERLAY_NOTICES
from hub.overlays import OverlayRefused, Overlays
from hub.products import parse_hosts
from hub.session import Limits, Session
from hub.settings import Parts, Settings
from integrations import twilio_sms
from persistence.chat import ChatWriter
from persistence.pool import create_app_pool
from rooms.broker import broker_from_url
from rooms.directory import Directory, MemoryDirectory, PgDirectory, RedisDirectory
from rooms.node import Node
from rooms.presence import MemoryPresence, Presence
from rooms.principal import Principal
from rooms.redis_presence import RedisPresence
from rooms.services import SERVICES
from rooms.services.base import Context
from rooms.services.chat_config import ChatConfig
from rooms.services.dispatch import Dispatcher
from rooms.services.tips_sweep import sweep as sweep_tip_alerts

log = logging.getLogger(__name__)


class OpenConnection(Protocol):
    """What the hub's sweeps need of an open connection: a websocket
    (``hub.connection``) or an event stream (``hub.sse``)."""

    @property
    def session(self) -> Session | None: ...
    @property
    def closing(self) -> bool: ...
    @property
    def last_seen(self) -> float: ...
    def send(self, frame: bytes) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def ping(self) -> None: ...
    def idle_timeout(self) -> None: ...
    def token_expired(self) -> None: ...
    def shutdown(self) -> None: ...


class Hub:
    def __init__(self, settings: Settings, parts: Parts | None = None) -> None:
        self.settings = settings
        self.parts = parts or Parts()
        self.products = parse_hosts(settings.product_hosts)  # host -> product (hub.products)
        s = settings
        broker = broker_from_url(s.redis_target, prefix=s.redis_prefix,
                                 history_size=s.history_size, history_ttl=s.history_ttl)
        presence: Presence
        self.directory: Directory
        if s.redis_url:
            presence = RedisPresence(s.redis_target, prefix=s.redis_prefix, ttl=s.presence_ttl)
            self.directory = RedisDirectory(s.redis_target, prefix=s.redis_prefix)
        else:
            presence = MemoryPresence(ttl=s.presence_ttl)
            self.directory = MemoryDirectory()
        self.node = Node(broker, presence, node_id=s.node_id, recovery_limit=s.history_size,
                         on_fanout=metrics.MESSAGES_OUT.inc,
                         on_publish=metrics.BROKER_LATENCY.observe)
        self.limits = Limits(max_publish_bytes=s.max_publish_bytes, publish_rate=s.publish_rate,
                             publish_burst=s.publish_burst, history_limit=s.history_size,
                             max_chat_chars=s.max_chat_chars, read_rate=s.read_rate,
                             read_burst=s.read_burst, max_json_depth=s.max_json_depth)
        self.db: asyncpg.Pool | None = None
        self._chat_writer: ChatWriter | None = None
        self.services: Dispatcher | None = None
        self.connections: set[OpenConnection] = set()
        self.addresses = AddressSlots(s.max_connections_per_address)
        self.expiry: ExpiryWheel[OpenConnection] = ExpiryWheel(time.time())
        self.memberships: Memberships | None = None  # with Postgres: staff need a row
        self.overlays: Overlays | None = None  # with Postgres: OBS overlay credentials
        # Directory and services are looked up per command: start() replaces them.
        self.commands = Commands(self.node, lambda: self.directory, lambda: self.services,
                                 self.verify, self.confirmed, self.expiry)
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._rechecks: set[asyncio.Task[None]] = set()
        self.gc = GcPolicy(lambda: len(self.connections), freeze_after=s.gc_freeze_after,
                           refreeze_after=s.gc_refreeze_after, interval=s.gc_check_interval,
                           threshold=s.gc_threshold)

    async def start(self) -> None:
        if self.settings.database_url:
            self.db = await create_app_pool(
                self.settings.database_url,
                app_database_url=self.settings.app_database_url or None, max_size=10,
                command_timeout=self.settings.pg_timeout, timeout=self.settings.pg_timeout)
            self._chat_writer = ChatWriter(self.db)
            await self.directory.close()
            self.directory = PgDirectory(self.db)
            hooks = {"next_up": twilio_sms.next_up_hook(self.db, self.parts.twilio)}
            chat = ChatConfig(max_chars=self.settings.max_chat_chars,
                              user_burst=self.settings.chat_user_burst)
            self.services = Dispatcher(Context(
                self.db, self.node, self.directory, self._chat_writer, hooks, chat,
                self.parts.tips), SERVICES)
            self.memberships = Memberships(
                self.db, self.node.broker, ttl=self.settings.role_cache_ttl,
                on_change=self._roles_changed)
            self.overlays = Overlays(self.db, self.node.broker, ttl=self.settings.role_cache_ttl,
                                     on_rotated=self._overlay_rotated)
        await self.node.start()
        self._tasks = [
            asyncio.create_task(self._every(self.settings.ping_interval / 2, self._keepalive)),
            asyncio.create_task(self._every(self.settings.presence_ttl / 3,
                                            self.node.refresh_presence)),
            asyncio.create_task(self._every(0.25, self._expire)),
        ]
        if self.services is not None:  # tip alerts whose timer died with another node
            ctx = self.services.ctx
            self._tasks.append(asyncio.create_task(self._every(
                ctx.tips.sweep_ms / 1000, lambda: sweep_tip_alerts(ctx))))
        if self.memberships is not None:
            await self.node.listen(NOTICES, self.memberships.on_notice)
            self._tasks.append(asyncio.create_task(
                self._every(max(self.settings.role_cache_ttl, 1.0), self._recheck_roles)))
        if self.overlays is not None:
            await self.node.listen(OVERLAY_NOTICES, self.overlays.on_notice)
            self._tasks.append(asyncio.create_task(
                self._every(max(self.settings.role_cache_ttl, 1.0), self._recheck_overlays)))
        if self.settings.gc_freeze:  # last: everything start-up built is frozen with the app
            self.gc.start()
        else:
            self.gc.meter.install()

    async def stop(self) -> None:
        await self.gc.stop()
        self.draining = True
        for conn in list(self.connections):
            conn.shutdown()
        for task in [*self._tasks, *self._rechecks]:
            task.cancel()
        for task in [*self._tasks, *self._rechecks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.node.close()
        await self.directory.close()
        if self._chat_writer is not None:
            await self._chat_writer.close()
        if self.db is not None:
            await self.db.close()

    async def _every(self, seconds: float, fn: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("periodic task failed")

    def _keepalive(self) -> None:
        """Ping quiet connections; close those silent past the idle timeout.

        One timer for the whole process instead of one per connection keeps
        per-connection memory down.
        """
        now = time.monotonic()
        ping_after = self.settings.ping_interval
        dead_after = ping_after + self.settings.ping_timeout
        for conn in list(self.connections):
            idle = now - conn.last_seen
            if idle > dead_after:
                conn.idle_timeout()
            elif idle > ping_after:
                conn.ping()

    def _expire(self) -> None:
        """Close connections whose token's ``exp`` passed without a ``refresh``."""
        for conn in self.expiry.due(time.time()):
            conn.token_expired()

    def _roles_changed(self, org: uuid.UUID, subs: frozenset[str]) -> None:
        """A membership notice: re-check that user's open connections on this node."""
        task = asyncio.get_running_loop().create_task(
            self._reconfirm(lambda who: who.org == org and who.sub in subs))
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def _recheck_roles(self) -> None:
        """Periodically re-check every staff connection, in case a notice was lost."""
        if self.memberships is not None:
            self.memberships.forget()
            await self._reconfirm(claims_staff)

    async def _reconfirm(self, match: Callable[[Principal], bool]) -> None:
        roles = self.memberships
        if roles is None:
            return
        for conn in [c for c in self.connections
                     if c.session is not None and match(c.session.principal)]:
            session = conn.session
            if session is None:
                continue
            before = session.principal
            try:
                after = await roles.confirm(before)
            except Exception:
                log.exception("could not re-check the roles of %s", before.sub)
                continue
            if conn.closing or session.principal is not before:
                continue  # closed, or a refresh replaced the principal meanwhile
            session.principal = after
            if after.roles != before.roles:
                conn.send(p.encode(p.RolesChanged(roles=sorted(after.roles))))

    def _overlay_rotated(self, event: uuid.UUID, version: int) -> None:
        """An overlay secret was rotated: close its older connections on this node."""
        self._close_overlays(lambda who: who.event == event and who.version < version)

    def _close_overlays(self, revoked: Callable[[Principal], bool]) -> None:
        for conn in list(self.connections):
            if conn.session is not None and revoked(conn.session.principal):
                conn.close(p.CloseCode.OVERLAY_ROTATED, "overlay secret rotated")

    async def _recheck_overlays(self) -> None:
        """Periodically compare open overlay connections with Postgres (a lost notice)."""
        if self.overlays is None:
            return
        self.overlays.forget()
        held: dict[uuid.UUID, set[uuid.UUID]] = {}
        for conn in self.connections:
            who = None if conn.session is None else conn.session.principal
            if who is not None and who.event is not None:
                held.setdefault(who.org, set()).add(who.event)
        for org, events in held.items():
            current = await self.overlays.current(org, list(events))

            def stale(who: Principal, org: uuid.UUID = org,
                      current: dict[uuid.UUID, int] = current) -> bool:
                # Older than the current version, or the secret is gone (older by definition).
                return (who.org == org and who.event is not None
                        and who.version < current.get(who.event, who.version + 1))

            self._close_overlays(stale)

    async def overlay(self, secret: str) -> Principal:
        """The principal of an overlay secret (``/ws?overlay=``), if it is current.

        Raises:
            hub.overlays.OverlayRefused: unknown, rotated, or no Postgres on this node.
        """
        if self.overlays is None:
            raise OverlayRefused("overlay credentials need Postgres")
        return await self.overlays.principal(secret)

    def verify(self, token: str) -> Principal:
        """The principal a connection token names (roles as claimed, not yet confirmed).

        Raises:
            hub.auth.TokenError: forged, expired, or living too long.
        """
        return verify_token(self.settings.secret, token, max_ttl=self.settings.max_token_ttl)

    async def confirmed(self, principal: Principal) -> Principal:
        """``principal`` with its staff roles confirmed by memberships (with Postgres)."""
        if self.memberships is None:
            return principal
        return await self.memberships.confirm(principal)

    def gauges(self) -> None:
        metrics.CONNECTIONS.set(len(self.connections))
        metrics.SUBSCRIPTIONS.set(self.node.subscription_count())
        metrics.ROOMS.set(self.node.room_count())
