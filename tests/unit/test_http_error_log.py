"""An unexpected exception on any route is logged with its traceback and the request id."""

from __future__ import annotations

import logging

from litestar import get
from litestar.testing import TestClient

from hub.app import create_app
from hub.http_errors import loggable
from hub.settings import Settings


@get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unhandled_exception_is_logged_with_traceback_and_id():
    """The hub app's 500 says nothing internal, carries an id; the log has id and traceback."""
    app = create_app(Settings(embedded_pg=False, node_id="unit"))
    app.register(boom)
    captured = Records()
    logger = logging.getLogger("hub")  # ours, whatever Litestar does to the root logger
    logger.addHandler(captured)
    try:
        with TestClient(app) as client:
            resp = client.get("/boom")
    finally:
        logger.removeHandler(captured)
    assert resp.status_code == 500
    body = resp.json()
    assert "hunter2" not in resp.text
    rid = resp.headers["X-Request-Id"]
    assert body["request_id"] == rid
    [record] = [r for r in captured.records if rid in r.getMessage()]
    assert record.exc_info is not None and "/boom" in record.getMessage()



@get("/overlay/{secret:str}/blip")
async def overlay_blip(secret: str) -> None:
    raise ConnectionRefusedError("postgres is down")  # what a blip looks like to a route


def test_overlay_secret_is_never_logged():
    """A backing service failing while OBS loads /overlay/<secret>: the 503's log line
    names the route but not the secret."""
    app = create_app(Settings(embedded_pg=False, node_id="unit"))
    app.register(overlay_blip)
    secret = "ovl_s3cr3t-DoNotLog"
    captured = Records()
    logger = logging.getLogger("hub")
    logger.addHandler(captured)
    try:
        with TestClient(app) as client:
            resp = client.get(f"/overlay/{secret}/blip")
    finally:
        logger.removeHandler(captured)
    assert resp.status_code == 503, resp.text
    lines = [r.getMessage() for r in captured.records]
    assert any("GET /overlay/…/blip" in line for line in lines), lines
    assert not any(secret in line for line in lines), lines
    assert loggable("/overlay/abc") == "/overlay/…"
    assert loggable("/e/overlay/abc") == "/e/overlay/abc"  # only the overlay route's secret
