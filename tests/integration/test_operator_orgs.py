"""Operator API: organizations created, read and changed over HTTP, without SQL."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.client import Client
from tests.support.operator import bearer, call, member_token, new_org

HOSTS = {"HUB_PRODUCT_HOSTS": "tips.example.com=tipjar, Dash.Example.com.=djdash"}
SCRIPT = '<script>alert("x")</script> Club \\ Nova'


async def test_create_read_update_round_trip(hub_factory, owner_conn):
    """An org is created with the key, read back with its brand, and changed field by field."""
    hub = hub_factory(db=True, **HOSTS)
    slug = f"nova-{uuid.uuid4().hex[:8]}"
    org = await new_org(hub, name=SCRIPT, slug=slug, product_context="m10dj",
                        tip_priority_cents=500)
    assert (org["name"], org["slug"], org["product_context"], org["brand"]) == (
        SCRIPT, slug, "m10dj", "m10dj")
    assert (org["tip_priority_cents"], org["blocked_words"], org["blocked_action"]) == (
        500, [], "reject")
    stored = await owner_conn.fetchrow("SELECT name, slug FROM organizations WHERE id = $1",
                                       uuid.UUID(org["id"]))
    assert (stored["name"], stored["slug"]) == (SCRIPT, slug)  # text, stored as given
    path = f"/api/orgs/{org['id']}"
    read = await call(hub, "GET", path)
    assert read.status_code == 200 and read.headers["content-type"].startswith("application/json")
    assert json.loads(read.text)["name"] == SCRIPT  # a JSON string, quotes escaped
    branded = await call(hub, "GET", path, headers={"X-API-Key": "test-api-key",
                                                    "Host": "tips.example.com:443"})
    assert (branded.json()["brand"], branded.json()["product_context"]) == ("tipjar", "m10dj")
    changed = await call(hub, "PATCH", path, json={
        "name": "Club Nova", "product_context": "djdash", "tip_priority_cents": 1500,
        "sms_number": f"+1555{uuid.uuid4().int % 10**7:07d}", "blocked_words": [" Bad ", "worse"],
        "blocked_action": "hold"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["product_context"], body["tip_priority_cents"]) == (
        "Club Nova", "djdash", 1500)
    assert (body["blocked_words"], body["blocked_action"]) == (["bad", "worse"], "hold")
    only_action = await call(hub, "PATCH", path, json={"blocked_action": "reject"})
    assert only_action.json()["blocked_words"] == ["bad", "worse"]  # the list stays
    cleared = await call(hub, "PATCH", path, json={"sms_number": None})
    assert cleared.json()["sms_number"] is None
    audits = await owner_conn.fetch(
        "SELECT action, detail FROM audit_log WHERE organization_id = $1 ORDER BY id",
        uuid.UUID(org["id"]))
    actions = [r["action"] for r in audits]
    assert actions == ["org.create", "org.update", "chat.blocked_words", "chat.blocked_words",
                       "org.update"]
    assert json.loads(audits[1]["detail"])["tip_priority_cents"] == {"from": 500, "to": 1500}


async def test_blocked_words_set_over_http_hold_chat(hub_factory, owner_conn):
    """Blocked words set with PATCH reach the chat service: a matching message is held."""
    hub = hub_factory(db=True)
    org = await new_org(hub, slug=f"chat-{uuid.uuid4().hex[:8]}")
    event = uuid.uuid4()
    await owner_conn.execute("INSERT INTO events (id, organization_id, title, status)"
                             " VALUES ($1, $2, 'Friday', 'live')", event, uuid.UUID(org["id"]))
    changed = await call(hub, "PATCH", f"/api/orgs/{org['id']}",
                         json={"blocked_words": ["spoiler"], "blocked_action": "hold"})
    assert changed.status_code == 200, changed.text
    _, fan = await member_token(hub, org["id"], f"fan-{uuid.uuid4().hex[:6]}", "viewer",
                                "viewer")
    client = await Client.open(hub.ws_url, fan)
    try:
        await client.send({"type": "chat", "room": f"event:{event}", "text": "big SPOILER"})
        sent = await client.recv("chat_sent")
    finally:
        await client.close()
    assert sent["status"] == "held"


async def test_duplicates_unknowns_and_bad_values_are_4xx(hub_factory, owner_conn):
    """Duplicate slug 409, unknown org 404, bad enums and values 422, non-JSON 400."""
    hub = hub_factory(db=True)
    slug = f"dup-{uuid.uuid4().hex[:8]}"
    first = await new_org(hub, slug=slug)
    again = await call(hub, "POST", "/api/orgs",
                       json={"name": "Other", "product_context": "djdash", "slug": slug})
    assert (again.status_code, again.json()["detail"]) == (409, "slug already taken")
    other = await new_org(hub, slug=f"dup2-{uuid.uuid4().hex[:8]}")
    taken = await call(hub, "PATCH", f"/api/orgs/{other['id']}", json={"slug": slug})
    assert taken.status_code == 409
    # Two orgs named alike get distinct derived slugs.
    twins = [await new_org(hub, name="Same Name Bar") for _ in range(2)]
    assert twins[0]["slug"] != twins[1]["slug"]
    assert all(t["slug"].startswith("same-name-bar") for t in twins)
    unknown = uuid.uuid4()
    assert (await call(hub, "GET", f"/api/orgs/{unknown}")).status_code == 404
    assert (await call(hub, "PATCH", f"/api/orgs/{unknown}", json={"name": "x"})).status_code == 404
    assert (await call(hub, "GET", f"/api/orgs/{unknown}/members")).status_code == 404
    bad = [{"name": "x", "product_context": "spotify"},
           {"name": "x", "product_context": "djdash", "slug": "UPPER"},
           {"name": "x", "product_context": "djdash", "slug": "ab"},
           {"name": "", "product_context": "djdash"},
           {"name": "x", "product_context": "djdash", "tip_priority_cents": -1},
           {"name": "x", "product_context": "djdash", "sms_number": "5551234"},
           {"name": "x", "product_context": "djdash", "owner_id": str(uuid.uuid4())},
           {"name": "nul\u0000byte", "product_context": "djdash"}]
    for body in bad:
        answer = await call(hub, "POST", "/api/orgs", json=body)
        assert answer.status_code == 422, (body, answer.text)
    for body in ({"blocked_action": "delete"}, {"tip_priority_cents": 2**40},
                 {"blocked_words": ["x" * 65]}, {"product_context": None}):
        answer = await call(hub, "PATCH", f"/api/orgs/{first['id']}", json=body)
        assert answer.status_code == 422, (body, answer.text)
    garbage = await call(hub, "POST", "/api/orgs", content=b"{not json")
    assert garbage.status_code == 400
    anonymous = await call(hub, "POST", "/api/orgs", headers={},
                           json={"name": "x", "product_context": "djdash"})
    assert anonymous.status_code == 401
    count = await owner_conn.fetchval("SELECT count(*) FROM organizations WHERE name = 'x'")
    assert count == 0
    row = await owner_conn.fetchrow("SELECT slug, tip_priority_cents FROM organizations"
                                    " WHERE id = $1", uuid.UUID(first["id"]))
    assert (row["slug"], row["tip_priority_cents"]) == (slug, None)  # refused PATCHes wrote nothing


async def test_org_admin_token_reads_and_updates_its_own_org(hub_factory, owner_dsn):
    """An owner's or admin's token reads and changes its org; a dj's token gets 403."""
    hub = hub_factory(db=True)
    org = await new_org(hub, slug=f"own-{uuid.uuid4().hex[:8]}")
    _, boss = await member_token(hub, org["id"], f"boss-{uuid.uuid4().hex[:6]}", "owner", "admin")
    _, dj = await member_token(hub, org["id"], f"dj-{uuid.uuid4().hex[:6]}", "dj", "dj")
    path = f"/api/orgs/{org['id']}"
    assert (await call(hub, "GET", path, headers=bearer(boss))).json()["id"] == org["id"]
    renamed = await call(hub, "PATCH", path, headers=bearer(boss), json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    refused = await call(hub, "PATCH", path, headers=bearer(dj), json={"name": "Mine"})
    assert refused.status_code == 403
    assert (await call(hub, "GET", path, headers=bearer("not-a-token"))).status_code == 401
    assert (await call(hub, "GET", path, headers={})).status_code == 401


@pytest.mark.parametrize("text", ["tips.example.com", "TIPS.example.com:8443"])
async def test_brand_follows_host(hub_factory, owner_dsn, text):
    """The brand is the product configured for the request's host, whatever its case/port."""
    hub = hub_factory(db=True, **HOSTS)
    org = await new_org(hub, slug=f"brand-{uuid.uuid4().hex[:8]}")
    answer = await call(hub, "GET", f"/api/orgs/{org['id']}",
                        headers={"X-API-Key": "test-api-key", "Host": text})
    assert (answer.json()["brand"], answer.json()["product_context"]) == ("tipjar", "djdash")
