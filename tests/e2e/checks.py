"""What every page test checks besides behaviour: accessibility (axe-core), that the page
fits a phone without sideways scrolling, and screenshots for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
_AXE_SOURCE = AXE.read_text() if AXE.exists() else "throw new Error('npm ci first')"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Screenshots go here (LIVEHUB_SCREENSHOTS, else a folder under the system temp dir).
SHOTS = Path(os.environ.get("LIVEHUB_SCREENSHOTS", "/tmp/livehub-screenshots"))
SHOTS.mkdir(parents=True, exist_ok=True)


async def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")
                         ) -> list[dict[str, Any]]:
    """axe-core's violations of ``impacts`` on the page as it is now.

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern,
    so the page keeps its real policy. Trusted Types would refuse axe's own DOM writes,
    so run this in a context made with ``bypass_csp=True`` (see :func:`audit_context`).
    """
    await page.evaluate(_AXE_SOURCE)
    result = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in impacts]


async def audit_context(browser: Any, viewport: dict[str, int]) -> Any:
    """A browser context for the accessibility pass (CSP bypassed for axe only)."""
    return await browser.new_context(viewport=viewport, bypass_csp=True)


async def sideways_overflow(page: Any) -> int:
    """How many CSS pixels the page scrolls sideways (0: it fits its viewport)."""
    return int(await page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"))


async def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot ``<name>.png`` under SHOTS, for a person to look at."""
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
