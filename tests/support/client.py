"""A small test client over a real websocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from hub.auth import mint_token
from tests.support.hubproc import SECRET


def token(org: object, *, sub: str = "user-1", roles: tuple[str, ...] = ("viewer",),
          ttl: int = 3600) -> str:
    return mint_token(SECRET, sub=sub, org=str(org), roles=list(roles), ttl=ttl)


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def open(cls, ws_url: str, tok: str, **kwargs: Any) -> Client:
        ws = await asyncio.wait_for(
            connect(f"{ws_url}?token={tok}", compression=None, **kwargs), 10)
        client = cls(ws)
        client.welcome = await client.recv("welcome")
        return client

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, type_: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """Next frame (skipping presence join/leave unless asked), optionally of one type."""
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            frame: dict[str, Any] = json.loads(raw)
            if type_ is None and frame["type"] in {"join", "leave"}:
                continue
            if type_ is None or frame["type"] == type_:
                return frame
            if frame["type"] not in {"join", "leave", "message"}:
                raise AssertionError(f"expected {type_}, got {frame}")

    async def subscribe(self, room: str, **extra: Any) -> dict[str, Any]:
        await self.send({"type": "subscribe", "room": room, **extra})
        return await self.recv("subscribed")

    async def publish(self, room: str, data: Any) -> dict[str, Any]:
        await self.send({"type": "publish", "room": room, "data": data})
        return await self.recv("published")

    async def close(self) -> None:
        await self.ws.close()
