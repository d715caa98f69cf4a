"""Guest links: settings and the per-address limit on minting guest tokens.

* ``HUB_GUEST_TOKEN_TTL`` (seconds, default 7200): a guest token's lifetime (capped by
  ``HUB_MAX_TOKEN_TTL``).
* ``HUB_GUEST_TOKENS_PER_MINUTE`` (default 10): guest tokens one client address may mint
  per minute (a token bucket with that burst); past it, 429 with ``Retry-After``.

The limit is per process: behind N nodes an address gets up to N times as many.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Annotated, ClassVar

import msgspec

from hub.session import TokenBucket

_MAX_ADDRESSES = 10_000  # idle buckets are dropped past this many addresses


class GuestConfig(msgspec.Struct, frozen=True, kw_only=True):
    ENV: ClassVar[Mapping[str, str]] = {"ttl": "HUB_GUEST_TOKEN_TTL",
                                        "per_minute": "HUB_GUEST_TOKENS_PER_MINUTE"}

    ttl: Annotated[int, msgspec.Meta(ge=60)] = 7200
    per_minute: Annotated[int, msgspec.Meta(ge=1)] = 10


class GuestLimiter:
    """One token bucket per client address."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst, self._clock = per_minute / 60.0, per_minute, clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, address: str) -> int:
        """0 when ``address`` may mint now, else the seconds to wait (for Retry-After)."""
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= _MAX_ADDRESSES:
                self._buckets.clear()  # a flood of addresses: forget, rather than grow
            bucket = self._buckets[address] = TokenBucket(self._rate, self._burst, self._clock)
        return 0 if bucket.take() else max(1, math.ceil(bucket.wait()))
