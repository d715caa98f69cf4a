"""@livehub/client in Chromium against a real hub: the bundle pages get, run in a browser.

The client is bundled by esbuild as the pages' bundles are, loaded into a page served by
the hub (so its default URL is the page's origin), and driven through page.evaluate.
"""

from __future__ import annotations

import subprocess
from typing import Any

from tests.e2e.browser import chromium, needs_chromium
from tests.integration.test_overlay_secret import new_link, secret_of
from tests.integration.test_tips import LONG, alert_of, pay
from tests.support.client import token
from tests.support.hubproc import ROOT

pytestmark = needs_chromium


def client_bundle() -> str:
    """The client as one script defining `LiveHubClient` (esbuild, as `make ui` uses)."""
    return subprocess.run(
        [str(ROOT / "node_modules/.bin/esbuild"), "hub/web/client/index.js", "--bundle",
         "--format=iife", "--global-name=LiveHubClient", "--target=es2022"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout


async def test_chat_round_trip_and_an_overlay_acking_a_tip(hub_factory, event):
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True, HUB_TIP_ALERT_TIMEOUT=LONG)
    secret = secret_of(await new_link(hub, ev))
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{hub.url}/ready")
        await page.evaluate(client_bundle() + ";globalThis.LiveHubClient = LiveHubClient;")

        chat: dict[str, Any] = await page.evaluate("""async ([token, room]) => {
          const { LiveHub } = LiveHubClient;
          const hub = new LiveHub({ token });   // default URL: this page's origin + /ws
          const r = hub.room(room);
          const states = [];
          hub.on("state", (s) => states.push(s.state));
          const seen = new Promise((ok) => r.on("chat", (m) => m.text === "<b>hi</b>" && ok(m)));
          hub.connect();
          const sent = await r.chat("<b>hi</b>");
          const got = await seen;
          hub.close();
          return { url: hub.url, sent, got, states };
        }""", [token(org, sub="fan-1"), room])
        assert chat["url"] == f"ws://127.0.0.1:{hub.port}/ws"
        assert chat["got"]["message_id"] == chat["sent"]["message_id"]
        assert chat["got"]["text"] == "<b>hi</b>"  # text stays text; the page renders it
        assert chat["states"] == ["connecting", "connected", "closed"]

        await page.evaluate("""async ([secret, room]) => {
          const hub = new LiveHubClient.LiveHub({ overlay: secret });
          const r = hub.room(room);
          window.overlay = { hub, r, done: [] };
          r.on("tips.alert_done", (d) => window.overlay.done.push(d));
          const snap = new Promise((ok) => r.on("tips", ok));
          hub.connect();
          await snap;
        }""", [secret, room])
        alert = alert_of(await pay(hub, room, 1500, "Dee"))
        await page.wait_for_function("(id) => window.overlay.r.tips?.showing?.alert_id === id",
                                     arg=alert, timeout=10_000)
        after: dict[str, Any] = await page.evaluate("""async (id) => {
          const { r, hub, done } = window.overlay;
          const acked = await r.call("tips.ack", { alert_id: id });
          const pause = () => new Promise((ok) => setTimeout(ok, 50));
          for (let i = 0; i < 100 && !done.length; i++) await pause();
          const out = { advanced: acked.advanced, done, tips: r.tips, roles: hub.roles };
          hub.close();
          return out;
        }""", alert)
        assert after["advanced"] is True
        assert after["done"] == [{"alert_id": alert, "outcome": "acked"}]
        assert after["tips"]["showing"] is None
        assert after["tips"]["paid_cents"] == 1500
        assert after["roles"] == ["overlay"]
        assert errors == []
