"""The cyclic garbage collector's policy for a hub process, and its pause metrics.

Why: a hub holding thousands of websockets keeps hundreds of thousands of live,
GC-tracked objects (each connection's protocol, parser, session, buffers, plus the
app's own). CPython's generation-2 collection walks all of them, and it is triggered
by allocation counts, so at 5,000 connections it stalled the event loop for hundreds
of milliseconds in the middle of a fan-out (issue #12). Switching the collector off
removed the stall but let cyclic garbage pile up.

What this does instead (``GcPolicy``), with the collector left on:

- ``gc.freeze()`` after start-up: the app's modules, routes and settings move to the
  permanent generation, which collections never walk.
- after a burst of connections (``HUB_GC_FREEZE_AFTER`` more than at the last freeze,
  and the count steady for one check, so the burst is over): a collection of what is
  not frozen yet (its pause grows with the burst, not with every open connection),
  then ``gc.freeze()`` again. Frozen objects are still freed by reference counting.
- frozen objects in a reference cycle are never collected, and a closed connection
  leaves one (websockets' parser and its last exception, uvloop's transport, the
  upgraded HTTP protocol). So once ``HUB_GC_REFREEZE_AFTER`` connections have closed
  since the last full collection, the policy unfreezes, runs a full collection and
  freezes again: one long pause, taken only after that much churn, never per message.

Every collection is timed through ``gc.callbacks`` into ``hub_gc_pause_seconds``
(a histogram by generation) and ``hub_gc_pause_max_seconds`` (the longest so far), so
a benchmark can read pause counts, totals and maxima per window from ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from hub import metrics

log = logging.getLogger(__name__)


class PauseMeter:
    """Times every collection (``gc.callbacks``) into the hub's Prometheus metrics."""

    def __init__(self) -> None:
        self._started = 0.0
        self._max = [0.0, 0.0, 0.0]
        self._installed = False
        gens = [str(g) for g in range(3)]  # children bound once: the callback only counts
        self._pause = [metrics.GC_PAUSE.labels(generation=g) for g in gens]
        self._collected = [metrics.GC_COLLECTED.labels(generation=g) for g in gens]
        self._longest = [metrics.GC_PAUSE_MAX.labels(generation=g) for g in gens]

    def install(self) -> None:
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True

    def remove(self) -> None:
        if self._installed:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._callback)
            self._installed = False

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collector: no allocation-heavy work, never raise.
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        gen = int(info.get("generation", 2))
        self._pause[gen].observe(pause)
        self._collected[gen].inc(int(info.get("collected", 0)))
        if pause > self._max[gen]:
            self._max[gen] = pause
            self._longest[gen].set(pause)


class GcPolicy:
    """Freezes long-lived objects after start-up and after connection bursts.

    ``connections`` is read on every check (the hub's open-connection count);
    ``check`` runs the policy once and is what the periodic task calls.
    """

    def __init__(self, connections: Callable[[], int], *, freeze_after: int,
                 refreeze_after: int, interval: float, threshold: int = 0) -> None:
        self._connections = connections
        self.threshold = threshold
        self._saved_thresholds: tuple[int, int, int] | None = None
        self.freeze_after = freeze_after
        self.refreeze_after = refreeze_after
        self.interval = interval
        self.meter = PauseMeter()
        self._task: asyncio.Task[None] | None = None
        self._frozen_at = 0  # connections open at the last freeze
        self._last_seen = 0  # connections open at the last check
        self._closed = 0  # connections closed since the last full collection (lower bound)
        self.freezes = 0
        self.full_collections = 0

    def start(self) -> None:
        """Meter pauses, freeze what start-up built, and check every ``interval`` s."""
        self.meter.install()
        if self.threshold > 0:
            self._saved_thresholds = gc.get_threshold()
            gc.set_threshold(self.threshold, *self._saved_thresholds[1:])
        self._freeze(full=True)
        if self.freeze_after > 0 and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop checking and metering; what was frozen goes back to the collector (a hub
        stopped inside a longer-lived process, as in tests, leaves no frozen garbage)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.meter.remove()
        if self._saved_thresholds is not None:
            gc.set_threshold(*self._saved_thresholds)
            self._saved_thresholds = None
        if self.freezes:
            gc.unfreeze()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:  # the policy must never take the hub down
                log.exception("gc policy check failed")

    def check(self) -> str | None:
        """One step of the policy; returns what it did ("freeze", "refreeze") or None."""
        now = self._connections()
        if now < self._last_seen:
            self._closed += self._last_seen - now
        # A burst is over when the count moved by less than a tenth of the freeze step
        # since the last check (churn never holds it exactly still).
        steady = abs(now - self._last_seen) <= self.freeze_after // 10
        self._last_seen = now
        if not steady:
            return None
        if self.refreeze_after > 0 and self._closed >= self.refreeze_after:
            self._freeze(full=True)
            return "refreeze"
        if now - self._frozen_at >= self.freeze_after:
            self._freeze(full=False)
            return "freeze"
        if now < self._frozen_at:
            self._frozen_at = now  # count growth from here, not from a higher mark
        return None

    def _freeze(self, *, full: bool) -> None:
        started = time.perf_counter()
        if full:
            gc.unfreeze()  # frozen cyclic garbage becomes collectable again
            self._closed = 0
            self.full_collections += 1
        found = gc.collect()  # only what is not frozen: young objects and the last burst
        gc.freeze()
        self.freezes += 1
        self._frozen_at = self._last_seen = self._connections()
        frozen = gc.get_freeze_count()
        metrics.GC_FROZEN.set(frozen)
        metrics.GC_FREEZES.labels(kind="full" if full else "burst").inc()
        log.info("gc: froze %d objects (%d connections, %d unreachable found) in %.0f ms%s",
                 frozen, self._frozen_at, found, (time.perf_counter() - started) * 1000,
                 " after a full collection" if full else "")
