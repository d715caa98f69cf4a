"""Membership rows for tests: with Postgres, a token's staff roles need one (hub.memberships)."""

from __future__ import annotations

import uuid

from persistence.members import add_member
from tests.support.client import token
from tests.support.hubproc import HubProcess

__all__ = ["add_member", "staff_token"]


async def staff_token(hub: HubProcess, org: uuid.UUID, sub: str, role: str) -> str:
    """A token for ``sub`` with ``role``, backed by a membership in the hub's database."""
    if hub.database_url:
        await add_member(hub.database_url, org, sub, role)
    return token(org, sub=sub, roles=(role,))
