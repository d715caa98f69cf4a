"""The uvicorn server, with a drain period on SIGTERM.

uvicorn on SIGTERM closes its listener at once, so ``/ready`` is never seen
answering 503: a load balancer only learns the node is gone when connects
fail. Here SIGTERM first marks the hub draining (``/ready`` answers 503, new
websockets are refused, everything else is still served) for
``HUB_DRAIN_SECONDS``; then uvicorn's own shutdown stops accepting, closes every
socket (websockets with 1012, event streams with a ``close`` event) and runs the
app's shutdown. A second SIGTERM, or SIGINT, skips whatever is left of the drain.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from types import FrameType

import uvicorn

from hub.runtime import Hub

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs in a signal handler: only set flags; on_tick acts on them.
        self.hub.draining = True
        if sig == signal.SIGTERM and self._drain_until is None:
            self._drain_until = time.monotonic() + self.hub.settings.drain_seconds
            self._captured_signals.append(sig)  # re-raised after shutdown, as uvicorn does
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and not self.should_exit:
            if counter % 10 == 0:
                log.info("draining: /ready answers 503 until the listener closes")
            if time.monotonic() >= self._drain_until:
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn only asks HTTP connections to close once their response is done:
        # event streams (hub.sse) are ended here, with the websockets. They finish
        # after uvicorn has closed the listener, so clients reconnect elsewhere.
        for conn in list(self.hub.connections):
            conn.shutdown()
        await super().shutdown(sockets)
