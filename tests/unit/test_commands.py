"""hub.commands without sockets: a plain object stands in for the connection, the node
runs on the in-process broker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.auth import mint_token, verify_token
from hub.commands import Commands
from hub.expiry import ExpiryWheel
from hub.session import Limits, Reply, Session
from rooms.directory import MemoryDirectory
from rooms.memory_broker import MemoryBroker
from rooms.node import Node
from rooms.presence import MemoryPresence
from rooms.principal import Principal
from rooms.roles import Role

SECRET = "commands-test-secret-long-enough-for-hs256"
ORG, OTHER = uuid.uuid4(), uuid.uuid4()
OTHERS_EVENT = uuid.uuid4()


class Peer:
    """What a command sees of a connection: a subscriber that is also sent replies."""

    def __init__(self, principal: Principal) -> None:
        self.client_id = principal.client_id
        self.session: Session | None = Session(principal, Limits())
        self.closing = False
        self.frames: list[dict[str, Any]] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))

    def deliver(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))


async def _confirm(principal: Principal) -> Principal:
    return principal


@pytest.fixture
async def runner() -> AsyncIterator[Commands]:
    node = Node(MemoryBroker(), MemoryPresence(), node_id="commands-test")
    await node.start()
    directory = MemoryDirectory()
    await directory.register_event(OTHERS_EVENT, OTHER)
    yield Commands(node, lambda: directory, lambda: None,
                   lambda token: verify_token(SECRET, token), _confirm, ExpiryWheel(time.time()))
    await node.close()


def peer(*roles: Role, sub: str = "fan") -> Peer:
    return Peer(Principal(sub=sub, org=ORG, roles=frozenset(roles or {Role.VIEWER}),
                          exp=int(time.time()) + 600, client_id="c1"))


async def run(runner: Commands, p: Peer, **frame: Any) -> dict[str, Any]:
    """Feed one frame through the session and, if it is a command, run it."""
    assert p.session is not None
    command = p.session.receive(json.dumps(frame).encode())
    before = len(p.frames)
    if isinstance(command, Reply):
        p.send(command.frame)
    else:
        await asyncio.wait_for(runner.run(p, command), 5)
    assert len(p.frames) > before, "no answer"
    return p.frames[-1]


async def test_read_pipelined_behind_a_refused_subscribe_is_refused(runner: Commands) -> None:
    """subscribe to another org's event, then history of it: 4404, then 4405, no data."""
    fan = peer()
    room = f"event:{OTHERS_EVENT}"
    assert fan.session is not None
    subscribe = fan.session.receive(json.dumps({"type": "subscribe", "room": room,
                                                "id": 1}).encode())
    history = fan.session.receive(json.dumps({"type": "history", "room": room,
                                              "id": 2}).encode())
    assert not isinstance(subscribe, Reply) and not isinstance(history, Reply)
    await runner.run(fan, subscribe)  # both were queued before either ran
    await runner.run(fan, history)
    assert [(f["type"], f.get("code"), f.get("id")) for f in fan.frames] == [
        ("error", 4404, 1), ("error", 4405, 2)]


async def test_own_room_subscribe_then_history_and_publish(runner: Commands) -> None:
    """In its own org room a dj subscribes, publishes and reads the message back."""
    dj = peer(Role.DJ, sub="dj")
    room = f"org:{ORG}"
    assert (await run(runner, dj, type="subscribe", room=room, id=1))["type"] == "subscribed"
    seen = len(dj.frames)
    await run(runner, dj, type="publish", room=room, data={"x": 1}, id=2)
    answers = {f["type"]: f for f in dj.frames[seen:]}  # the message, and the publish's reply
    assert answers["message"]["data"] == {"x": 1} and answers["published"]["id"] == 2
    hist = await run(runner, dj, type="history", room=room, id=3)
    assert hist["type"] == "history"
    assert [p["data"] for p in hist["publications"]] == [{"x": 1}]


async def test_refresh_for_another_user_changes_nothing(runner: Commands) -> None:
    """A refresh token naming another sub is refused with 4410; the old principal stays."""
    fan = peer()
    assert fan.session is not None
    before = fan.session.principal
    other = mint_token(SECRET, sub="someone-else", org=ORG, roles=["admin"])
    err = await run(runner, fan, type="refresh", token=other, id=7)
    assert (err["type"], err["code"], err["id"]) == ("error", 4410, 7)
    assert fan.session.principal is before
    mine = mint_token(SECRET, sub="fan", org=ORG, roles=["viewer"], ttl=900)
    done = await run(runner, fan, type="refresh", token=mine, id=8)
    assert done["type"] == "refreshed" and done["exp"] > before.exp
    assert fan.session.principal.client_id == "c1"  # the connection keeps its identity


async def test_chat_without_postgres_answers_unavailable(runner: Commands) -> None:
    """A node without Postgres answers chat and calls with 4503, and nothing else changes."""
    fan = peer()
    chat = await run(runner, fan, type="chat", room=f"org:{ORG}", text="hi", id=4)
    call = await run(runner, fan, type="call", room=f"org:{ORG}", method="requests.mine", id=5)
    assert [(x["code"], x["id"]) for x in (chat, call)] == [(4503, 4), (4503, 5)]
