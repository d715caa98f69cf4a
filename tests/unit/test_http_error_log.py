"""An unexpected exception on any route is logged with its traceback and the request id."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from hub.http_errors import handle_exception


@get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


def test_unhandled_exception_is_logged_with_traceback_and_id(caplog: pytest.LogCaptureFixture):
    """The 500 says nothing internal, carries an id, and the log has the id and traceback."""
    app = Litestar([boom], exception_handlers={Exception: handle_exception},
                   logging_config=None)  # keep the test's log capture in place
    with caplog.at_level(logging.ERROR, logger="hub.http_errors"), TestClient(app) as client:
        resp = client.get("/boom")
    assert resp.status_code == 500
    body = resp.json()
    assert body["detail"] == "Internal Server Error" and "hunter2" not in resp.text
    rid = resp.headers["X-Request-Id"]
    assert body["request_id"] == rid
    [record] = [r for r in caplog.records if rid in r.getMessage()]
    assert record.exc_info is not None and "/boom" in record.getMessage()
