"""The page shells: brand, public facts before sign-in, escaping, CSP, from a real hub."""

from __future__ import annotations

import html
import json
import re
import uuid

import httpx
import pytest

from tests.integration.test_page_security_headers import directives
from tests.support.client import token


def config_of(body: str) -> dict:
    """The JSON in <meta name="livehub" content="...">, unescaped as a browser would."""
    found = re.search(r'<meta name="livehub" content="([^"]*)">', body)
    assert found, body[:400]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture
def page_hub(hub_factory):
    return hub_factory(db=True, HUB_PRODUCT_HOSTS="tips.example.test=tipjar",
                       LIVEKIT_URL="ws://127.0.0.1:7880", LIVEKIT_API_KEY="k",
                       LIVEKIT_API_SECRET="s" * 32)


@pytest.mark.parametrize("page", ["e", "dj"])
async def test_a_public_event_page_names_its_event_and_brand(page_hub, event, page):
    """The viewer and DJ shells carry the event, its title and the org's product."""
    _, ev = event
    async with httpx.AsyncClient(base_url=page_hub.url, timeout=10) as http:
        resp = await http.get(f"/{page}/{ev}")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    config = config_of(resp.text)
    assert config["event"] == str(ev)
    assert config["title"] == "Friday" and config["status"] == "live"
    assert config["brand"] == "djdash" and config["brand_name"] == "DJ Dash"
    assert config["livekit"] is True
    assert "<title>Friday · DJ Dash</title>" in resp.text
    assert 'class="brand-djdash' in resp.text
    csp = directives(resp.headers["content-security-policy"])
    assert {"ws://127.0.0.1:7880", "http://127.0.0.1:7880"} <= set(csp["connect-src"])


async def test_the_host_name_picks_the_brand(page_hub, event):
    """A host mapped to TipJar brands the page TipJar whatever the org's product."""
    _, ev = event
    async with httpx.AsyncClient(base_url=page_hub.url, timeout=10) as http:
        resp = await http.get(f"/e/{ev}", headers={"Host": "tips.example.test"})
    assert config_of(resp.text)["brand"] == "tipjar"
    assert "<title>Friday · TipJar</title>" in resp.text


@pytest.mark.parametrize("page", ["e", "dj"])
async def test_a_private_event_shell_names_only_that_it_exists(page_hub, event, owner_conn,
                                                             page):
    """Before sign-in nothing private is shown: a private event's shell carries the event,
    its status and visibility and the brand; no title, price, features or goal."""
    _, ev = event
    await owner_conn.execute(
        "UPDATE events SET title = 'Secret birthday', visibility = 'private',"
        " ppv_price_cents = 1500, tip_goal_cents = 20000, tips_enabled = true,"
        " requests_enabled = true, karaoke_enabled = true WHERE id = $1", ev)
    async with httpx.AsyncClient(base_url=page_hub.url, timeout=10) as http:
        resp = await http.get(f"/{page}/{ev}")
    assert resp.status_code == 200
    assert "Secret birthday" not in resp.text
    assert config_of(resp.text) == {
        "page": "viewer" if page == "e" else "dj", "brand": "djdash", "brand_name": "DJ Dash",
        "event": str(ev), "title": None, "status": "live", "visibility": "private",
        "ppv_price_cents": None, "tips": False, "requests": False, "karaoke": False,
        "tip_goal_cents": None, "livekit": True}


async def test_a_hostile_title_stays_text(page_hub, event, owner_conn):
    """Markup in a title is escaped in <title> and in the config attribute."""
    _, ev = event
    evil = '"><script>alert(1)</script><meta name="livehub" content="{}'
    await owner_conn.execute("UPDATE events SET title = $2 WHERE id = $1", ev, evil)
    async with httpx.AsyncClient(base_url=page_hub.url, timeout=10) as http:
        resp = await http.get(f"/e/{ev}")
    assert "<script>alert" not in resp.text
    assert resp.text.count('<meta name="livehub"') == 1
    assert config_of(resp.text)["title"] == evil


async def test_unknown_events_and_secrets(page_hub):
    """An unknown event is a 404 shell; an unknown overlay secret an empty, quiet one."""
    async with httpx.AsyncClient(base_url=page_hub.url, timeout=10) as http:
        missing = await http.get(f"/e/{uuid.uuid4()}")
        overlay = await http.get("/overlay/not-a-secret")
        bad_id = await http.get("/e/not-a-uuid")
    assert missing.status_code == 404 and config_of(missing.text)["event"] is None
    assert overlay.status_code == 200 and config_of(overlay.text)["event"] is None
    assert bad_id.status_code in (400, 404)


async def test_a_signed_in_page_reads_a_private_events_facts(page_hub, event, owner_conn):
    """GET /api/events/{id}/page: what the shell left out, for a token that may join the
    event's room; another org's token and an unknown event are 404, no token 401."""
    org, ev = event
    await owner_conn.execute(
        "UPDATE events SET title = 'Secret birthday', visibility = 'private',"
        " tip_goal_cents = 20000, karaoke_enabled = false WHERE id = $1", ev)
    async with httpx.AsyncClient(base_url=page_hub.url, timeout=10) as http:
        def get(event_id: object, tok: str | None) -> object:
            headers = {"Authorization": f"Bearer {tok}"} if tok else {}
            return http.get(f"/api/events/{event_id}/page", headers=headers)
        mine = await get(ev, token(org, sub="fan-1"))
        assert mine.status_code == 200, mine.text
        facts = mine.json()
        assert (facts["title"], facts["visibility"], facts["tip_goal_cents"], facts["tips"],
                facts["karaoke"]) == ("Secret birthday", "private", 20000, True, False)
        theirs = await get(ev, token(uuid.uuid4(), sub="fan-1"))
        unknown = await get(uuid.uuid4(), token(org, sub="fan-1"))
        anonymous = await get(ev, None)
    assert (theirs.status_code, unknown.status_code, anonymous.status_code) == (404, 404, 401)
    assert "Secret" not in theirs.text + unknown.text + anonymous.text
