"""The karaoke queue service over real websockets, real hub processes, Redis and Postgres."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from persistence.chat import ChatWriter
from persistence.pool import app_dsn, create_app_pool
from rooms.codes import ServiceError
from rooms.directory import PgDirectory
from rooms.memory_broker import MemoryBroker
from rooms.names import RoomKind, RoomName
from rooms.node import Node
from rooms.presence import MemoryPresence
from rooms.principal import Principal
from rooms.roles import Role
from rooms.services.base import Context
from rooms.services.dispatch import Dispatcher
from rooms.services.karaoke import SERVICE
from tests.support.client import Client, token
from tests.support.members import add_member
from tests.unit.test_karaoke_rotation import EARLY, EARLY_ORDER, LATE, LATE_ORDER, NIGHT

FAST = {"HUB_PUBLISH_RATE": "1000", "HUB_PUBLISH_BURST": "1000"}  # hosts click a lot


class Live:
    """A subscriber that keeps the karaoke state the way a UI would: highest version wins."""

    def __init__(self, client: Client, snapshot: dict[str, Any]) -> None:
        self.client = client
        self.state = snapshot
        self.versions: list[int] = []

    @classmethod
    async def join(cls, client: Client, room: str) -> Live:
        await client.subscribe(room)
        return cls(client, await karaoke_snapshot(client))

    async def until(self, version: int) -> dict[str, Any]:
        while self.state["version"] < version:
            data = await self.client.next_event("karaoke")
            self.versions.append(data["version"])
            if data["version"] > self.state["version"]:
                self.state = {k: v for k, v in data.items() if k not in ("type", "change")}
        return self.state


async def karaoke_snapshot(client: Client) -> dict[str, Any]:
    while True:
        frame = await client.recv("snapshot")
        if frame["service"] == "karaoke":
            state: dict[str, Any] = frame["state"]
            return state


class Night:
    """The clients of one event: a host, singers on their own sockets, labels for songs."""

    def __init__(self, ws_url: str, org: uuid.UUID, room: str) -> None:
        self.ws_url, self.org, self.room = ws_url, org, room
        self.singers: dict[str, Client] = {}
        self.labels: dict[str, str] = {}
        self.host: Client | None = None
        self.version = 0  # the newest queue version this host has seen (host actions send it)

    async def open_host(self) -> Client:
        self.host = await Client.open(self.ws_url, token(self.org, sub="host", roles=("dj",)))
        return self.host

    async def act(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.host is not None
        result = await self.host.call(self.room, f"karaoke.{method}",
                                      {"version": self.version, **(params or {})})
        self.version = max(self.version, result["version"])
        return result

    async def sign(self, singer: str) -> dict[str, Any]:
        if singer not in self.singers:
            self.singers[singer] = await Client.open(self.ws_url, token(self.org, sub=singer))
        n = sum(label.startswith(singer) for label in self.labels.values()) + 1
        res = await self.singers[singer].call(self.room, "karaoke.signup",
                                              {"singer": singer.title(), "song": f"Song {n}"})
        self.labels[res["signup_id"]] = f"{singer}{n}"
        self.version = max(self.version, res["version"])
        return res

    async def refused(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.host is not None
        return await self.host.call(self.room, f"karaoke.{method}",
                                    {"version": self.version, **params}, expect_error=True)

    def order(self, state: dict[str, Any]) -> list[str]:
        return [self.labels[e["signup_id"]] for e in state["queue"]]

    def on_stage(self, state: dict[str, Any]) -> str | None:
        now = state["now_singing"]
        return None if now is None else self.labels[now["signup_id"]]

    def next_up(self, state: dict[str, Any]) -> str | None:
        nxt = state["next_up"]
        return None if nxt is None else self.labels[nxt["signup_id"]]

    async def close(self) -> None:
        for client in [*self.singers.values(), *([self.host] if self.host else [])]:
            await client.close()


@pytest.fixture
async def night(hub_factory: Any, event: tuple[uuid.UUID, uuid.UUID],
                owner_dsn: str) -> AsyncIterator[Night]:
    org, ev = event
    hub = hub_factory(db=True, **FAST)
    await add_member(owner_dsn, org, "host", "dj")  # staff roles need a membership row
    n = Night(hub.ws_url, org, f"event:{ev}")
    await n.open_host()
    yield n
    await n.close()


async def test_scripted_night_follows_fair_rotation(night: Night):
    """5 singers, several songs each, a late arrival: real signups sing in the documented order."""
    await night.act("settings", {"max_active": 3})
    for singer in EARLY:
        state_version = (await night.sign(singer))["version"]
    state = await night.act("settings", {"slot_seconds": 240})
    assert state["version"] == state_version + 1
    assert night.order(state) == EARLY_ORDER
    sung = []
    for _ in range(3):
        sung.append(night.on_stage(await night.act("next")))
    for singer in LATE:
        await night.sign(singer)
    state = await night.act("settings", {"slot_seconds": 240})
    assert night.order(state) == LATE_ORDER
    while state["queue"]:
        state = await night.act("next")
        sung.append(night.on_stage(state))
    assert sung == NIGHT
    state = await night.act("next")  # the last song ends; the stage is empty
    assert state["now_singing"] is None and state["next_up"] is None
    err = await night.refused("next", {})
    assert err["code"] == 4422


async def test_host_actions_and_hold_keep_the_singers_place(night: Night):
    """next, hold (passed over, place kept), release (same place), skip and sung."""
    for singer in ["ann", "bob", "cat", "dan"]:
        await night.sign(singer)
    state = await night.act("next")
    assert night.on_stage(state) == "ann1" and night.next_up(state) == "bob1"
    state = await night.act("hold", {"singer_sub": "bob"})
    assert night.order(state) == ["bob1", "cat1", "dan1"]
    assert night.next_up(state) == "cat1" and state["held"] == ["bob"]
    assert [e["held"] for e in state["queue"]] == [True, False, False]
    state = await night.act("next")  # ann is done; bob is passed over
    assert night.on_stage(state) == "cat1" and night.order(state) == ["bob1", "dan1"]
    assert night.next_up(state) == "dan1"
    state = await night.act("release", {"singer_sub": "bob"})
    assert night.order(state) == ["bob1", "dan1"] and night.next_up(state) == "bob1"
    assert state["held"] == []
    dan1 = state["queue"][1]["signup_id"]
    state = await night.act("skip", {"signup_id": dan1})
    assert night.order(state) == ["bob1"]
    state = await night.act("sung", {"signup_id": state["queue"][0]["signup_id"]})
    assert night.order(state) == [] and night.on_stage(state) == "cat1"
    err = await night.refused("skip", {"signup_id": dan1})
    assert err["code"] == 4422  # already out of the queue
    # Only sung songs count toward rounds: dan (skipped) is back in round 1, bob in round 2.
    await night.act("settings", {"max_active": 2})
    assert (await night.sign("dan"))["round"] == 1
    assert (await night.sign("bob"))["round"] == 2


async def test_stale_move_is_refused_with_the_current_state(night: Night):
    """A move against an old version gets 4412 and the current state; a fresh one applies."""
    for singer in ["ann", "bob", "cat"]:
        seen = (await night.sign(singer))["version"]
    current = await night.act("settings", {"slot_seconds": 120})  # someone else's change
    cat1 = current["queue"][2]["signup_id"]
    err = await night.refused("move", {"signup_id": cat1, "to_index": 0, "version": seen})
    assert err["code"] == 4412
    assert err["state"] == current
    state = await night.act("move", {"signup_id": cat1, "to_index": 0,
                                     "version": current["version"]})
    assert night.order(state) == ["cat1", "ann1", "bob1"]
    assert state["version"] == current["version"] + 1
    assert night.next_up(state) == "cat1"
    # A newcomer still goes behind the host's arrangement of round 1.
    await night.sign("dan")
    state = await night.act("settings", {"slot_seconds": 120})
    assert night.order(state) == ["cat1", "ann1", "bob1", "dan1"]


async def test_late_joiner_snapshot_equals_the_live_state(night: Night):
    """A client that watched every event and a late joiner's snapshot agree exactly."""
    watcher = await Client.open(night.ws_url, token(night.org, sub="watcher"))
    live = await Live.join(watcher, night.room)
    assert live.state["version"] == 0 and live.state["queue"] == []
    await night.act("settings", {"max_active": 2, "slot_seconds": 90})
    for singer in ["ann", "bob", "cat", "ann", "dan", "bob"]:
        await night.sign(singer)
    state = await night.act("next")
    state = await night.act("move", {"signup_id": state["queue"][-1]["signup_id"],
                                     "to_index": 1, "version": state["version"]})
    state = await night.act("hold", {"singer_sub": "cat"})
    state = await night.act("skip", {"signup_id": state["queue"][-1]["signup_id"]})
    final = await live.until(state["version"])
    assert sorted(live.versions) == list(range(1, state["version"] + 1))  # one event each
    late = await Client.open(night.ws_url, token(night.org, sub="late"))
    await late.subscribe(night.room)
    snap = await karaoke_snapshot(late)
    assert snap == final == state
    assert snap["held"] == ["cat"] and snap["now_singing"] is not None
    await watcher.close()
    await late.close()


