"""Outgoing hooks the room services call (``Context.notify``), provided by integrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations import twilio_sms
from rooms.services.base import Hook

if TYPE_CHECKING:
    from hub.runtime import Hub


def hooks_for(hub: Hub) -> dict[str, Hook]:
    """Hook name -> coroutine function; e.g. ``next_up`` -> "you're up next" by SMS."""
    return dict(twilio_sms.hooks(hub))
