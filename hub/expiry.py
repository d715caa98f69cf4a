"""When connections' tokens expire: one process-wide sweep instead of a timer each.

Items sit in per-second buckets keyed by their ``exp``. The sweep walks the
seconds that have passed since it last ran, so its cost is the number of items
that fall due, not the number of open connections.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class ExpiryWheel(Generic[T]):
    """Per-second buckets of items; ``due(now)`` pops those whose second has come."""

    __slots__ = ("_buckets", "_cursor", "_where")

    def __init__(self, now: float) -> None:
        self._buckets: dict[int, set[T]] = {}
        self._where: dict[T, int] = {}  # item -> its bucket, to move or drop it in O(1)
        self._cursor = int(now)  # the next second not yet swept

    def __len__(self) -> int:
        return len(self._where)

    def add(self, item: T, at: int) -> None:
        """Schedule ``item`` for second ``at`` (replacing any earlier schedule)."""
        self.discard(item)
        at = max(at, self._cursor)  # already past: due at the next sweep
        self._buckets.setdefault(at, set()).add(item)
        self._where[item] = at

    def discard(self, item: T) -> None:
        at = self._where.pop(item, None)
        if at is not None:
            bucket = self._buckets[at]
            bucket.discard(item)
            if not bucket:
                del self._buckets[at]

    def due(self, now: float) -> list[T]:
        """Remove and return every item scheduled at or before ``now``."""
        out: list[T] = []
        if now < self._cursor:
            return out
        # Walk the passed seconds, or the buckets if fewer (after a stall or clock jump).
        passed = int(now) + 1 - self._cursor
        seconds = (range(self._cursor, int(now) + 1) if passed <= len(self._buckets)
                   else sorted(at for at in self._buckets if at <= now))
        for at in seconds:
            for item in self._buckets.pop(at, ()):
                del self._where[item]
                out.append(item)
        self._cursor = int(now) + 1
        return out
