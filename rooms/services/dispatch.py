"""Route ``call`` frames to service methods: look up, authorize, validate, run, encode."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from hub.protocol import ErrorCode
from persistence.tenant import tenant_tx
from rooms.names import RoomName
from rooms.services.base import STAFF, Caller, Context, Method, Service, ServiceError

_encoder = msgspec.json.Encoder()


class Dispatcher:
    def __init__(self, ctx: Context, services: Iterable[Service]) -> None:
        self.ctx = ctx
        self.services = tuple(services)
        self.methods: dict[str, Method] = {
            f"{s.name}.{m.name}": m for s in self.services for m in s.methods}

    async def call(self, caller: Caller, room: RoomName, method: str, params: bytes) -> bytes:
        """Run one method; return its encoded result.

        Raises:
            ServiceError: unknown method, forbidden, invalid params, or the service's own.
        """
        m = self.methods.get(method)
        if m is None:
            raise ServiceError(ErrorCode.UNKNOWN_METHOD, f"no method {method!r}")
        if m.server_only and not caller.is_server:
            raise ServiceError(ErrorCode.FORBIDDEN, f"{method} is called by the server only")
        if not caller.has(m.roles):
            raise ServiceError(ErrorCode.FORBIDDEN, f"{method} needs one of the roles "
                               f"{', '.join(sorted(m.roles))}")
        if not caller.is_server and not caller.has(STAFF) and await self._banned(caller):
            raise ServiceError(ErrorCode.REFUSED, "you are banned in this organization")
        try:
            args = msgspec.json.decode(params, type=m.params)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ServiceError(ErrorCode.INVALID_FIELD, _short(str(exc))) from None
        return _encoder.encode(await m.handler(self.ctx, caller, room, args))

    async def _banned(self, caller: Caller) -> bool:
        async with tenant_tx(self.ctx.pool, caller.db()) as conn:
            banned: bool = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM chat_sanctions WHERE organization_id ="
                " app_org_id() AND user_sub = $1 AND kind = 'ban' AND until > now())",
                caller.sub)
        return banned

    async def snapshots(self, caller: Caller, room: RoomName) -> list[tuple[str, bytes]]:
        """Every service's state for the room, encoded."""
        out = []
        for service in self.services:
            if service.snapshot is not None:
                state = await service.snapshot(self.ctx, caller, room)
                if state is not None:
                    out.append((service.name, _encoder.encode(state)))
        return out


def _short(reason: str, limit: int = 160) -> str:
    """msgspec's reason names the field it refused, which the client chose: cap its size."""
    return reason if len(reason) <= limit else reason[:limit - 1] + "…"
