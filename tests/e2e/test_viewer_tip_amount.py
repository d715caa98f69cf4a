"""A custom tip amount means what the fan typed: "5,50" is $5.50 (a decimal comma),
"1,000.50" has a thousands group, and anything that could be read two ways is refused
with a reason, never guessed (a wrong guess charges 100 times too much)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.viewer_support import viewer
from tests.integration.test_stripe import enable
from tests.support.client import token
from tests.support.fake_stripe import FakeStripe
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
CASES: dict[str, int | None] = {
    "5,50": 550, "5,5": 550, "5.50": 550, "$ 5": 500, "5.": 500, ".5": 50, "12": 1200,
    "1,000": 100_000, "1,000.50": 100_050, "12,345,678": 1_234_567_800,
    "1.000,50": None, "5.555": None, "1,5000": None, "1,00,000": None, "1,000,5": None,
    "5,50,": None, "abc": None, "": None, "-5": None, "5e2": None, "0x10": None, ".": None,
}


def test_the_amount_parser_reads_decimal_commas_and_refuses_ambiguity() -> None:
    script = ("import { parseAmount } from './hub/web/pages/viewer-amount.js';"
              f"const cases = {json.dumps(list(CASES))};"
              "console.log(JSON.stringify(cases.map((c) => parseAmount(c))));")
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", script], cwd=ROOT,
                             capture_output=True, text=True, timeout=30, check=True)
    except FileNotFoundError:
        unavailable("node")  # skips on a laptop without it, fails under CI=true
        raise
    results = json.loads(out.stdout)
    for (typed, cents), got in zip(CASES.items(), results, strict=True):
        if cents is None:
            assert "error" in got and "cents" not in got, (typed, got)
            assert got["error"].endswith("."), got  # a sentence for the fan
        else:
            assert got == {"cents": cents}, (typed, got)


@needs_chromium
async def test_a_fan_typing_5_comma_50_tips_5_dollars_50(
        hub_factory: Any, event: Any, owner_conn: Any, stripe_fake: FakeStripe) -> None:
    org, ev = event
    await enable(owner_conn, stripe_fake, org)
    hub = hub_factory(db=True, **stripe_fake.env())
    async with chromium() as browser:
        w = await viewer(await browser.new_context(), hub, ev, token(org, sub="fan-eu"))
        page = w.page
        await page.fill("#tip-custom", "1.000,50")
        assert await page.locator("#tip button.tip-go").inner_text() == "Tip"
        await page.click("#tip button.tip-go")
        await page.locator("#tip-note", has_text="can't tell which amount").wait_for(timeout=5_000)
        assert stripe_fake.calls_to("/v1/checkout/sessions") == []  # refused, not guessed

        await page.route("https://checkout.stripe.test/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body="Checkout"))
        await page.fill("#tip-custom", "5,50")
        assert await page.locator("#tip button.tip-go").inner_text() == "Tip $5.50"
        await page.click("#tip button.tip-go")
        await page.wait_for_url("https://checkout.stripe.test/**", timeout=15_000)
        [call] = stripe_fake.calls_to("/v1/checkout/sessions")
        assert call.params["line_items"][0]["price_data"]["unit_amount"] == "550"
        w.assert_clean()
