"""Karaoke host actions carry the queue version: a stale one is refused with the state."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.support.client import Client, token
from tests.support.members import add_member

FAST = {"HUB_PUBLISH_RATE": "1000", "HUB_PUBLISH_BURST": "1000"}


async def answers(client: Client, room: str,
                  calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Send the call frames back to back (pipelined); their result or error frames, in
    the order sent, skipping room traffic."""
    for n, (method, params) in enumerate(calls, start=1):
        await client.send({"type": "call", "room": room, "method": method, "params": params,
                           "id": n})
    got: dict[int, dict[str, Any]] = {}

    async def read() -> None:
        while len(got) < len(calls):
            frame: dict[str, Any] = json.loads(await client.ws.recv())
            if frame["type"] in {"result", "error"} and isinstance(frame.get("id"), int):
                got[frame["id"]] = frame

    await asyncio.wait_for(read(), 10)
    return [got[n] for n in range(1, len(calls) + 1)]


async def answer(client: Client, room: str, method: str,
                 params: dict[str, Any]) -> dict[str, Any]:
    return (await answers(client, room, [(method, params)]))[0]


async def queue_of_three(ws_url: str, org: uuid.UUID, room: str) -> tuple[list[str], int]:
    """Ann, Bob and Cat sign up; their signup ids in order and the queue version."""
    ids, version = [], 0
    for name in ("ann", "bob", "cat"):
        singer = await Client.open(ws_url, token(org, sub=name))
        res = await singer.call(room, "karaoke.signup", {"singer": name, "song": "Song"})
        ids.append(res["signup_id"])
        version = res["version"]
        await singer.close()
    return ids, version


async def test_two_hosts_pressing_next_together_advance_one_singer(hub_factory, event,
                                                                    owner_dsn):
    """Two hosts on two nodes send `next` against one version: one applies, one gets 4412."""
    org, ev = event
    room = f"event:{ev}"
    hubs = [hub_factory(db=True, **FAST), hub_factory(db=True, **FAST)]
    ids, version = await queue_of_three(hubs[0].ws_url, org, room)
    for n in range(len(hubs)):
        await add_member(owner_dsn, org, f"host{n}", "dj")
    hosts = [await Client.open(h.ws_url, token(org, sub=f"host{n}", roles=("dj",)))
             for n, h in enumerate(hubs)]
    frames = await asyncio.gather(*(answer(h, room, "karaoke.next", {"version": version})
                                    for h in hosts))
    applied = [f for f in frames if f["type"] == "result"]
    refused = [f for f in frames if f["type"] == "error"]
    assert len(applied) == 1 and len(refused) == 1, frames
    state = applied[0]["result"]
    assert state["now_singing"]["signup_id"] == ids[0]  # one singer advanced, not two
    assert [e["signup_id"] for e in state["queue"]] == ids[1:]
    assert state["version"] == version + 1
    assert refused[0]["code"] == 4412
    assert refused[0]["state"] == state  # the current queue, to retry against
    # Pipelined on one socket: the second frame carries the version the first used up.
    first, second = await answers(hosts[0], room, [
        ("karaoke.next", {"version": state["version"]})] * 2)
    assert first["type"] == "result" and second["type"] == "error"
    assert second["code"] == 4412
    assert first["result"]["now_singing"]["signup_id"] == ids[1]
    for h in hosts:
        await h.close()


async def test_every_host_action_refuses_a_stale_version_and_changes_nothing(
        hub_factory, event, owner_conn, owner_dsn):
    """skip, sung, hold, release, settings, next and move with an old version: 4412, no change."""
    org, ev = event
    room = f"event:{ev}"
    hub = hub_factory(db=True, **FAST)
    ids, version = await queue_of_three(hub.ws_url, org, room)
    await add_member(owner_dsn, org, "host", "dj")
    host = await Client.open(hub.ws_url, token(org, sub="host", roles=("dj",)))
    held = await host.call(room, "karaoke.hold", {"singer_sub": "cat", "version": version})
    current = held
    stale = version  # what a second host still shows
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("next", {}), ("skip", {"signup_id": ids[0]}), ("sung", {"signup_id": ids[1]}),
        ("hold", {"singer_sub": "bob"}), ("release", {"singer_sub": "cat"}),
        ("settings", {"max_active": 5}), ("move", {"signup_id": ids[2], "to_index": 0}),
        ("next", {"version": stale + 100}),  # a version from the future is stale too
    ]
    for method, params in attempts:
        frame = await answer(host, room, f"karaoke.{method}", {"version": stale, **params})
        assert frame["type"] == "error" and frame["code"] == 4412, (method, frame)
        assert frame["state"] == current
    missing = await answer(host, room, "karaoke.next", {})
    assert missing["code"] == 4402  # the version is required
    assert await owner_conn.fetchval(
        "SELECT version FROM karaoke_queues WHERE event_id = $1", ev) == current["version"]
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM karaoke_signups WHERE event_id = $1 AND status = 'waiting'",
        ev) == 3
    await host.close()
