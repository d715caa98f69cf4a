"""Roles a token can carry, and the groups of them that rules are written against."""

from __future__ import annotations

import enum
from typing import Final


class Role(enum.StrEnum):
    VIEWER = "viewer"
    PERFORMER = "performer"
    DJ = "dj"
    MODERATOR = "moderator"
    ADMIN = "admin"
    # An OBS overlay's credential, never a token's: watches one event room and acks its
    # tip alerts (rooms.access.authorize keeps it to that room).
    OVERLAY = "overlay"


# Roles that need a membership row to count when Postgres is present (hub.memberships).
STAFF_ROLES: Final = frozenset({Role.PERFORMER, Role.DJ, Role.MODERATOR, Role.ADMIN})
STAFF: Final = frozenset({Role.DJ, Role.MODERATOR, Role.ADMIN})  # run rooms, exempt from chat rules
HOSTS: Final = frozenset({Role.DJ, Role.PERFORMER, Role.MODERATOR, Role.ADMIN})
ORG_ADMINS: Final = frozenset({Role.MODERATOR, Role.ADMIN})
ANYONE: Final = frozenset(Role) - {Role.OVERLAY}  # any person; an overlay only where named
OVERLAY: Final = frozenset({Role.OVERLAY})
# Highest first: the role a tenant transaction runs as (``Principal.tenant``).
RANK: Final = (Role.ADMIN, Role.MODERATOR, Role.DJ, Role.PERFORMER, Role.VIEWER)
