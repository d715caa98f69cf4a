"""Error responses for every HTTP route: a request id, a reason that says something.

- Every error response carries a request id, in ``X-Request-Id`` and in the JSON
  body (``request_id``); a caller's own ``X-Request-Id`` is kept if it is short
  and plain, so a proxy's id follows the request through our log.
- Foreseeable database failures are the caller's problem, not ours: a missing
  referenced row is 404 ("unknown organization"), a row still referenced or a
  duplicate is 409, a value the schema refuses is 422. Postgres' own text never
  reaches the client; our log gets the details.
- A backing service that does not answer is 503 ("retry").
- Anything else is a 500, logged with its traceback and the request id.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException

from hub.unreachable import UNREACHABLE

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Referenced tables, then foreign-key columns, as our schema names them -> what
# the caller got wrong. (Under row-level security Postgres leaves the key values
# out of the detail, but still names the table.)
_UNKNOWN_TABLE = {"organizations": "unknown organization", "users": "unknown user",
                  "events": "unknown event"}
_UNKNOWN_COLUMN = {"organization_id": "unknown organization", "user_id": "unknown user",
                   "event_id": "unknown event", "actor_id": "unknown actor (user)"}
_REFERENCED_TABLE = re.compile(r'not present in table "([a-z_]+)"')


def request_id(request: Request) -> str:  # type: ignore[type-arg]
    """This request's id: the caller's plain ``X-Request-Id``, else a new one."""
    state = request.scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _PLAIN_ID.fullmatch(given) else uuid.uuid4().hex
        state["request_id"] = rid
    return str(rid)


def _respond(rid: str, status: int, detail: str, *, extra: Any = None,
             headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status_code": status, "detail": detail, "request_id": rid}
    if extra is not None:
        body["extra"] = extra
    return Response(body, status_code=status, media_type="application/json",
                    headers={**(headers or {}), REQUEST_ID_HEADER: rid})


def _unknown_reference(exc: asyncpg.ForeignKeyViolationError) -> str:
    match = _REFERENCED_TABLE.search(exc.detail or "")
    if match and match.group(1) in _UNKNOWN_TABLE:
        return _UNKNOWN_TABLE[match.group(1)]
    constraint = f"_{exc.constraint_name or ''}_"
    for column, reason in _UNKNOWN_COLUMN.items():
        if f"_{column}_" in constraint:
            return reason
    return "a record it refers to does not exist"


def _database_refusal(exc: asyncpg.PostgresError) -> tuple[int, str] | None:
    """Status and our own reason for a constraint or data error; None if unforeseen."""
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        if "still referenced" in (exc.detail or ""):
            return 409, "still in use by other records"
        return 404, _unknown_reference(exc)
    if isinstance(exc, asyncpg.UniqueViolationError):
        return 409, "already exists"
    if isinstance(exc, asyncpg.CheckViolationError | asyncpg.NotNullViolationError):
        return 422, "a value is not allowed" + (
            f" ({exc.constraint_name})" if exc.constraint_name else "")
    if isinstance(exc, asyncpg.DataError):
        return 422, "a value is malformed or out of range"
    return None


# Paths whose segment after the prefix is a credential (the overlay link's secret).
_SECRET_PATH = re.compile(r"^(/overlay/)[^/]+")


def loggable(path: str) -> str:
    """``path`` fit for a log line: an overlay secret becomes "…" (logs are read by more
    people than may put alerts on a broadcast)."""
    return _SECRET_PATH.sub(r"\1…", path)


def handle_exception(request: Request, exc: Exception) -> Response[dict[str, Any]]:  # type: ignore[type-arg]
    """The app's one exception handler (registered for ``Exception``)."""
    rid = request_id(request)
    where = f"{request.method} {loggable(request.url.path)}"
    if isinstance(exc, HTTPException):
        if exc.status_code >= 500:  # raised on purpose (or a client gone): no traceback
            log.info("request %s %s: %d %s", rid, where, exc.status_code, exc.detail)
        detail = "Internal Server Error" if exc.status_code == 500 else exc.detail
        return _respond(rid, exc.status_code, detail, extra=exc.extra or None,
                        headers=exc.headers)
    if isinstance(exc, asyncpg.PostgresError) and (refusal := _database_refusal(exc)):
        status, reason = refusal
        log.info("request %s %s: %d %s (%s: %s)", rid, where, status, reason,
                 type(exc).__name__, exc)
        return _respond(rid, status, reason)
    if isinstance(exc, UNREACHABLE):
        log.warning("request %s %s: backing service unavailable: %r", rid, where, exc)
        return _respond(rid, 503, "a backing service is unavailable; retry",
                        headers={"Retry-After": "1"})
    log.error("request %s %s failed", rid, where, exc_info=exc)
    return _respond(rid, 500, "Internal Server Error")
