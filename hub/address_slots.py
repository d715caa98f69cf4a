"""Open connections per client address, HTTP and websocket alike (see ``hub.http_limits``)."""

from __future__ import annotations

import asyncio


def peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return ""  # a unix socket: one shared bucket


class AddressSlots:
    """Open connections per client address; a transport holds at most one slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no cap
        self._held: dict[asyncio.BaseTransport, str] = {}
        self._counts: dict[str, int] = {}

    def acquire(self, transport: asyncio.BaseTransport) -> bool:
        """Take a slot for ``transport``; False when its address is at the cap."""
        if transport in self._held:
            return True
        address = peer_address(transport)
        count = self._counts.get(address, 0)
        if self.limit and count >= self.limit:
            return False
        self._held[transport] = address
        self._counts[address] = count + 1
        return True

    def release(self, transport: asyncio.BaseTransport | None) -> None:
        """Give back ``transport``'s slot; safe to call more than once."""
        address = self._held.pop(transport, None) if transport is not None else None
        if address is None:
            return
        left = self._counts[address] - 1
        if left:
            self._counts[address] = left
        else:
            del self._counts[address]

    def count(self, address: str) -> int:
        return self._counts.get(address, 0)
