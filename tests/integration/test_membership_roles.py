"""With Postgres, staff roles in a token count only while the membership confirms them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import add_member

FAST = {"HUB_PUBLISH_RATE": "1000", "HUB_PUBLISH_BURST": "1000"}  # the polls publish often


async def try_publish(client: Client, room: str, n: int,
                      seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Publish and return the answer: `published`, or the `error` frame.

    Other frames read on the way (room messages, `roles`) go to ``seen``.
    """
    await client.send({"type": "publish", "room": room, "data": {"n": n}, "id": n})
    while True:
        frame = await client.recv(timeout=10)
        if frame.get("id") == n and frame["type"] in {"published", "error"}:
            return frame
        if seen is not None:
            seen.append(frame)


async def seconds_until_forbidden(client: Client, room: str, since: float,
                                  seen: list[dict[str, Any]] | None = None) -> float:
    """Poll with publishes until one is refused; seconds from ``since`` to that refusal."""
    deadline = time.monotonic() + 10
    n = 1000
    while time.monotonic() < deadline:
        n += 1
        answer = await try_publish(client, room, n, seen)
        if answer["type"] == "error":
            assert answer["code"] == 4403, answer
            return time.monotonic() - since
        await asyncio.sleep(0.02)
    raise AssertionError("the connection kept its staff powers for 10 s")


async def api(hub: HubProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, headers={"X-API-Key": API_KEY},
                                 timeout=10) as http:
        return await http.request(method, path, **kwargs)


async def test_demotion_on_node_a_reaches_dj_on_node_b_within_1s(hub_factory, event,
                                                                 owner_dsn):
    """A DJ on node B, demoted through the API on node A, loses DJ powers within 1 s."""
    org, _ = event
    node_a, node_b = hub_factory(db=True, **FAST), hub_factory(db=True, **FAST)
    user = await add_member(owner_dsn, org, "dj-demoted", "dj")  # sub is the external id
    dj = await Client.open(node_b.ws_url, token(org, sub="dj-demoted", roles=("dj",)))
    room = f"org:{org}"
    await dj.subscribe(room)
    assert (await try_publish(dj, room, 1))["type"] == "published"
    started = time.monotonic()
    resp = await api(node_a, "PUT", f"/api/orgs/{org}/members/{user}", json={"role": "viewer"})
    assert resp.status_code == 200 and resp.json()["previous_role"] == "dj"
    seen: list[dict[str, Any]] = []
    elapsed = await seconds_until_forbidden(dj, room, started, seen)
    assert elapsed < 1.0, f"demotion took {elapsed:.2f} s to reach node B"
    assert {"type": "roles", "roles": ["viewer"]} in seen
    # A fresh connection with the same token is a viewer too (no stale cache on either node).
    for node in (node_a, node_b):
        again = await Client.open(node.ws_url, token(org, sub="dj-demoted", roles=("dj",)))
        assert (await try_publish(again, room, 2))["code"] == 4403
        await again.close()
    await dj.close()


async def test_removal_reaches_open_connections_within_1s(hub_factory, event, owner_dsn):
    """Removing a moderator (uuid sub) from the org takes their powers on every node."""
    org, _ = event
    node_a, node_b = hub_factory(db=True, **FAST), hub_factory(db=True, **FAST)
    user = uuid.uuid4()
    await add_member(owner_dsn, org, str(user), "moderator")
    tok = token(org, sub=str(user), roles=("moderator",))
    mods = [await Client.open(node.ws_url, tok) for node in (node_a, node_b)]
    room = f"org:{org}"
    for n, mod in enumerate(mods):
        await mod.subscribe(room)
        assert (await try_publish(mod, room, n + 1))["type"] == "published"
    started = time.monotonic()
    resp = await api(node_a, "DELETE", f"/api/orgs/{org}/members/{user}")
    assert resp.status_code == 204
    for mod in mods:
        elapsed = await seconds_until_forbidden(mod, room, started)
        assert elapsed < 1.0, f"removal took {elapsed:.2f} s"
    again = await api(node_a, "DELETE", f"/api/orgs/{org}/members/{user}")
    assert again.status_code == 404
    for mod in mods:
        await mod.close()


async def test_viewer_needs_no_membership(hub_factory, event):
    """A viewer token with no user or membership row subscribes and chats as before."""
    org, _ = event
    hub = hub_factory(db=True, **FAST)
    fan = await Client.open(hub.ws_url, token(org, sub="walk-in"))
    room = f"org:{org}"
    await fan.subscribe(room)
    await fan.send({"type": "chat", "room": room, "text": "hello", "id": 3})
    assert (await fan.recv("chat_sent"))["id"] == 3
    await fan.close()


async def test_staff_token_without_membership_acts_as_viewer(hub_factory, event, owner_dsn):
    """Staff roles with no membership row, or one that does not confirm them, count for
    nothing: the connection is a viewer (it may subscribe and chat, not publish)."""
    org, _ = event
    hub = hub_factory(db=True, **FAST)
    await add_member(owner_dsn, org, "just-a-fan", "viewer")
    await add_member(owner_dsn, org, "the-dj", "dj")
    room = f"org:{org}"
    for sub, roles in (("nobody", ("admin",)), ("just-a-fan", ("dj", "admin")),
                       ("the-dj", ("admin",))):
        client = await Client.open(hub.ws_url, token(org, sub=sub, roles=roles))
        await client.subscribe(room)
        answer = await try_publish(client, room, 1)
        assert answer["type"] == "error" and answer["code"] == 4403, (sub, answer)
        await client.send({"type": "chat", "room": room, "text": f"hi from {sub}", "id": 2})
        assert (await client.recv("chat_sent"))["id"] == 2
        await client.close()
    # The owner of the org confirms any staff role.
    await add_member(owner_dsn, org, "the-owner", "owner")
    owner = await Client.open(hub.ws_url, token(org, sub="the-owner", roles=("admin",)))
    assert (await try_publish(owner, room, 1))["type"] == "published"
    await owner.close()


async def test_refresh_cannot_add_unconfirmed_roles(hub_factory, event, owner_dsn):
    """A refresh token claiming admin for a dj member is confirmed down to dj."""
    org, _ = event
    hub = hub_factory(db=True, **FAST)
    await add_member(owner_dsn, org, "dj-up", "dj")
    client = await Client.open(hub.ws_url, token(org, sub="dj-up", roles=("dj",)))
    await client.send({"type": "refresh", "id": 1,
                       "token": token(org, sub="dj-up", roles=("dj", "admin"))})
    answer = await client.recv("refreshed")
    assert answer["roles"] == ["dj"]
    await client.close()


async def test_change_without_a_notice_still_lands_within_the_cache_ttl(hub_factory, event,
                                                                        owner_dsn, owner_conn):
    """A demotion written straight to Postgres (no notice sent) reaches an open connection
    within HUB_ROLE_CACHE_TTL, through the periodic re-check."""
    org, _ = event
    hub = hub_factory(db=True, HUB_ROLE_CACHE_TTL="1", **FAST)
    user = await add_member(owner_dsn, org, "dj-quiet", "dj")
    dj = await Client.open(hub.ws_url, token(org, sub="dj-quiet", roles=("dj",)))
    room = f"org:{org}"
    await dj.subscribe(room)
    assert (await try_publish(dj, room, 1))["type"] == "published"
    started = time.monotonic()
    await owner_conn.execute("UPDATE memberships SET role = 'viewer' WHERE user_id = $1", user)
    elapsed = await seconds_until_forbidden(dj, room, started)
    assert elapsed < 3.0, f"the re-check took {elapsed:.2f} s"
    await dj.close()
