"""Headless Debian Chromium for the page tests (no browser download is possible here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Skipped on a developer's machine without chromium; never under CI, where .ci/run
# installs it and a missing browser must fail the run instead of hiding the tests.
_CI = os.environ.get("CI", "").lower() == "true"
needs_chromium = pytest.mark.skipif(CHROMIUM is None and not _CI,
                                    reason="Debian chromium is not installed")


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A launched browser, closed afterwards."""
    if CHROMIUM is None:
        pytest.fail("Debian chromium is required under CI=true (.ci/run installs it)")
    import playwright.async_api as playwright
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
