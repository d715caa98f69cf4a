"""Audited staff actions succeed for any token subject, and the trail names that subject."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.support.client import Client, token


async def add_user(owner_conn: asyncpg.Connection, org: uuid.UUID, role: str) -> uuid.UUID:
    """A users row and membership: the token subject of a known staff member."""
    user = uuid.uuid4()
    await owner_conn.execute("INSERT INTO users (id, display_name) VALUES ($1, 'Staff')", user)
    await owner_conn.execute(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)",
        org, user, role)
    return user


async def trail(owner_conn: asyncpg.Connection, org: uuid.UUID,
                action: str) -> list[asyncpg.Record]:
    return await owner_conn.fetch(
        "SELECT actor_id, actor_sub FROM audit_log WHERE organization_id = $1 AND action = $2"
        " ORDER BY id", org, action)


@pytest.fixture(params=["known", "unknown"])
async def staff_sub(request: pytest.FixtureRequest, owner_conn: asyncpg.Connection,
                    event: tuple[uuid.UUID, uuid.UUID]) -> tuple[str, uuid.UUID | None]:
    """A UUID subject with (known) or without (unknown) a users row; and the expected link."""
    org, _ = event
    if request.param == "known":
        user = await add_user(owner_conn, org, "dj")
        return str(user), user
    return str(uuid.uuid4()), None


async def test_request_actions_are_audited_for_uuid_subjects(
        hub_factory, event, owner_conn, staff_sub):
    """requests.accept by a UUID subject succeeds; audit names the subject, links a user."""
    org, ev = event
    sub, linked = staff_sub
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    dj = await Client.open(hub.ws_url, token(org, sub=sub, roles=("dj",)))
    made = await fan.call(room, "requests.submit", {"title": "Song <script>x</script>"})
    state = await dj.call(room, "requests.accept", {"request_id": made["request"]["id"],
                                                    "version": made["version"]})
    assert [r["status"] for r in state["queue"]] == ["accepted"]
    rows = await trail(owner_conn, org, "requests.accepted")
    assert [(r["actor_id"], r["actor_sub"]) for r in rows] == [(linked, sub)]
    await fan.close()
    await dj.close()


async def test_karaoke_actions_are_audited_for_uuid_subjects(
        hub_factory, event, owner_conn, staff_sub):
    """karaoke.next and karaoke.settings by a UUID subject succeed and are audited."""
    org, ev = event
    sub, linked = staff_sub
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    singer = await Client.open(hub.ws_url, token(org, sub="ann"))
    host = await Client.open(hub.ws_url, token(org, sub=sub, roles=("dj",)))
    await singer.call(room, "karaoke.signup", {"singer": "Ann", "song": "One"})
    state = await host.call(room, "karaoke.next")
    assert state["now_singing"]["singer"] == "Ann"
    await host.call(room, "karaoke.settings", {"max_active": 2})
    for action in ("karaoke.next", "karaoke.settings"):
        rows = await trail(owner_conn, org, action)
        assert [(r["actor_id"], r["actor_sub"]) for r in rows] == [(linked, sub)], action
    await singer.close()
    await host.close()


async def test_moderation_actions_are_audited_for_uuid_subjects(
        hub_factory, event, owner_conn, staff_sub):
    """ban, lift and delete by a UUID subject succeed and are audited with that subject."""
    org, ev = event
    sub, linked = staff_sub
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    mod = await Client.open(hub.ws_url, token(org, sub=sub, roles=("moderator",)))
    await fan.send({"type": "chat", "room": room, "text": "hello"})
    sent = await fan.recv("chat_sent")
    assert (await mod.call(room, "moderation.delete",
                           {"message_id": sent["message_id"]}))["ok"] is True
    assert (await mod.call(room, "moderation.ban", {"user": "fan-1", "minutes": 5}))["ok"]
    assert (await mod.call(room, "moderation.lift", {"user": "fan-1"}))["ok"] is True
    for action in ("chat.delete", "chat.ban", "chat.lift"):
        rows = await trail(owner_conn, org, action)
        assert [(r["actor_id"], r["actor_sub"]) for r in rows] == [(linked, sub)], action
    await fan.close()
    await mod.close()
