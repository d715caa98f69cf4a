"""Membership rows for tests: with Postgres, a token's staff roles need one (hub.roles)."""

from __future__ import annotations

from persistence.members import add_member

__all__ = ["add_member"]
