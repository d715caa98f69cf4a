"""The live page's Content-Security-Policy is enforced by real Chromium."""

from __future__ import annotations

from tests.e2e.browser import chromium, needs_chromium
from tests.support.members import staff_token

pytestmark = needs_chromium

# Each way stored script could reach the DOM if live.js ever rendered data as markup. The
# CSP's Trusted Types refuse the string sinks; script-src refuses the javascript: URL.
INJECT = """() => {
  window.__violations = [];
  document.addEventListener("securitypolicyviolation",
                            (e) => window.__violations.push(e.violatedDirective));
  const tried = [];
  const attempt = (name, fn) => { try { fn(); } catch (e) { tried.push(name + ": " + e.name); } };
  attempt("innerHTML", () => {
    document.querySelector("#chat").innerHTML = '<img src=x onerror="window.__ran = 1">';
  });
  attempt("script text", () => {
    const s = document.createElement("script");
    s.append(document.createTextNode("window.__ran = 2"));
    document.body.append(s);
  });
  attempt("inline handler", () => {
    const img = document.createElement("img");
    img.setAttribute("onerror", "window.__ran = 3");
    img.src = "/no-such-image";
    document.body.append(img);
  });
  attempt("javascript: url", () => {
    const a = document.createElement("a");
    a.href = "javascript:void(window.__ran = 4)";
    document.body.append(a);
    a.click();
  });
  return tried;
}"""


async def test_csp_stops_inline_script_on_the_live_page_and_the_page_still_works(
        hub_factory, event):
    """Markup, inline script, inline handlers and javascript: URLs never run under the CSP."""
    org, ev = event
    hub = hub_factory(db=True)
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console: list[str] = []
        page.on("console", lambda msg: console.append(msg.text))
        admin = await staff_token(hub, org, "Ada", "admin")
        await page.goto(f"{hub.url}/live#token={admin}"
                        f"&room=event:{ev}")
        await page.locator("#status.on").wait_for(timeout=10_000)  # live.js runs under CSP
        assert errors == []
        # The page's own markup, style, favicon and websocket need no exception to the policy.
        assert [m for m in console if "Content Security Policy" in m
                or "TrustedHTML" in m or "Trusted Type" in m] == []
        await page.evaluate(INJECT)
        # One report per attempt (Trusted Types refuses the first three before parsing), or
        # without a CSP, the injected code runs.
        await page.wait_for_function(
            "() => window.__ran !== undefined || window.__violations.length >= 4",
            timeout=10_000)
        assert await page.evaluate("window.__ran") is None
        violated = set(await page.evaluate("window.__violations"))
        assert violated == {"require-trusted-types-for", "script-src-elem"}, violated
        assert await page.locator("#status.on").count() == 1 and errors == []
