"""Staff roles in a token count only when the organization's membership confirms them.

With Postgres, a token's ``performer``, ``dj``, ``moderator`` and ``admin`` roles are
checked against ``memberships``; ``viewer`` needs no row. Without Postgres (a
rooms-only node) the token's roles stand.

Who a token names: a ``sub`` that is a uuid is ``users.id``; any other ``sub`` is
``users.external_id`` (migration 0012). Which membership role confirms which token
role is :data:`CONFIRMS`: owner and admin confirm every staff role, the others only
themselves. A staff token with no row, or a row that confirms none of its staff
roles, acts as a viewer.

Each node caches lookups for ``HUB_ROLE_CACHE_TTL`` seconds. A change through the
back-office API is announced on an internal broker channel every node listens to
(:data:`NOTICES`); each node drops the cached entries and re-checks that user's
open connections, so a demotion takes effect everywhere within a second.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Final

import asyncpg
import msgspec

from persistence.tenant import Tenant, tenant_tx
from rooms.broker import Broker
from rooms.principal import Principal, user_uuid
from rooms.roles import STAFF_ROLES, Role

log = logging.getLogger(__name__)

# Not a client room name (rooms.names accepts only org:<uuid> and event:<uuid>).
NOTICES: Final = "_hub:memberships"

CONFIRMS: Final[dict[str, frozenset[Role]]] = {
    "owner": STAFF_ROLES,
    "admin": STAFF_ROLES,
    "moderator": frozenset({Role.MODERATOR}),
    "dj": frozenset({Role.DJ}),
    "performer": frozenset({Role.PERFORMER}),
    "viewer": frozenset(),
}

_BY_ID = """
SELECT m.role FROM memberships m
WHERE m.organization_id = $1 AND m.user_id = $2
"""
_BY_EXTERNAL_ID = """
SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = $1 AND u.external_id = $2
"""


class Notice(msgspec.Struct, frozen=True):
    """A membership changed: drop cached roles of these subs in this org."""

    org: uuid.UUID
    subs: list[str]


_notice = msgspec.json.Decoder(Notice)


def claims_staff(principal: Principal) -> bool:
    return not principal.claimed.isdisjoint(STAFF_ROLES)


def effective(principal: Principal, membership: str | None) -> Principal:
    """The principal with only the roles ``membership`` confirms (viewer if none)."""
    claimed = principal.claimed
    allowed = CONFIRMS.get(membership or "", frozenset())
    roles = (claimed - STAFF_ROLES) | (claimed & allowed)
    if not roles and claims_staff(principal):
        roles = frozenset({Role.VIEWER})
    return msgspec.structs.replace(principal, roles=roles)


def subs_of(user_id: uuid.UUID, external_id: str | None) -> list[str]:
    """Every ``sub`` that names this user."""
    return [str(user_id)] + ([external_id] if external_id else [])


class Memberships:
    """Membership lookups for one node: cache, invalidation, cross-node notices."""

    def __init__(self, pool: asyncpg.Pool, broker: Broker, *, ttl: float,
                 on_change: Callable[[uuid.UUID, frozenset[str]], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pool = pool
        self._broker = broker
        self._ttl = ttl
        self._on_change = on_change
        self._clock = clock
        self._cache: dict[tuple[uuid.UUID, str], tuple[float, str | None]] = {}
        # Bumped on every invalidation: a lookup that raced one is not trusted.
        self._generation = 0

    def cached(self, principal: Principal) -> Principal | None:
        """The confirmed principal if no query is needed, else None."""
        if not claims_staff(principal):
            return principal
        hit = self._cache.get((principal.org, principal.sub))
        if hit is None or self._clock() - hit[0] > self._ttl:
            return None
        return effective(principal, hit[1])

    async def confirm(self, principal: Principal) -> Principal:
        """The principal with its staff roles confirmed against ``memberships``."""
        ready = self.cached(principal)
        if ready is not None:
            return ready
        key = (principal.org, principal.sub)
        for _ in range(3):
            generation = self._generation
            role = await self._lookup(principal.org, principal.sub)
            if generation == self._generation:
                break  # no change was announced while we read
        else:
            log.warning("memberships of org %s keep changing; using the last read", key[0])
        self._cache[key] = (self._clock(), role)
        return effective(principal, role)

    async def _lookup(self, org: uuid.UUID, sub: str) -> str | None:
        user = user_uuid(sub)
        async with tenant_tx(self._pool, Tenant(org)) as conn:
            if user is not None:
                role: str | None = await conn.fetchval(_BY_ID, org, user)
            else:
                role = await conn.fetchval(_BY_EXTERNAL_ID, org, sub)
        return role

    def forget(self, org: uuid.UUID | None = None, subs: frozenset[str] = frozenset()) -> None:
        """Drop cached entries: these subs in ``org``, or everything when ``org`` is None."""
        self._generation += 1
        if org is None:
            self._cache.clear()
            return
        for sub in subs:
            self._cache.pop((org, sub), None)

    async def announce(self, org: uuid.UUID, subs: list[str]) -> None:
        """Tell every node (this one too) that these subs' membership in ``org`` changed."""
        self.forget(org, frozenset(subs))  # this node at once, even if the broker is down
        try:
            await self._broker.publish(NOTICES, msgspec.json.encode(Notice(org, subs)),
                                       history=False)
        except Exception:  # the periodic re-check heals it within HUB_ROLE_CACHE_TTL
            log.exception("could not announce a membership change in org %s", org)
            self._on_change(org, frozenset(subs))

    def on_notice(self, data: bytes) -> None:
        """Broker handler for :data:`NOTICES`."""
        try:
            notice = _notice.decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed membership notice")
            return
        subs = frozenset(notice.subs)
        self.forget(notice.org, subs)
        self._on_change(notice.org, subs)
