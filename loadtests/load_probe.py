"""A few asyncio listeners beside locust: the hub's delivery latency without locust's CPU.

At 10,000 users the locust workers (websocket-client on gevent, tens of µs of Python per
frame) need more CPU than the hub, and a starved worker reads its sockets late: locust's
latency then measures the load generator's backlog as much as the hub. One listener per
room (up to ``limit``), in the set-up process's own event loop, reads the same stamped
deliveries (``lt:<ns>``) with little work per frame; when its figures stay low while
locust's climb, the backlog is on the client side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

MARK = re.compile(rb"lt:(\d{16,20})")
# The kinds locust times too (stamped by the action that caused the message).
_TIMED = re.compile(rb'"data":\{"type":\s*"(chat|announce|tips\.alert_queued)"')


class Probe:
    """Listeners on ``rooms``; ``samples`` holds (monotonic time, latency ms)."""

    def __init__(self, ws_url: str, rooms: list[tuple[str, str]]) -> None:
        self.ws_url, self.rooms = ws_url, rooms  # (room, token)
        self.samples: list[tuple[float, float]] = []
        self.drops = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(room, token)) for room, token in self.rooms]

    async def _listen(self, room: str, token: str) -> None:
        while True:
            try:
                async with connect(f"{self.ws_url}?token={token}", max_size=None) as ws:
                    await ws.recv()  # welcome
                    await ws.send(json.dumps({"type": "subscribe", "room": room, "id": 1}))
                    async for frame in ws:
                        raw = frame.encode() if isinstance(frame, str) else frame
                        if not _TIMED.search(raw, 0, 200):
                            continue
                        mark = MARK.search(raw)
                        if mark:
                            ms = (time.time_ns() - int(mark.group(1))) / 1e6
                            self.samples.append((time.monotonic(), ms))
            except (OSError, WebSocketException):
                self.drops += 1
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def summary(self, last_s: float) -> dict[str, Any]:
        """p50/p99 over the final ``last_s`` seconds (the hold, as the run ends with it)."""
        if not self.samples:
            return {"listeners": len(self.rooms), "count": 0, "drops": self.drops}
        end = self.samples[-1][0]
        window = sorted(ms for t, ms in self.samples if t >= end - last_s)
        q = (statistics.quantiles(window, n=100, method="inclusive") if len(window) > 1
             else window * 99)
        return {"listeners": len(self.rooms), "count": len(window), "drops": self.drops,
                "p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1),
                "max_ms": round(window[-1], 1)}


def for_plan(plan: dict[str, Any], limit: int = 20) -> Probe:
    """One listener per room, on the org's last fan token (the users take theirs in order)."""
    rooms = [(org["rooms"][0], org["fan_tokens"][-1]) for org in plan["orgs"][:limit]]
    return Probe(plan["ws_url"], rooms)
