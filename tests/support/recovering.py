"""A room subscriber that survives lost connections by recovering, as a real client does.

Whenever its connection ends (cut by the test, or its hub died) it connects again, to the
URL ``next_url()`` names (the test plays load balancer), and subscribes with its last
``{epoch, offset}``. It records every message it processed, so a test can check the
stream it saw: every offset once, in order, and every recovery ``recovered: true``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CUTS = ("close", "reset", "fin")  # how a test may drop a connection: see cut()


class RecoveringClient:
    """One subscriber to one room, reconnecting and recovering until ``stopping``."""

    def __init__(self, index: int, tok: str, room: str, next_url: Callable[[], str]) -> None:
        self.index = index
        self._token = tok
        self._room = room
        self.next_url = next_url  # a test may swap it: the node to reconnect to
        self.ws: ClientConnection | None = None
        self.url = ""  # of the current (or last) connection
        self.client_id = ""  # the hub's id for the current connection (presence key)
        self.live = False  # the current connection's `subscribed` arrived
        self.epoch = ""
        self.position = 0  # offset of the last message processed
        self.offsets: list[int] = []
        self.data: list[Any] = []
        self.recoveries = 0
        self.subscribed_at: list[float] = []  # monotonic time of each `subscribed`
        self.not_recovered: list[dict[str, Any]] = []
        self.unexpected: list[dict[str, Any]] = []
        self.connect_failures = 0
        self.reconnect_seconds: list[float] = []  # from a cut() to the next `subscribed`
        self._cut_at: float | None = None
        self._cut: ClientConnection | None = None
        self.stopping = False

    async def run(self) -> None:
        while not self.stopping:
            try:
                await self._connection()
            except (ConnectionClosed, OSError, TimeoutError):
                if self.ws is None:  # never opened: the hub refused or did not answer
                    self.connect_failures += 1
                    await asyncio.sleep(0.05)
            finally:
                self.ws, self.live = None, False

    async def _connection(self) -> None:
        self.url = self.next_url()
        ws = await asyncio.wait_for(connect(f"{self.url}?token={self._token}",
                                            compression=None, open_timeout=10), 15)
        self.ws = ws
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        self.client_id = welcome["client"]
        frame: dict[str, Any] = {"type": "subscribe", "room": self._room, "id": 1}
        recovering = bool(self.epoch)
        if recovering:
            frame["recover"] = {"epoch": self.epoch, "offset": self.position}
        await ws.send(json.dumps(frame))
        async for raw in ws:
            self._on(json.loads(raw), recovering)

    def _on(self, frame: dict[str, Any], recovering: bool) -> None:
        kind = frame["type"]
        if kind == "message" and self.live:
            self._take(frame["offset"], frame["data"])
        elif kind == "subscribed" and frame.get("id") == 1 and not self.live:
            self.live = True
            self.subscribed_at.append(time.monotonic())
            if self._cut_at is not None:
                self.reconnect_seconds.append(time.monotonic() - self._cut_at)
                self._cut_at = None
            if not recovering:
                self.epoch, self.position = frame["epoch"], frame["offset"]
                return
            self.recoveries += 1
            if not frame["recovered"] or frame["epoch"] != self.epoch:
                self.not_recovered.append(frame)
                return
            for pub in frame["publications"]:
                self._take(pub["offset"], pub["data"])
            if frame["offset"] != self.position:
                self.unexpected.append({"replay_ends_at": self.position, **frame})
        elif kind == "snapshot" and self.live and not recovering:
            pass  # a fresh subscribe is sent each room service's state
        else:
            self.unexpected.append(frame)  # an error, a reset, a message before subscribed

    def _take(self, offset: int, data: Any) -> None:
        self.offsets.append(offset)
        self.data.append(data)
        self.position = offset

    def cut(self, how: str, closing: set[asyncio.Task[None]]) -> bool:
        """Drop the current connection ``how`` (one of CUTS); False if it has none now."""
        ws = self.ws
        if ws is None or ws is self._cut or ws.transport.is_closing():
            return False
        self._cut = ws  # one cut per connection (a clean close takes a moment)
        self._cut_at = time.monotonic()
        if how == "close":  # a clean close handshake
            task = asyncio.create_task(ws.close())
            closing.add(task)
            task.add_done_callback(closing.discard)
        elif how == "reset":  # RST: the hub sees the socket die, with no close frame
            ws.transport.abort()
        else:  # FIN without a close frame
            ws.transport.close()
        return True

    def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            self.ws.transport.abort()


def tally(got: list[int], expected: list[int]) -> tuple[int, int, int]:
    """(lost, duplicated, out of order) of a client's offsets against the expected ones."""
    lost = len(set(expected) - set(got))
    duplicated = len(got) - len(set(got))
    disorder = sum(1 for a, b in pairwise(got) if b <= a)
    return lost, duplicated, disorder