async def test_next_up_room_event_follows_the_stage(night: Night):
    """Room events carry next_up: it moves on with `next` and skips a held singer."""
    watcher = await Client.open(night.ws_url, token(night.org, sub="watcher"))
    await watcher.subscribe(night.room)
    assert (await karaoke_snapshot(watcher))["next_up"] is None
    for singer in ["ann", "bob", "cat"]:
        await night.sign(singer)
    first = await watcher.next_event("karaoke")
    assert first["change"] == "signup" and night.next_up(first) == "ann1"
    await night.act("next")
    await night.act("hold", {"singer_sub": "bob"})
    events = [await watcher.next_event("karaoke") for _ in range(4)]
    assert [e["change"] for e in events] == ["signup", "signup", "next", "hold"]
    assert [night.next_up(e) for e in events] == ["ann1", "ann1", "bob1", "cat1"]
    assert night.on_stage(events[2]) == "ann1"
    await watcher.close()


async def test_signup_limit_and_fields(night: Night):
    """One active song per singer unless the host allows more; blank fields are refused."""
    await night.sign("ann")
    ann = night.singers["ann"]
    err = await ann.call(night.room, "karaoke.signup", {"singer": "Ann", "song": "Two"},
                         expect_error=True)
    assert err["code"] == 4422
    await night.act("settings", {"max_active": 2})
    assert (await night.sign("ann"))["round"] == 2
    err = await ann.call(night.room, "karaoke.signup", {"singer": "  ", "song": "x"},
                         expect_error=True)
    assert err["code"] == 4402
    err = await ann.call(night.room, "karaoke.settings", {"max_active": 5}, expect_error=True)
    assert err["code"] == 4403  # a fan is not a host
    err = await night.refused("settings", {"max_active": 0})
    assert err["code"] == 4402
    err = await ann.call(f"org:{night.org}", "karaoke.signup", {"singer": "A", "song": "x"},
                         expect_error=True)
    assert err["code"] == 4404  # karaoke lives in event rooms


