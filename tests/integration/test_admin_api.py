"""Back-office API: role changes are applied and audited."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.support.hubproc import API_KEY


async def test_role_change_is_written_to_audit_log(hub_factory, event, owner_conn):
    """Changing a member's role records who changed it, from what, to what."""
    org, _ = event
    hub = hub_factory(db=True)
    admin, fan = uuid.uuid4(), uuid.uuid4()
    await owner_conn.executemany("INSERT INTO users (id, display_name) VALUES ($1, $2)",
                                 [(admin, "Admin"), (fan, "Fan")])
    url = f"/api/orgs/{org}/members/{fan}"
    async with httpx.AsyncClient(base_url=hub.url, headers={"X-API-Key": API_KEY}) as http:
        first = await http.put(url, json={"role": "viewer", "actor_id": str(admin)})
        assert first.status_code == 200 and first.json()["previous_role"] is None
        promoted = await http.put(url, json={"role": "moderator", "actor_id": str(admin)})
        assert promoted.json()["previous_role"] == "viewer"
        assert (await http.put(url, json={"role": "root"})).status_code == 422
        anonymous = await httpx.AsyncClient(base_url=hub.url).put(url, json={"role": "dj"})
        assert anonymous.status_code == 401
    rows = await owner_conn.fetch(
        "SELECT actor_id, action, target, detail FROM audit_log WHERE organization_id = $1"
        " ORDER BY id", org)
    changes = [(r["actor_id"], r["action"], r["target"], json.loads(r["detail"])) for r in rows]
    assert changes == [
        (admin, "membership.role", str(fan), {"from": None, "to": "viewer"}),
        (admin, "membership.role", str(fan), {"from": "viewer", "to": "moderator"}),
    ]
    role = await owner_conn.fetchval(
        "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2", org, fan)
    assert role == "moderator"
