"""OpenAPI declarations shared by the HTTP routes (hub and integrations alike).

Documentation only: nothing here changes what a route does.

- ``ErrorBody`` is the JSON body of every error answer (``hub.http_errors``);
  ``errors(...)`` builds a route's ``responses=`` from the failures it can answer.
- Handlers that read their own body (to check auth first and keep their own error
  texts) declare it with ``operation_class=documented(...)``. A JSON body's schema is
  msgspec's own for the Struct the handler decodes into, so it cannot drift from the
  decoder.

Kept free of ``hub`` imports so that ``integrations`` can use it without reaching up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

# Security scheme names, declared in the app's OpenAPI components (hub.app).
API_KEY = "apiKey"
BEARER = "bearer"
API_KEY_SECURITY: list[dict[str, list[str]]] = [{API_KEY: []}]
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of every error answer; ``request_id`` is also in ``X-Request-Id``."""

    status_code: int
    detail: str  # our own short reason
    request_id: str  # quote it when reporting a problem: the log has the details
    extra: list[Any] | dict[str, Any] | msgspec.UnsetType = msgspec.UNSET  # field errors


class ServiceErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    """A room service's refusal (``POST /api/rooms/{room}/call/{method}``)."""

    code: int  # the protocol error code (docs/protocol.md), e.g. 4412 for a stale version
    reason: str
    state: Any = None  # the current state, so a stale caller can retry on it


# A route's possible failures: status -> why. Groups are merged by ``errors``.
Errors = Mapping[int, str]

INTERNAL: Errors = {500: "Unexpected failure, logged with the request id"}
# Answered at the connection (hub.http_limits) in plain text, which then closes.
EDGE: Errors = {431: "Request line and headers are larger than HUB_MAX_HEADER_BYTES"}
# Any route, before its handler runs, whether or not it reads a body (hub.http_limits).
BODY_SIZE: Errors = {413: "The body is larger than this route accepts"}
_PLAIN_TEXT = frozenset({408, 431})
BACKING: Errors = {503: "A backing service (Redis, Postgres) is unavailable; retry"
                        " (Retry-After)"}
API_KEY_ERRORS: Errors = {401: "X-API-Key is missing or wrong",
                          503: "The server API is disabled: HUB_API_KEY is unset"}
BEARER_ERRORS: Errors = {401: "Authorization: Bearer <hub token> is missing, invalid,"
                              " expired or lives longer than HUB_MAX_TOKEN_TTL"}
BODY_ERRORS: Errors = {**BODY_SIZE,
                       408: "The body did not arrive within HUB_BODY_TIMEOUT seconds"}
# A malformed UUID in the path matches no route: Litestar answers 404.
PATH_ID_ERRORS: Errors = {404: "An id in the path is not a UUID"}
# The body decoded by ``integrations.http.json_body``.
JSON_BODY_ERRORS: Errors = {**BODY_ERRORS, 400: "The body is not JSON, or a field is"
                                                " missing, unknown or invalid"}


def errors(*groups: Errors, bodies: Mapping[int, Any] | None = None,
           ) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: every group's failures (reasons for one status are
    joined as sentences), plus 500, 431 and 413; the body is ``ErrorBody`` unless ``bodies``
    says otherwise (the connection's own answers are plain text)."""
    reasons: dict[int, list[str]] = {}
    for group in (*groups, INTERNAL, EDGE, BODY_SIZE):
        for status, reason in group.items():
            if reason not in reasons.setdefault(status, []):
                reasons[status].append(reason)
    return {status: ResponseSpec(
                data_container=str if status in _PLAIN_TEXT else (bodies or {}).get(
                    status, ErrorBody),
                media_type="text/plain" if status in _PLAIN_TEXT else "application/json",
                description=". ".join(why), generate_examples=False)
            for status, why in sorted(reasons.items())}


def ok(body: Any, description: str, status: int = 200,
       media_type: str = "application/json") -> dict[int, ResponseSpec]:
    """A success response for a handler that builds its own ``Response`` (which Litestar
    can only describe as a string)."""
    return {status: ResponseSpec(data_container=body, description=description,
                                 media_type=media_type, generate_examples=False)}


def either(*bodies: Any) -> Any:
    """A response body that is one of several types (e.g. ``ErrorBody`` or a service's)."""
    return Union[bodies]  # noqa: UP007  (a runtime union of types given as values)


@dataclass
class _Verbatim(Schema):
    """A JSON Schema written out as given: msgspec's, for the Struct a handler decodes."""

    verbatim: dict[str, Any] = field(default_factory=dict)

    def to_schema(self) -> dict[str, Any]:
        return self.verbatim


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by its definition (our bodies are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


def struct_schema(type_: Any) -> Schema:
    """msgspec's JSON Schema for ``type_``, self-contained (no references)."""
    (top,), defs = msgspec.json.schema_components([type_])
    return _Verbatim(verbatim=_inline(top, defs))


def json_body(type_: Any, description: str) -> RequestBody:
    """A JSON request body decoded into ``type_`` (a msgspec Struct)."""
    return RequestBody(content={"application/json": OpenAPIMediaType(schema=struct_schema(type_))},
                       description=description, required=True)


def raw_body(media_type: str, description: str, schema: Schema | None = None) -> RequestBody:
    """A body the handler reads as bytes (any JSON value, a provider's signed payload)."""
    return RequestBody(content={media_type: OpenAPIMediaType(schema=schema or Schema())},
                       description=description, required=True)


def header(name: str, description: str) -> Parameter:
    """A required request header the handler reads itself (e.g. a webhook signature)."""
    return Parameter(name=name, param_in="header", required=True, description=description,
                     schema=Schema(type=OpenAPIType.STRING))


def documented(body: RequestBody | None = None, headers: Sequence[Parameter] = (),
               drop: Sequence[int] = ()) -> type[Operation]:
    """An ``operation_class`` that adds a body and headers the handler reads itself
    (Litestar only sees a ``data`` parameter, which would change decoding and errors),
    and drops responses Litestar assumes but the route cannot answer (``drop``)."""

    @dataclass
    class Documented(Operation):
        def __post_init__(self) -> None:
            if body is not None:
                self.request_body = body
            if headers:
                self.parameters = [*(self.parameters or []), *headers]
            for status in drop:
                (self.responses or {}).pop(str(status), None)

    return Documented
