"""The room services the hub serves, by name. Add a module here to add a service."""

from __future__ import annotations

from rooms.services.base import Service
from rooms.services.chat import SERVICE as CHAT
from rooms.services.event import SERVICE as EVENT
from rooms.services.karaoke import SERVICE as KARAOKE
from rooms.services.moderation import SERVICE as MODERATION
from rooms.services.requests import SERVICE as REQUESTS
from rooms.services.tips import SERVICE as TIPS

SERVICES: tuple[Service, ...] = tuple(
    s for s in (CHAT, MODERATION, REQUESTS, KARAOKE, TIPS, EVENT) if s is not None)
