"""/schema/swagger renders every operation in headless Chromium with no outside request."""

from __future__ import annotations

import shutil

import httpx
import pytest

CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


async def test_swagger_renders_offline(hub_factory, tmp_path):
    """Swagger UI shows one block per operation, and the browser asked only the hub."""
    playwright = pytest.importorskip("playwright.async_api")
    hub = hub_factory(redis=False)
    async with httpx.AsyncClient(timeout=10) as http:
        schema = (await http.get(f"{hub.url}/schema/openapi.json")).json()
    operations = sum(len(ops) for ops in schema["paths"].values())
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1300, "height": 900})
        requested: list[str] = []
        errors: list[str] = []
        page.on("request", lambda req: requested.append(req.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{hub.url}/schema/swagger")
        blocks = page.locator(".opblock-summary")
        await blocks.nth(operations - 1).wait_for(timeout=15_000)
        assert await blocks.count() == operations
        await page.screenshot(path=str(tmp_path / "swagger.png"), full_page=True)  # for a human
        await browser.close()
    outside = [u for u in requested if not u.startswith((hub.url, "data:"))]
    assert outside == [], outside
    assert errors == []
