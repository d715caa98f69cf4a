"""Operator API: users, memberships and minted tokens, and one org's admin against another."""

from __future__ import annotations

import time
import uuid

from tests.support.client import Client
from tests.support.operator import bearer, call, member_token, new_org


async def test_users_are_created_once_and_looked_up(hub_factory, owner_dsn):
    """POST /api/users creates a user, then finds the same one by external_id or email."""
    hub = hub_factory(db=True)
    ext = f"crm-{uuid.uuid4().hex[:8]}"
    email = f"{ext}@Example.com"
    made = await call(hub, "POST", "/api/users", json={"external_id": ext,
                                                        "display_name": "<b>DJ</b>"})
    assert made.status_code == 201 and made.json()["display_name"] == "<b>DJ</b>"
    user = made.json()["id"]
    again = await call(hub, "POST", "/api/users", json={"external_id": ext, "email": email})
    assert (again.status_code, again.json()["id"]) == (200, user)
    assert again.json()["email"] == email.lower()  # the missing email was filled in
    by_mail = await call(hub, "POST", "/api/users", json={"email": email.upper()})
    assert (by_mail.status_code, by_mail.json()["id"]) == (200, user)
    read = await call(hub, "GET", f"/api/users/{user}")
    assert read.json()["external_id"] == ext
    other = await call(hub, "POST", "/api/users", json={"external_id": f"x-{ext}"})
    clash = await call(hub, "POST", "/api/users", json={"external_id": f"x-{ext}",
                                                        "email": email})
    assert clash.status_code == 409, clash.text
    assert (await call(hub, "GET", f"/api/users/{other.json()['id']}")).json()["email"] is None
    assert (await call(hub, "GET", f"/api/users/{uuid.uuid4()}")).status_code == 404
    for body in ({}, {"email": "not-an-email"}, {"external_id": ""},
                 {"external_id": "a", "role": "admin"}, {"external_id": "nul\u0000"}):
        assert (await call(hub, "POST", "/api/users", json=body)).status_code == 422, body


async def test_minted_token_connects_with_its_confirmed_role(hub_factory, owner_dsn):
    """A token minted for a dj member connects and publishes as dj; roles the membership
    does not confirm are 403, non-members 404, and the lifetime is capped."""
    hub = hub_factory(db=True, HUB_MAX_TOKEN_TTL="600")
    org = await new_org(hub, slug=f"tok-{uuid.uuid4().hex[:8]}")
    ext = f"dj-{uuid.uuid4().hex[:6]}"
    user, dj = await member_token(hub, org["id"], ext, "dj", "dj")
    client = await Client.open(hub.ws_url, dj)
    try:
        room = f"org:{org['id']}"
        await client.subscribe(room)
        assert (await client.publish(room, {"song": "One More Time"}))["type"] == "published"
    finally:
        await client.close()
    path = f"/api/orgs/{org['id']}/tokens"
    by_id = await call(hub, "POST", path, json={"user_id": str(user), "role": "viewer",
                                                "ttl": 10**9})
    assert by_id.status_code == 200 and by_id.json()["sub"] == ext  # external_id wins
    assert by_id.json()["expires_at"] <= time.time() + 601
    too_high = await call(hub, "POST", path, json={"external_id": ext, "role": "admin"})
    assert too_high.status_code == 403 and "dj membership" in too_high.json()["detail"]
    stranger = await call(hub, "POST", "/api/users", json={"external_id": f"s-{ext}"})
    for body in ({"user_id": stranger.json()["id"], "role": "viewer"},
                 {"external_id": "nobody-here", "role": "viewer"}):
        assert (await call(hub, "POST", path, json=body)).status_code == 404, body
    for body in ({"external_id": ext, "role": "owner"}, {"role": "dj"},
                 {"external_id": ext, "user_id": str(user), "role": "dj"},
                 {"external_id": ext, "role": "dj", "ttl": 0}):
        assert (await call(hub, "POST", path, json=body)).status_code == 422, body
    unknown = await call(hub, "POST", f"/api/orgs/{uuid.uuid4()}/tokens",
                         json={"external_id": ext, "role": "dj"})
    assert unknown.status_code == 404


