"""Audited staff actions record the token's subject and link its user.

With Postgres a token's staff roles count only when a membership confirms them, so
a UUID subject with no users row acts as a viewer: its staff action is refused and
nothing is audited. That an audit write never fails the action it records is shown
at the persistence level (tests/persistence/test_audit_never_fails.py).
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.support.client import Client, token
from tests.support.members import add_member


async def add_user(owner_conn: asyncpg.Connection, org: uuid.UUID, role: str) -> uuid.UUID:
    """A users row and membership: the token subject of a known staff member.

    An admin membership confirms every staff role the tests' tokens claim.
    """
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


@pytest.fixture(params=["uuid", "external"])
async def staff_sub(request: pytest.FixtureRequest, owner_conn: asyncpg.Connection,
                    owner_dsn: str, event: tuple[uuid.UUID, uuid.UUID]
                    ) -> tuple[str, uuid.UUID | None]:
    """A staff subject: a user's UUID, or an external id mapped to a user; and its user."""
    org, _ = event
    if request.param == "uuid":
        user = await add_user(owner_conn, org, "admin")
        return str(user), user
    sub = f"ext-{uuid.uuid4().hex[:8]}"
    return sub, await add_member(owner_dsn, org, sub, "admin")


async def test_unknown_uuid_subject_cannot_act_as_staff_and_audits_nothing(
        hub_factory, event, owner_conn):
    """A dj token whose UUID subject has no users row acts as a viewer: 4403, no audit row."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    dj = await Client.open(hub.ws_url, token(org, sub=str(uuid.uuid4()), roles=("dj",)))
    made = await fan.call(room, "requests.submit", {"title": "Song"})
    refused = await dj.call(room, "requests.accept", {"request_id": made["request"]["id"],
                                                      "version": made["version"]},
                            expect_error=True)
    assert refused["code"] == 4403
    assert await trail(owner_conn, org, "requests.accepted") == []
    await fan.close()
    await dj.close()


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
    signed = await singer.call(room, "karaoke.signup", {"singer": "Ann", "song": "One"})
    state = await host.call(room, "karaoke.next", {"version": signed["version"]})
    assert state["now_singing"]["singer"] == "Ann"
    await host.call(room, "karaoke.settings", {"max_active": 2, "version": state["version"]})
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
