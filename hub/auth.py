"""Connection tokens (HS256 JWT) and the publish permission matrix.

A token carries ``sub`` (user id), ``org`` (organization uuid), ``roles`` and
``exp``. Only HS256 is accepted, so ``alg=none`` and RS/HS confusion fail.
"""

from __future__ import annotations

import enum
import time
import uuid
from typing import Final

import jwt
import msgspec

from rooms.names import RoomKind

ALGORITHM: Final = "HS256"


class Role(enum.StrEnum):
    VIEWER = "viewer"
    PERFORMER = "performer"
    DJ = "dj"
    MODERATOR = "moderator"
    ADMIN = "admin"


class Principal(msgspec.Struct, frozen=True):
    """Who is on the other end of a connection, from a verified token."""

    sub: str
    org: uuid.UUID
    roles: frozenset[Role]
    exp: int


class TokenError(Exception):
    """A token was refused. ``expired`` separates refresh-worthy from hopeless."""

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


def verify_token(secret: str, token: str, *, leeway: int = 5) -> Principal:
    """Verify signature, algorithm and expiry, and return the principal.

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
        raise TokenError(f"invalid token: {exc}") from None
    try:
        roles = frozenset(Role(r) for r in claims.get("roles", []))
        return Principal(
            sub=str(claims["sub"]), org=uuid.UUID(str(claims["org"])), roles=roles,
            exp=int(claims["exp"]),
        )
    except (ValueError, TypeError):
        raise TokenError("invalid token claims") from None
