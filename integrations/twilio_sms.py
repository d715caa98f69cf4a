"""Placeholder: the Twilio SMS integration is not built yet (see issue 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rooms.services.base import Hook

if TYPE_CHECKING:
    from hub.runtime import Hub

ROUTES: list[Any] = []


def hooks(hub: Hub) -> dict[str, Hook]:
    return {}
