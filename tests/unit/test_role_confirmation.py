"""Which membership role confirms which token role."""

from __future__ import annotations

import uuid

import pytest

from hub.memberships import effective
from rooms.principal import Principal
from rooms.roles import Role


def principal(*roles: Role) -> Principal:
    claimed = frozenset(roles)
    return Principal(sub="u", org=uuid.uuid4(), roles=claimed, exp=0, claimed=claimed)


@pytest.mark.parametrize(("membership", "claimed", "expected"), [
    ("owner", {Role.ADMIN, Role.DJ}, {Role.ADMIN, Role.DJ}),
    ("admin", {Role.MODERATOR}, {Role.MODERATOR}),
    ("dj", {Role.DJ, Role.ADMIN}, {Role.DJ}),
    ("dj", {Role.DJ, Role.VIEWER}, {Role.DJ, Role.VIEWER}),
    ("moderator", {Role.DJ}, {Role.VIEWER}),
    ("performer", {Role.PERFORMER}, {Role.PERFORMER}),
    ("viewer", {Role.ADMIN}, {Role.VIEWER}),
    (None, {Role.DJ}, {Role.VIEWER}),
    (None, {Role.VIEWER}, {Role.VIEWER}),
])
def test_membership_confirms_only_its_roles(membership, claimed, expected):
    """Owner/admin confirm every staff role, others only themselves; else viewer."""
    after = effective(principal(*claimed), membership)
    assert after.roles == expected and after.claimed == claimed
