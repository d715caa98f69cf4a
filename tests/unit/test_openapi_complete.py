"""The OpenAPI document describes every route completely: auth, bodies and errors.

What a route really does is read from its handler (guards, ``bearer(``, body reads,
headers it reads), so a new route or a changed handler that is not documented fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import create_test_client

from hub.app import create_app
from hub.http_errors import handle_exception
from hub.settings import load
from integrations.http import require_api_key
from integrations.http_docs import ErrorBody

# POST routes that take no body: the action is named by the path alone.
BODILESS = {("post", "/api/events/{event_id}/live"), ("post", "/api/tips/{tip_id}/refund"),
            ("post", "/api/events/{event_id}/overlay"), ("post", "/api/tokens/refresh")}
# Answered by hub.http_limits before any route runs, so they prove nothing about one.
EDGE = {"408", "431"}
_HEADER_READ = re.compile(r"""headers\.get\(\s*["']([A-Za-z0-9-]+)["']""")
_JSON_BODY = re.compile(r"json_body\(request, (\w+)\)")


@pytest.fixture(scope="module")
def app() -> Litestar:
    return create_app(load(embedded_pg=False))


@pytest.fixture(scope="module")
def schema(app: Litestar) -> dict[str, Any]:
    return app.openapi_schema.to_schema()


def _operations(app: Litestar, schema: dict[str, Any]
                ) -> Iterator[tuple[str, str, HTTPRouteHandler, dict[str, Any]]]:
    """(method, path, handler, operation) for every documented operation."""
    seen = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if not handler.resolve_include_in_schema() or method in ("HEAD", "OPTIONS"):
                continue
            op = schema["paths"][route.path_format][method.lower()]
            seen += 1
            yield method.lower(), route.path_format, handler, op
    assert seen == sum(len(ops) for ops in schema["paths"].values())


def _source(handler: HTTPRouteHandler) -> str:
    return inspect.getsource(handler.fn)


def _reads_body(handler: HTTPRouteHandler) -> bool:
    src = _source(handler)
    return ("data" in handler.parsed_fn_signature.parameters or "request.body()" in src
            or "json_body(" in src)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _variants(schema: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(schema, node)
    alts = node.get("oneOf") or node.get("anyOf")
    return [v for alt in alts for v in _variants(schema, alt)] if alts else [node]


def test_security_schemes_declared(schema: dict[str, Any]) -> None:
    """Components declare the X-API-Key scheme and the hub token as an HTTP bearer JWT."""
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "name": "X-API-Key", "in": "header"}
    assert schemes["bearer"]["type"] == "http"
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["bearer"]["bearerFormat"] == "JWT"


def test_routes_reference_their_auth(app: Litestar, schema: dict[str, Any]) -> None:
    """API-key routes reference apiKey, bearer routes reference bearer; all references exist."""
    schemes = set(schema["components"]["securitySchemes"])
    bearer_routes = 0
    for method, path, handler, op in _operations(app, schema):
        security = op.get("security") or []
        assert {name for req in security for name in req} <= schemes, (method, path)
        if require_api_key in (handler.guards or []):
            assert {"apiKey": []} in security, (method, path)
        if "bearer(" in _source(handler):
            bearer_routes += 1
            assert {"bearer": []} in security, (method, path)
            assert "401" in op["responses"], (method, path)
    assert bearer_routes >= 3  # livekit-token, live, checkout


def test_every_body_is_documented(app: Litestar, schema: dict[str, Any]) -> None:
    """POST/PUT/PATCH routes declare a request body with a schema; bodiless ones read none."""
    for method, path, handler, op in _operations(app, schema):
        if (method, path) in BODILESS:
            assert not _reads_body(handler), (method, path)
            continue
        if method in ("post", "put", "patch") or _reads_body(handler):
            body = op.get("requestBody")
            assert body, (method, path)
            assert body["content"], (method, path)
            for media in body["content"].values():
                assert "schema" in media, (method, path)
            assert {"408", "413"} <= set(op["responses"]), (method, path)


def test_json_bodies_follow_the_decoder(app: Litestar, schema: dict[str, Any]) -> None:
    """A body decoded by json_body(request, T) is documented with T's fields and constraints."""
    checked = 0
    for method, path, handler, op in _operations(app, schema):
        match = _JSON_BODY.search(_source(handler))
        if match is None:
            continue
        struct = handler.fn.__globals__[match.group(1)]
        documented = op["requestBody"]["content"]["application/json"]["schema"]
        assert set(documented["properties"]) == set(struct.__struct_fields__), (method, path)
        assert documented.get("additionalProperties") is False, (method, path)
        checked += 1
    assert checked >= 4  # onboarding, checkout, livekit-token, ppv/revoke


def test_headers_read_are_documented(app: Litestar, schema: dict[str, Any]) -> None:
    """Every header a handler reads itself (webhook signatures) is a parameter or described."""
    for method, path, handler, op in _operations(app, schema):
        params = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        for name in _HEADER_READ.findall(_source(handler)):
            assert name in params or name in (op.get("description") or ""), (method, path, name)


def test_every_error_is_described(app: Litestar, schema: dict[str, Any]) -> None:
    """Every operation lists 500 and, where it can fail, a 4xx of its own besides 400; each
    error has a description and a schema, and the hub's error body carries request_id."""
    for method, path, _, op in _operations(app, schema):
        responses = op["responses"]
        assert "500" in responses, (method, path)
        can_fail = bool(op.get("security") or op.get("requestBody") or op.get("parameters"))
        if can_fail:
            own = [c for c in responses if c.startswith("4") and c not in EDGE | {"400"}]
            assert own, (method, path, sorted(responses))
        for code, response in responses.items():
            if int(code) < 400:
                continue
            assert response.get("description"), (method, path, code)
            assert response.get("content"), (method, path, code)
            for media_type, media in response["content"].items():
                if code in EDGE:  # the connection's own plain-text answer
                    assert (media_type, media["schema"]) == ("text/plain", {"type": "string"})
                    continue
                assert media_type == "application/json", (method, path, code)
                variants = _variants(schema, media["schema"])
                assert all(v.get("properties") for v in variants), (method, path, code)
                bodies = [v for v in variants if "status_code" in v["properties"]]
                for body in bodies:
                    assert "request_id" in body["properties"], (method, path, code)
                    assert "request_id" in body["required"], (method, path, code)


@get("/boom/{n:int}")
async def _boom(n: int) -> None:
    if n == 1:
        raise ValidationException("bad", extra=[{"key": "x", "message": "bad"}])
    if n == 2:
        raise HTTPException("nope", status_code=409)
    raise RuntimeError("unexpected")


@pytest.mark.parametrize("n, status", [(1, 400), (2, 409), (3, 500)])
def test_error_body_is_the_real_one(n: int, status: int) -> None:
    """The documented ErrorBody decodes what hub.http_errors really answers, strictly."""
    with create_test_client([_boom], exception_handlers={Exception: handle_exception}) as client:
        response = client.get(f"/boom/{n}")
    assert response.status_code == status
    body = msgspec.json.decode(response.content, type=ErrorBody)
    assert body.request_id == response.headers["X-Request-Id"]
    assert body.status_code == status