async def test_org_admins_manage_members_but_not_the_last_owner(hub_factory, owner_conn):
    """An admin token lists and changes members; only owners touch owners; the last owner
    stays (409); minting needs the platform key."""
    hub = hub_factory(db=True)
    org = await new_org(hub, slug=f"mem-{uuid.uuid4().hex[:8]}")
    tag = uuid.uuid4().hex[:6]
    owner, owner_tok = await member_token(hub, org["id"], f"own-{tag}", "owner", "admin")
    admin, admin_tok = await member_token(hub, org["id"], f"adm-{tag}", "admin", "admin")
    fan = (await call(hub, "POST", "/api/users", json={"external_id": f"fan-{tag}"})).json()["id"]
    members = f"/api/orgs/{org['id']}/members"
    as_admin = bearer(admin_tok)
    put = await call(hub, "PUT", f"{members}/{fan}", headers=as_admin, json={"role": "dj"})
    assert put.status_code == 200 and put.json()["previous_role"] is None
    listed = await call(hub, "GET", members, headers=as_admin)
    assert {(m["external_id"], m["role"]) for m in listed.json()["members"]} == {
        (f"own-{tag}", "owner"), (f"adm-{tag}", "admin"), (f"fan-{tag}", "dj")}
    for method, body in (("PUT", {"role": "admin"}), ("DELETE", None)):
        refused = await call(hub, method, f"{members}/{owner}", headers=as_admin, json=body)
        assert refused.status_code == 403, refused.text
    assert (await call(hub, "PUT", f"{members}/{fan}", headers=as_admin,
                       json={"role": "owner"})).status_code == 403
    as_owner = bearer(owner_tok)
    for method, body in (("PUT", {"role": "admin"}), ("DELETE", None)):
        last = await call(hub, method, f"{members}/{owner}", headers=as_owner, json=body)
        assert last.status_code == 409, last.text
    assert (await call(hub, "DELETE", f"{members}/{fan}", headers=as_admin)).status_code == 204
    assert (await call(hub, "DELETE", f"{members}/{fan}", headers=as_admin)).status_code == 404
    mint = await call(hub, "POST", f"/api/orgs/{org['id']}/tokens", headers=as_admin,
                      json={"user_id": str(admin), "role": "admin"})
    assert mint.status_code == 403
    role = await owner_conn.fetchval("SELECT role FROM memberships WHERE user_id = $1", owner)
    assert role == "owner"
    audit = await owner_conn.fetch(
        "SELECT actor_sub, action FROM audit_log WHERE organization_id = $1"
        " AND action LIKE 'membership.%' AND actor_sub IS NOT NULL ORDER BY id",
        uuid.UUID(org["id"]))
    assert [(r["actor_sub"], r["action"]) for r in audit] == [
        (f"adm-{tag}", "membership.role"), (f"adm-{tag}", "membership.remove")]


async def test_an_org_admin_gets_404_on_every_other_org_route(hub_factory, owner_conn):
    """Org A's admin token answers 404 on every org-B route and changes nothing there."""
    hub = hub_factory(db=True)
    a = await new_org(hub, slug=f"a-{uuid.uuid4().hex[:8]}")
    b = await new_org(hub, slug=f"b-{uuid.uuid4().hex[:8]}", tip_priority_cents=100)
    tag = uuid.uuid4().hex[:6]
    _, a_admin = await member_token(hub, a["id"], f"a-{tag}", "owner", "admin")
    b_user, _ = await member_token(hub, b["id"], f"b-{tag}", "owner", "viewer")
    before = await _snapshot(owner_conn, uuid.UUID(b["id"]))
    org_b = f"/api/orgs/{b['id']}"
    attempts = [("GET", org_b, None), ("PATCH", org_b, {"name": "pwned", "blocked_words": ["x"]}),
                ("GET", f"{org_b}/members", None),
                ("PUT", f"{org_b}/members/{b_user}", {"role": "viewer"}),
                ("DELETE", f"{org_b}/members/{b_user}", None),
                ("POST", f"{org_b}/tokens", {"external_id": f"b-{tag}", "role": "admin"})]
    for method, path, body in attempts:
        answer = await call(hub, method, path, headers=bearer(a_admin), json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "pwned" not in answer.text and f"b-{tag}" not in answer.text
    assert await _snapshot(owner_conn, uuid.UUID(b["id"])) == before


async def _snapshot(conn, org: uuid.UUID) -> tuple[object, ...]:
    """Org B as the owner sees it: its row, members, chat settings and audit trail."""
    return (
        tuple(await conn.fetchrow("SELECT * FROM organizations WHERE id = $1", org)),
        [tuple(r) for r in await conn.fetch(
            "SELECT user_id, role FROM memberships WHERE organization_id = $1 ORDER BY 1", org)],
        await conn.fetchval("SELECT count(*) FROM chat_settings WHERE organization_id = $1", org),
        await conn.fetchval("SELECT count(*) FROM audit_log WHERE organization_id = $1", org))