async def test_mine_reports_place_and_wait(night: Night):
    """karaoke.mine gives each of the caller's songs its place in line and estimated wait."""
    await night.act("settings", {"max_active": 2, "slot_seconds": 60})
    for singer in ["ann", "bob", "cat", "cat"]:
        await night.sign(singer)
    await night.act("next")  # ann on stage
    cat = night.singers["cat"]
    mine = await cat.call(night.room, "karaoke.mine")
    assert [(s["place"], s["wait_seconds"]) for s in mine["songs"]] == [(2, 120), (3, 180)]
    await night.act("hold", {"singer_sub": "bob"})
    mine = await cat.call(night.room, "karaoke.mine")
    assert [(s["place"], s["wait_seconds"]) for s in mine["songs"]] == [(1, 60), (2, 120)]
    ann = await night.singers["ann"].call(night.room, "karaoke.mine")
    assert [(s["place"], s["wait_seconds"]) for s in ann["songs"]] == [(0, 0)]
    bob = await night.singers["bob"].call(night.room, "karaoke.mine")
    assert [(s["place"], s["held"]) for s in bob["songs"]] == [(1, True)]


@pytest.fixture
async def service_ctx(owner_dsn: str) -> AsyncIterator[Context]:
    pool = await asyncio.wait_for(create_app_pool(owner_dsn, app_database_url=app_dsn(
        owner_dsn), min_size=1, max_size=2), 10)
    node = Node(MemoryBroker(), MemoryPresence(), node_id="karaoke-test")
    await node.start()
    yield Context(pool, node, PgDirectory(pool), ChatWriter(pool), hooks={})
    await node.close()
    await asyncio.wait_for(pool.close(), 10)


