"""Swagger UI for ``/schema``, from the hub's own static files so it renders offline.

Litestar's default pages load their scripts from a CDN. ``make`` copies Swagger UI from
the npm lock (package-lock.json) into hub/static/swagger-ui, served under /static.
"""

from __future__ import annotations

import logging
from pathlib import Path

from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
)

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSETS_URL = "/static/swagger-ui"
# An empty inline icon: no CDN favicon, no /favicon.ico 404.
NO_FAVICON = "<link rel='icon' href='data:,'>"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """/schema and /schema/swagger: Swagger UI; /schema/openapi.json: the schema itself."""
    if not (ASSETS / "swagger-ui-bundle.js").is_file():
        log.warning("Swagger UI assets are missing from %s (run `make ui`): "
                    "/schema/swagger will be blank; /schema/openapi.json still works", ASSETS)
    swagger = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_URL}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_URL}/swagger-ui-standalone-preset.js",
        favicon=NO_FAVICON,
    )
    return [swagger, JsonRenderPlugin()]
