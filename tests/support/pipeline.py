"""Write several client frames to a hub in one TCP write, as an attacker's client would."""

from __future__ import annotations

import json
from typing import Any

from websockets.frames import Frame, Opcode

from tests.support.client import Client


def masked(frame: dict[str, Any] | str | bytes) -> bytes:
    """One masked text frame, ready for the wire."""
    if isinstance(frame, dict):
        frame = json.dumps(frame)
    data = frame.encode() if isinstance(frame, str) else frame
    return Frame(Opcode.TEXT, data).serialize(mask=True)


def pipeline(client: Client, frames: list[dict[str, Any]]) -> None:
    """Send ``frames`` back to back in one write, so the hub reads them together."""
    client.ws.transport.write(b"".join(masked(f) for f in frames))