async def test_next_up_hook_fires_when_next_up_changes(
        service_ctx: Context, event: tuple[uuid.UUID, uuid.UUID]):
    """In-process: the next_up hook gets the new next-up singer, and only on a change."""
    org, ev = event
    calls: list[dict[str, Any]] = []

    async def hook(name: str, payload: dict[str, Any]) -> None:
        assert name == "next_up"
        calls.append(payload)

    service_ctx.hooks["next_up"] = hook
    d = Dispatcher(service_ctx, [SERVICE])
    room = RoomName(RoomKind.EVENT, ev)
    host = Principal(sub="host", org=org, roles=frozenset({Role.DJ}))

    async def call(caller: Principal, method: str, params: bytes = b"{}") -> dict[str, Any]:
        out: dict[str, Any] = json.loads(await asyncio.wait_for(
            d.call(caller, room, method, params), 10))
        return out

    ann = await call(Principal(sub="ann", org=org, roles=frozenset({Role.VIEWER})),
                     "karaoke.signup", b'{"singer":"Ann","song":"Valerie"}')
    await call(Principal(sub="bob", org=org, roles=frozenset({Role.VIEWER})), "karaoke.signup",
               b'{"singer":"Bob","song":"Creep"}')  # ann stays next up: no call
    assert calls == [{"event_id": str(ev), "singer": "Ann", "signup_id": ann["signup_id"],
                      "singer_sub": "ann"}]
    state = await call(host, "karaoke.next", b'{"version":2}')
    assert [c["singer_sub"] for c in calls] == ["ann", "bob"]
    assert calls[-1]["signup_id"] == state["next_up"]["signup_id"]
    await call(host, "karaoke.settings", b'{"slot_seconds":300,"version":3}')
    assert len(calls) == 2
    with pytest.raises(ServiceError) as refused:
        await call(Principal(sub="ann", org=org, roles=frozenset({Role.VIEWER})), "karaoke.next")
    assert refused.value.code == 4403


async def test_concurrent_signups_across_two_nodes_serialize(hub_factory: Any,
                                                            event: tuple[uuid.UUID, uuid.UUID]):
    """12 singers at once on two hub processes: one version each, nobody lost, one order."""
    org, ev = event
    room = f"event:{ev}"
    hubs = [hub_factory(db=True, **FAST), hub_factory(db=True, **FAST)]
    watcher = await Client.open(hubs[1].ws_url, token(org, sub="watcher"))
    live = await Live.join(watcher, room)
    singers = [await Client.open(hubs[n % 2].ws_url, token(org, sub=f"s{n:02}"))
               for n in range(12)]
    results = await asyncio.gather(*(
        c.call(room, "karaoke.signup", {"singer": f"S{n}", "song": "Song"})
        for n, c in enumerate(singers)))
    assert sorted(r["version"] for r in results) == list(range(1, 13))
    final = await live.until(12)
    assert sorted(live.versions) == list(range(1, 13))
    by_version = sorted(results, key=lambda r: r["version"])
    # Everyone is round 1, so the queue is the commit order of the signups.
    assert [e["signup_id"] for e in final["queue"]] == [r["signup_id"] for r in by_version]
    late = await Client.open(hubs[0].ws_url, token(org, sub="late"))
    await late.subscribe(room)
    assert await karaoke_snapshot(late) == final
    for c in [*singers, watcher, late]:
        await c.close()
