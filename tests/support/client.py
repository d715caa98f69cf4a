"""A small test client over a real websocket, and the server API over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from hub.auth import mint_token
from tests.support.hubproc import API_KEY, SECRET


def token(org: object, *, sub: str = "user-1", roles: tuple[str, ...] = ("viewer",),
          ttl: int = 3600) -> str:
    return mint_token(SECRET, sub=sub, org=str(org), roles=list(roles), ttl=ttl)


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}
        self._stash: deque[dict[str, Any]] = deque()  # frames call() read past
        self._next_id = 0

    @classmethod
    async def open(cls, ws_url: str, tok: str, **kwargs: Any) -> Client:
        ws = await asyncio.wait_for(
            connect(f"{ws_url}?token={tok}", compression=None, **kwargs), 10)
        client = cls(ws)
        client.welcome = await client.recv("welcome")
        return client

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, type_: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Next frame (skipping presence join/leave unless asked), optionally of one type."""
        while True:
            frame = await self._next(timeout)
            if type_ is None and frame["type"] in {"join", "leave"}:
                continue
            if type_ is None or frame["type"] == type_:
                return frame
            if frame["type"] not in {"join", "leave", "message", "snapshot"}:
                raise AssertionError(f"expected {type_}, got {frame}")

    async def next_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next room ``message`` whose data has ``type == kind``; its data."""
        while True:
            frame = await self.recv("message", timeout)
            data: dict[str, Any] = frame["data"]
            if isinstance(data, dict) and data.get("type") == kind:
                return data

    async def subscribe(self, room: str, **extra: Any) -> dict[str, Any]:
        await self.send({"type": "subscribe", "room": room, **extra})
        return await self.recv("subscribed")

    async def publish(self, room: str, data: Any) -> dict[str, Any]:
        await self.send({"type": "publish", "room": room, "data": data})
        return await self.recv("published")

    async def _next(self, timeout: float) -> dict[str, Any]:
        if self._stash:
            return self._stash.popleft()
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return frame

    async def call(self, room: str, method: str, params: dict[str, Any] | None = None,
                   *, expect_error: bool = False, timeout: float = 10.0) -> dict[str, Any]:
        """Call a room service method; return its ``result`` (or the ``error`` frame).

        Room traffic that arrives before the answer is kept for later ``recv`` calls.
        """
        self._next_id += 1
        await self.send({"type": "call", "room": room, "method": method,
                         "params": params or {}, "id": self._next_id})
        skipped: list[dict[str, Any]] = []
        while True:
            frame: dict[str, Any] = json.loads(
                await asyncio.wait_for(self.ws.recv(), timeout))
            if frame.get("id") != self._next_id or frame["type"] not in {"result", "error"}:
                skipped.append(frame)  # room traffic interleaved with the answer
                continue
            self._stash.extend(skipped)
            if expect_error:
                assert frame["type"] == "error", frame
                return frame
            assert frame["type"] == "result", frame
            result: dict[str, Any] = frame["result"]
            return result

    async def close(self) -> None:
        await self.ws.close()


async def api_call(http_url: str, room: str, method: str,
                   params: dict[str, Any] | None = None) -> httpx.Response:
    """Call a room service method as the server (``POST /api/rooms/{room}/call/{method}``)."""
    async with httpx.AsyncClient(base_url=http_url, timeout=10) as http:
        return await http.post(f"/api/rooms/{room}/call/{method}", json=params or {},
                               headers={"X-API-Key": API_KEY})
