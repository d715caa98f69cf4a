"""The one way into the room services: look up, authorize, validate, run.

``invoke`` takes and returns Structs (in-process callers: webhooks, SMS agents, the
command runner); ``call`` wraps it for JSON bytes (websocket ``call`` frames, the HTTP
API). Both authorize with ``rooms.access`` against the room's owner from the directory,
so no caller can skip the org check. ``unit`` opens a transaction that calls can join:
a webhook claims its event id and applies the effect in it, and the broadcasts go out
only after it commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from persistence.tenant import tenant_tx
from rooms import sanctions
from rooms.access import JOIN, authorize
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomName
from rooms.principal import Principal
from rooms.roles import STAFF
from rooms.services.base import Context, Method, Service, Unit

_encoder = msgspec.json.Encoder()


class Dispatcher:
    def __init__(self, ctx: Context, services: Iterable[Service]) -> None:
        self.ctx = ctx
        self.services = tuple(services)
        self._methods: dict[str, tuple[Service, Method]] = {
            f"{s.name}.{m.name}": (s, m) for s in self.services for m in s.methods}

    def method(self, name: str) -> Method | None:
        found = self._methods.get(name)
        return None if found is None else found[1]

    async def invoke(self, who: Principal, room: RoomName, method: str, params: Any, *,
                     unit: Unit | None = None) -> Any:
        """Run one method with a params Struct; return its result Struct.

        Raises:
            ServiceError: unknown room or method, forbidden, banned, or the service's
                own refusal. Nothing changed.
        """
        ctx = self.ctx.joined(unit)
        m = await self._admit(ctx, who, room, method)
        if not isinstance(params, m.params):
            raise TypeError(f"{method} takes {m.params.__name__}, not {type(params).__name__}")
        return await m.handler(ctx, who, room, params)

    async def call(self, who: Principal, room: RoomName, method: str, params: bytes) -> bytes:
        """``invoke`` for JSON: the params decoded after the caller is admitted, the result
        encoded.

        Raises:
            ServiceError: as ``invoke``, or INVALID_FIELD for params that do not decode.
        """
        m = await self._admit(self.ctx, who, room, method)
        try:
            args = msgspec.json.decode(params, type=m.params)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ServiceError(ErrorCode.INVALID_FIELD, _short(str(exc))) from None
        return _encoder.encode(await m.handler(self.ctx, who, room, args))

    async def _admit(self, ctx: Context, who: Principal, room: RoomName,
                     method: str) -> Method:
        """Authorize ``who`` for ``method`` in ``room``: org, roles, then bans."""
        owner = await ctx.directory.org_of(room)
        found = self._methods.get(method)
        if found is None:
            authorize(who, room, JOIN, owner)  # another org's room answers as such first
            raise ServiceError(ErrorCode.UNKNOWN_METHOD, f"no method {method!r}")
        service, m = found
        authorize(who, room, m.access(service.name), owner)
        if m.banned_refused and not (who.is_server or who.has(STAFF)):
            async with ctx.tx(who) as conn:
                if await sanctions.banned(conn, who.sub):
                    raise ServiceError(ErrorCode.REFUSED, "you are banned in this organization")
        return m

    @asynccontextmanager
    async def unit(self, who: Principal) -> AsyncIterator[Unit]:
        """A transaction under ``who``'s claims for ``invoke(..., unit=...)`` calls to join.

        Commits when the block exits normally, then runs the calls' effects (broadcasts,
        hooks); rolls back and runs none when it raises.
        """
        tenant = who.tenant()
        async with tenant_tx(self.ctx.pool, tenant) as conn:
            unit = Unit(conn, tenant)
            yield unit
        await unit.run_effects()

    async def snapshots(self, who: Principal, room: RoomName) -> list[tuple[str, bytes]]:
        """Every service's state for the room, encoded.

        One transaction (one pooled connection) for all of them: a burst of subscribes
        otherwise takes a connection per service each, and queues on the pool.
        """
        out = []
        tenant = who.tenant()
        async with tenant_tx(self.ctx.pool, tenant) as conn:
            unit = Unit(conn, tenant, savepoints=False)
            ctx = self.ctx.joined(unit)
            for service in self.services:
                if service.snapshot is not None:
                    state = await service.snapshot(ctx, who, room)
                    if state is not None:
                        out.append((service.name, _encoder.encode(state)))
        await unit.run_effects()
        return out


def _short(reason: str, limit: int = 160) -> str:
    """msgspec's reason names the field it refused, which the client chose: cap its size."""
    return reason if len(reason) <= limit else reason[:limit - 1] + "…"
