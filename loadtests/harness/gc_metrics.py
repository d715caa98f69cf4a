"""A hub's cyclic-GC pauses over a window, from two readings of its ``/metrics``.

The hub times every collection (``hub.gc_policy``) into ``hub_gc_pause_seconds``
(a histogram by generation) and ``hub_gc_pause_max_seconds`` (the longest so far).
Counts and totals of a window are exact differences. Its longest pause is exact when
the window set a new record; otherwise it is the upper bound of the smallest bucket
holding every pause of the window (never above the record), marked as a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

GENERATIONS = ("0", "1", "2")


@dataclass
class GcReading:
    count: dict[str, float] = field(default_factory=dict)  # per generation
    total_s: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)  # le -> cumulative
    max_s: dict[str, float] = field(default_factory=dict)
    frozen: float = 0.0
    freezes: dict[str, float] = field(default_factory=dict)  # kind -> count

    @property
    def metered(self) -> bool:
        """Whether the hub times its collections (an older tree may not)."""
        return bool(self.count)


def parse(text: str) -> GcReading:
    r = GcReading()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            gen = s.labels.get("generation", "")
            if s.name == "hub_gc_pause_seconds_count":
                r.count[gen] = s.value
            elif s.name == "hub_gc_pause_seconds_sum":
                r.total_s[gen] = s.value
            elif s.name == "hub_gc_pause_seconds_bucket":
                r.buckets.setdefault(gen, {})[float(s.labels["le"])] = s.value
            elif s.name == "hub_gc_pause_max_seconds":
                r.max_s[gen] = s.value
            elif s.name == "hub_gc_frozen_objects":
                r.frozen = s.value
            elif s.name == "hub_gc_freezes_total":
                r.freezes[s.labels.get("kind", "")] = s.value
    return r


async def http_get(port: int, path: str, wait_s: float = 5.0) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), wait_s)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        raw = await asyncio.wait_for(reader.read(), wait_s)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"GET {path}: {head[:80]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return body.decode()


def _unchunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


async def read(port: int) -> GcReading:
    return parse(await http_get(port, "/metrics"))


def window(a: GcReading, b: GcReading) -> dict[str, dict[str, float | bool]]:
    """Per generation: ``count``, ``total_ms``, ``max_ms`` and ``max_exact`` over a..b;
    plus ``freezes`` (policy freezes in the window) under the key ``policy``. Empty when
    the hub does not time its collections."""
    out: dict[str, dict[str, float | bool]] = {}
    if not (a.metered and b.metered):
        return out
    for gen in GENERATIONS:
        count = b.count.get(gen, 0.0) - a.count.get(gen, 0.0)
        total = b.total_s.get(gen, 0.0) - a.total_s.get(gen, 0.0)
        record_a, record_b = a.max_s.get(gen, 0.0), b.max_s.get(gen, 0.0)
        if record_b > record_a:
            longest, exact = record_b, True
        else:
            # The smallest bucket that holds every pause of the window bounds the longest.
            holds_all = [le for le, n in b.buckets.get(gen, {}).items()
                         if n - a.buckets.get(gen, {}).get(le, 0.0) >= count]
            longest = min(min(holds_all, default=record_b), record_b) if count else 0.0
            exact = not count
        out[gen] = {"count": count, "total_ms": total * 1000, "max_ms": longest * 1000,
                    "max_exact": exact}
    out["policy"] = {"freezes": sum(b.freezes.values()) - sum(a.freezes.values()),
                     "frozen_objects": b.frozen}
    return out
