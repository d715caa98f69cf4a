"""Placeholder: the karaoke service is not built yet (see its issue)."""

from __future__ import annotations

from rooms.services.base import Service

SERVICE: Service | None = None
