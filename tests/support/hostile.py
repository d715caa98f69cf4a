"""Hostile text for the page tests: markup that runs script if a page ever parses it."""

from __future__ import annotations

from typing import Any

from tests.support.client import Client


def xss(tag: str) -> str:
    """Markup that, if parsed, sets ``window.__pwned`` and the title; ``tag`` names the field.

    It opens with ``">`` to break out of an attribute, and stays under 60 characters so it
    fits the shortest user-controlled field (a karaoke singer's name).
    """
    return f"\"><img src=x onerror=__pwned=document.title='{tag}'>"


def xss_long(tag: str) -> str:
    """:func:`xss` plus a ``<script>`` block, for fields with room for both."""
    return f"{xss(tag)}<script>__pwned=document.title='{tag}-s'</script>"


async def publish_raw(client: Client, room: str, data: dict[str, Any]) -> bool:
    """Publish as a performer; True if the hub took it (it may refuse service-shaped data)."""
    await client.send({"type": "publish", "room": room, "data": data, "id": 1})
    while True:
        frame = await client.recv()
        if frame["type"] in {"published", "error"}:
            return frame["type"] == "published"
