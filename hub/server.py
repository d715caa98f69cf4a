"""The uvicorn server, with a drain period on SIGTERM.

uvicorn on SIGTERM closes its listener at once, so ``/ready`` is never seen
answering 503: a load balancer only learns the node is gone when connects
fail. Here SIGTERM first marks the hub draining (``/ready`` answers 503, new
websockets are refused, everything else is still served) for
``HUB_DRAIN_SECONDS``; then uvicorn's own shutdown stops accepting, closes every
socket (websockets with 1012, event streams with a ``close`` event) and runs the
app's shutdown. A second SIGTERM, or SIGINT, skips whatever is left of the drain.

:func:`build` assembles the server for ``hub run``: one process on its own, or one
worker of several (``hub.workers``), which listens on a socket of its own.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from hub.runtime import Hub
from hub.settings import Parts, Settings

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """``parent_pid``: a worker's supervisor; if it vanishes (SIGKILL), drain and exit as on
    SIGTERM rather than serve on unsupervised. ``on_started`` runs once the app is up
    and the listener open."""

    def __init__(self, config: uvicorn.Config, hub: Hub, *, parent_pid: int | None = None,
                 on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.hub = hub
        self._drain_until: float | None = None
        self._parent_pid = parent_pid
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs in a signal handler: only set flags; on_tick acts on them.
        self.hub.draining = True
        if sig == signal.SIGTERM and self._drain_until is None:
            self._drain_until = time.monotonic() + self.hub.settings.drain_seconds
            self._captured_signals.append(sig)  # re-raised after shutdown, as uvicorn does
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if (self._parent_pid is not None and counter % 10 == 0
                and self._drain_until is None and os.getppid() != self._parent_pid):
            log.warning("the supervisor (pid %d) is gone: draining", self._parent_pid)
            self.handle_exit(signal.SIGTERM, None)
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


def build(settings: Settings, parts: Parts, *, log_level: str, parent_pid: int | None = None,
          on_started: Callable[[], None] | None = None) -> DrainingServer:
    """The hub's uvicorn server: app, websocket protocol, HTTP edge limits, drain."""
    from hub.app import create_app
    from hub.connection import HubConnection
    from hub.http_limits import LimitedHttpProtocol

    hub = Hub(settings, parts)
    config = uvicorn.Config(
        create_app(settings, hub), host=settings.host, port=settings.port,
        loop="uvloop", http=LimitedHttpProtocol.bind(hub),
        ws=HubConnection.bind(hub),  # type: ignore[arg-type]  # a duck-typed Protocol
        lifespan="on", access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout) + 1,
        log_level=log_level,
    )
    return DrainingServer(config, hub, parent_pid=parent_pid, on_started=on_started)
