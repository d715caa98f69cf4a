"""HTTP errors name the problem and carry a request id; nothing foreseeable is a 500."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.support.hubproc import API_KEY, HubProcess


def api(hub: HubProcess, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hub.url, timeout=10,
                             headers={"X-API-Key": API_KEY, **headers})


def assert_named(resp: httpx.Response, status: int, detail: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["detail"] == detail
    assert body["request_id"] and resp.headers["X-Request-Id"] == body["request_id"]


async def test_role_change_for_unknown_org_or_user_is_404(hub_factory, event, owner_conn):
    """PUT /api/orgs/{org}/members/{user}: an unknown org or user is a 404 that says which."""
    org, _ = event
    hub = hub_factory(db=True)
    user = uuid.uuid4()
    await owner_conn.execute("INSERT INTO users (id, display_name) VALUES ($1, 'Fan')", user)
    async with api(hub) as http:
        assert_named(await http.put(f"/api/orgs/{uuid.uuid4()}/members/{user}",
                                    json={"role": "viewer"}), 404, "unknown organization")
        assert_named(await http.put(f"/api/orgs/{org}/members/{uuid.uuid4()}",
                                    json={"role": "viewer"}), 404, "unknown user")
        ok = await http.put(f"/api/orgs/{org}/members/{user}", json={"role": "viewer"})
        assert ok.status_code == 200


async def test_service_call_for_unknown_org_is_404(hub_factory):
    """POST /api/rooms/org:{unknown}/call/moderation.slow_mode is a 404, not a 500."""
    hub = hub_factory(db=True)
    async with api(hub) as http:
        resp = await http.post(f"/api/rooms/org:{uuid.uuid4()}/call/moderation.slow_mode",
                               json={"seconds": 5})
    assert_named(resp, 404, "unknown organization")
    assert "Traceback" not in hub.log()  # foreseeable: no error logged


async def test_request_id_is_kept_only_when_plain(hub_factory):
    """A caller's plain X-Request-Id comes back; a hostile one is replaced by our own."""
    hub = hub_factory()
    async with api(hub, **{"X-API-Key": "wrong"}) as http:
        kept = await http.post("/api/rooms/org:x/publish", json={},
                               headers={"X-Request-Id": "lb-1234.abc"})
        hostile = await http.post("/api/rooms/org:x/publish", json={},
                                  headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert kept.status_code == 401 and kept.json()["request_id"] == "lb-1234.abc"
    assert kept.headers["X-Request-Id"] == "lb-1234.abc"
    rid = hostile.json()["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid) and hostile.headers["X-Request-Id"] == rid


async def test_server_api_without_key_says_disabled(hub_factory):
    """With HUB_API_KEY unset the server API answers 503 naming the setting, not 'wrong key'."""
    hub = hub_factory(HUB_API_KEY="")
    async with api(hub) as http:
        resp = await http.get(f"/api/rooms/org:{uuid.uuid4()}/presence")
    assert resp.status_code == 503
    assert "HUB_API_KEY is unset" in resp.json()["detail"]


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


async def test_metrics_names_its_charset_once(hub_factory):
    """/metrics answers the Prometheus text content type with one charset parameter."""
    hub = hub_factory()
    async with api(hub) as http:
        content_type = (await http.get("/metrics")).headers["content-type"]
    assert content_type.startswith("text/plain; version=")
    assert content_type.count("charset") == 1


async def test_publish_latency_counts_http_publishes(hub_factory, org):
    """hub_broker_publish_seconds counts publishes through the HTTP API, not only websocket."""
    hub = hub_factory()
    async with api(hub) as http:
        before = sample((await http.get("/metrics")).text, "hub_broker_publish_seconds_count")
        for i in range(3):
            assert (await http.post(f"/api/rooms/org:{org}/publish",
                                    json={"n": i})).status_code == 200
        after = sample((await http.get("/metrics")).text, "hub_broker_publish_seconds_count")
    assert after - before == 3
