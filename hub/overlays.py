"""Overlay credentials on one node: checked at the handshake, revoked on rotation.

An OBS overlay connects with ``/ws?overlay=<secret>`` instead of a token. The secret
is looked up by its hash in Postgres (``persistence.overlays``); the connection becomes
a :class:`~rooms.principal.Principal` with the single role ``overlay`` and ``event``
set, which ``rooms.access.authorize`` keeps to that event room (watch it, ack its tip
alerts). It has no ``exp``: it lives until the secret is rotated.

Each node caches a valid secret's grant for ``HUB_ROLE_CACHE_TTL`` seconds. A rotation
(``POST /api/events/{id}/overlay``) is announced on :data:`NOTICES`, which every node
listens to: it drops the event's cached grants, remembers the new version as the
event's floor (so a lookup that raced the rotation is refused too), and closes the
event's overlay connections holding an older version (close code 4003). A periodic
re-check against Postgres covers a lost notice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Final

import asyncpg
import msgspec

from persistence import overlays as store
from rooms.broker import Broker
from rooms.principal import Principal
from rooms.roles import OVERLAY

log = logging.getLogger(__name__)

# Not a client room name (rooms.names accepts only org:<uuid> and event:<uuid>).
NOTICES: Final = "_hub:overlays"


class Rotated(msgspec.Struct, frozen=True):
    """An event's overlay secret was rotated: versions below ``version`` are revoked."""

    event: uuid.UUID
    version: int


_notice = msgspec.json.Decoder(Rotated)


class OverlayRefused(Exception):
    """Not a current overlay secret (unknown, malformed, or rotated away)."""


def principal_of(grant: store.OverlayGrant) -> Principal:
    return Principal(sub=f"overlay:{grant.event}", org=grant.org, roles=OVERLAY,
                     claimed=OVERLAY, event=grant.event, version=grant.version)


class Overlays:
    """Overlay secret lookups for one node: cache, revocation floor, cross-node notices."""

    def __init__(self, pool: asyncpg.Pool, broker: Broker, *, ttl: float,
                 on_rotated: Callable[[uuid.UUID, int], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pool = pool
        self._broker = broker
        self._ttl = ttl
        self._on_rotated = on_rotated
        self._clock = clock
        self._cache: dict[bytes, tuple[float, store.OverlayGrant]] = {}  # by secret hash
        self._floor: dict[uuid.UUID, int] = {}  # the newest version announced per event

    async def principal(self, secret: str) -> Principal:
        """The overlay principal ``secret`` stands for now.

        Raises:
            OverlayRefused: no current overlay secret.
        """
        key = store.secret_hash(secret)
        hit = self._cache.get(key)
        if hit is not None and self._clock() - hit[0] <= self._ttl:
            grant: store.OverlayGrant | None = hit[1]
        else:
            self._cache.pop(key, None)
            grant = await store.grant_of(self._pool, secret)
        # Checked after the lookup: a rotation announced while it ran refuses it too.
        if grant is None or grant.version < self._floor.get(grant.event, 0):
            raise OverlayRefused("unknown or rotated overlay credential")
        self._cache.setdefault(key, (self._clock(), grant))
        return principal_of(grant)

    async def current(self, org: uuid.UUID, events: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The current version of each event's overlay secret, from Postgres."""
        return await store.current_versions(self._pool, org, events)

    def forget(self, event: uuid.UUID | None = None, version: int = 0) -> None:
        """Drop cached grants (of ``event`` only, when given) and raise its floor."""
        if event is None:
            self._cache.clear()
            return
        self._floor[event] = max(version, self._floor.get(event, 0))
        for key in [k for k, (_, g) in self._cache.items() if g.event == event]:
            del self._cache[key]

    async def announce(self, event: uuid.UUID, version: int) -> None:
        """Tell every node (this one too) that ``event``'s secret is now ``version``."""
        self.forget(event, version)  # this node at once, even if the broker is down
        try:
            await self._broker.publish(NOTICES, msgspec.json.encode(Rotated(event, version)),
                                       history=False)
        except Exception:  # the periodic re-check closes the others' connections
            log.exception("could not announce the overlay rotation of event %s", event)
            self._on_rotated(event, version)

    def on_notice(self, data: bytes) -> None:
        """Broker handler for :data:`NOTICES`."""
        try:
            notice = _notice.decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed overlay notice")
            return
        self.forget(notice.event, notice.version)
        self._on_rotated(notice.event, notice.version)
