"""Swagger UI renders the documented bodies, errors and auth schemes, not just the list."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.browser import chromium, needs_chromium

pytestmark = needs_chromium

CHECKOUT = "/api/events/{event_id}/checkout"


async def test_swagger_shows_body_errors_and_bearer(hub_factory, tmp_path):
    """An expanded checkout shows its JSON body's fields and every documented error code;
    Authorize offers the API key and the bearer token."""
    hub = hub_factory(redis=False)
    async with httpx.AsyncClient(timeout=10) as http:
        schema = (await http.get(f"{hub.url}/schema/openapi.json")).json()
    codes = sorted(schema["paths"][CHECKOUT]["post"]["responses"])
    assert {"401", "404", "409", "413", "503"} <= set(codes)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{hub.url}/schema/swagger")
        await page.locator(".opblock-summary", has_text="/checkout").first.click()
        opened = page.locator(".opblock.is-open").first
        await opened.locator(".responses-table").first.wait_for(timeout=15_000)
        body = await asyncio.wait_for(opened.locator(".opblock-section-request-body")
                                      .inner_text(), 15)
        assert '"kind"' in body and '"amount_cents"' in body and '"checkout_id"' in body
        shown = await opened.locator(".responses-table > tbody > tr.response").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-code'))")
        assert sorted(shown) == codes
        await opened.screenshot(path=str(tmp_path / "checkout.png"))  # for a human
        await page.locator("button.authorize").first.click()
        dialog = page.locator(".dialog-ux .modal-ux")
        await dialog.wait_for(timeout=15_000)
        text = await dialog.inner_text()
        assert "apiKey" in text and "X-API-Key" in text
        assert "bearer" in text and "hub connection token" in text
    assert errors == []
