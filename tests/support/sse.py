"""A Server-Sent Events reader over httpx, parsing as EventSource does (hub.sse)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx


class Event:
    """One dispatched event: its type, data (parsed JSON) and the last event id then."""

    def __init__(self, event: str, data: str, last_id: str) -> None:
        self.event = event
        self.raw = data
        self.data: Any = json.loads(data)
        self.last_id = last_id

    def __repr__(self) -> str:
        return f"Event({self.event!r}, {self.raw[:120]!r}, id={self.last_id!r})"


class SseReader:
    """Events from a streaming response, by the rules of the HTML standard's parser:
    ``id`` sets the last event id even on a block with no data, ``retry`` sets the
    reconnection time, comment lines are kept (for heartbeat checks)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.last_id = ""
        self.retry: int | None = None
        self.comments: list[str] = []

    async def next(self, timeout: float = 10.0, *, marks: bool = False) -> Event:
        """The next dispatched event; StopAsyncIteration when the stream ends. With
        ``marks``, a block that only moves the last event id comes back too, as an
        event named ``""`` (EventSource dispatches nothing for it)."""
        return await asyncio.wait_for(self._next(marks), timeout)

    async def _next(self, marks: bool) -> Event:
        event, data, moved = "", [], False
        async for line in self._lines:
            if line == "":
                if data:
                    return Event(event or "message", "\n".join(data), self.last_id)
                if marks and moved:
                    return Event("", "null", self.last_id)
                event, moved = "", False
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id" and "\0" not in value:
                self.last_id, moved = value, True
            elif name == "retry" and value.isdigit():
                self.retry = int(value)
        raise StopAsyncIteration

    async def expect(self, event: str, timeout: float = 10.0) -> Event:
        got = await self.next(timeout)
        assert got.event == event, got
        return got

    async def messages(self, n: int, timeout: float = 10.0) -> list[Event]:
        """The next ``n`` events, all of which must be messages."""
        return [await self.expect("message", timeout) for _ in range(n)]

    async def opening(self) -> tuple[Event, list[Event]]:
        """``subscribed`` and the snapshots after it (none when it recovered)."""
        subscribed = await self.expect("subscribed")
        snapshots = []
        if not subscribed.data["recovered"]:  # then snapshots, then the position
            while (got := await self.next(marks=True)).event == "snapshot":
                snapshots.append(got)
            assert got.event == "", got
            assert got.last_id == f"{subscribed.data['epoch']}:{subscribed.data['offset']}"
        return subscribed, snapshots

    async def recovered(self) -> tuple[Event, list[Event]]:
        """``subscribed`` with ``recovered: true``, the replayed messages, and the
        position after them (the room's offset named in ``subscribed``)."""
        subscribed = await self.expect("subscribed")
        assert subscribed.data["recovered"] is True, subscribed
        replayed = []
        while (got := await self.next(marks=True)).event == "message":
            replayed.append(got)
        assert got.event == "", got
        assert got.last_id == f"{subscribed.data['epoch']}:{subscribed.data['offset']}"
        return subscribed, replayed

    async def rest(self, timeout: float = 10.0) -> list[Event]:
        """Every event until the hub ends the stream."""
        out = []
        while True:
            try:
                out.append(await self.next(timeout))
            except StopAsyncIteration:
                return out


@asynccontextmanager
async def sse(base_url: str, room: str, *, token: str | None = None,
              overlay: str | None = None, last_event_id: str | None = None,
              headers: dict[str, str] | None = None,
              params: dict[str, str] | None = None) -> AsyncIterator[SseReader]:
    """An open stream on ``/sse/rooms/{room}``; its status is asserted 200."""
    query = dict(params or {})
    if token is not None:
        query["token"] = token
    if overlay is not None:
        query["overlay"] = overlay
    sent = dict(headers or {})
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None)) as http:
        async with http.stream("GET", f"/sse/rooms/{room}", params=query,
                               headers=sent) as response:
            if response.status_code != 200:
                await response.aread()
                raise AssertionError(f"{response.status_code}: {response.text}")
            yield SseReader(response)


async def refusal(base_url: str, room: str, **params: str) -> httpx.Response:
    """The answer to a stream request that is expected to be refused (read in full)."""
    headers = {}
    if "authorization" in params:
        headers["Authorization"] = params.pop("authorization")
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        return await http.get(f"/sse/rooms/{room}", params=params, headers=headers)
