"""Connection tokens (HS256 JWT) and the publish permission matrix.

A token carries ``sub`` (user id), ``org`` (organization uuid), ``roles``,
``exp`` and usually ``iat``. Only HS256 is accepted, so ``alg=none`` and RS/HS
confusion fail. A token may live at most ``max_ttl`` seconds (``HUB_MAX_TOKEN_TTL``):
``exp - iat``, or ``exp - now`` when ``iat`` is absent, so a leaked year-3000 token
is worthless.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from typing import Final

import jwt
import msgspec

from rooms.names import RoomKind

ALGORITHM: Final = "HS256"
DEFAULT_MAX_TTL: Final = 24 * 3600

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    VIEWER = "viewer"
    PERFORMER = "performer"
    DJ = "dj"
    MODERATOR = "moderator"
    ADMIN = "admin"


# Roles that need a membership row to count when Postgres is present (hub.roles).
STAFF_ROLES: Final = frozenset({Role.PERFORMER, Role.DJ, Role.MODERATOR, Role.ADMIN})


class Principal(msgspec.Struct, frozen=True):
    """Who is on the other end of a connection, from a verified token.

    ``roles`` are the roles in effect; ``claimed`` the ones the token names. They
    differ once memberships have been consulted (``hub.roles``).
    """

    sub: str
    org: uuid.UUID
    roles: frozenset[Role]
    exp: int
    claimed: frozenset[Role] = frozenset()


class TokenError(Exception):
    """A token was refused. ``expired`` separates refresh-worthy from hopeless.

    ``reason`` is our own short text, safe to send to the client.
    """

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


# Who may publish raw `publish` frames, per room kind. Subscribing needs only
# membership of the room's org. Fans' chat, requests and tips go through room
# services, so viewers cannot publish raw data (they could fake a tip alert).
PUBLISH_MATRIX: Final[dict[RoomKind, frozenset[Role]]] = {
    RoomKind.ORG: frozenset({Role.DJ, Role.MODERATOR, Role.ADMIN}),
    RoomKind.EVENT: frozenset({Role.PERFORMER, Role.DJ, Role.MODERATOR, Role.ADMIN}),
}


def can_publish(principal: Principal, kind: RoomKind) -> bool:
    return not principal.roles.isdisjoint(PUBLISH_MATRIX[kind])


def mint_token(
    secret: str, *, sub: str, org: str | uuid.UUID, roles: list[str], ttl: int = 3600
) -> str:
    """Mint a connection token (used by ``hub token`` and by tests)."""
    for role in roles:
        Role(role)  # refuse typos early
    now = int(time.time())
    claims = {"sub": sub, "org": str(org), "roles": roles, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str, *, leeway: int = 5,
                 max_ttl: int = DEFAULT_MAX_TTL) -> Principal:
    """Verify signature, algorithm, expiry and lifetime, and return the principal.

    Raises:
        TokenError: ``expired=True`` when only ``exp`` is the problem.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=leeway,
            options={"require": ["sub", "org", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired", expired=True) from None
    except jwt.PyJWTError as exc:
        log.info("token refused: %s", exc)  # library detail stays in the log
        raise TokenError("invalid token") from None
    try:
        exp = int(claims["exp"])
        now = int(time.time())
        iat = claims.get("iat")
        # The earlier of iat and now: an iat set in the future cannot stretch the lifetime.
        issued = min(int(iat), now) if iat is not None else now
        roles = frozenset(Role(r) for r in claims.get("roles", []))
        principal = Principal(
            sub=str(claims["sub"]), org=uuid.UUID(str(claims["org"])), roles=roles,
            exp=exp, claimed=roles,
        )
    except (ValueError, TypeError):
        raise TokenError("invalid token claims") from None
    if exp - issued > max_ttl:
        raise TokenError(f"token lives longer than {max_ttl} s")
    return principal
