"""Room chat persisted in RLS-protected Postgres, through real hub processes."""

from __future__ import annotations

import shutil
import signal
import tempfile
import uuid
from pathlib import Path

import asyncpg

from hub.auth import mint_token
from tests.support.client import Client, token
from tests.support.hubproc import SECRET, HubProcess
from tests.support.members import add_member


async def rows(owner: asyncpg.Connection, room: str) -> list[asyncpg.Record]:
    return await owner.fetch(
        "SELECT id::text, client_msg_id, body, author FROM chat_messages WHERE room = $1"
        " ORDER BY id",
        room)


async def test_chat_is_stored_then_broadcast_then_acknowledged(hub_factory, event, owner_conn,
                                                               owner_dsn):
    """A chat message lands in Postgres, reaches the room, and the sender gets chat_sent."""
    org, ev = event
    hub = hub_factory(db=True)
    await add_member(owner_dsn, org, "dj-1", "dj")
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    dj = await Client.open(hub.ws_url, token(org, sub="dj-1", roles=("dj",)))
    await dj.subscribe(room)
    await fan.send({"type": "chat", "room": room, "text": "  play Freebird!  ", "id": 4})
    sent = await fan.recv("chat_sent")
    assert sent["id"] == 4 and sent["room"] == room
    msg = await dj.recv("message")
    assert msg["data"]["type"] == "chat" and msg["data"]["text"] == "play Freebird!"
    assert msg["data"]["user"] == "fan-1" and msg["data"]["message_id"] == sent["message_id"]
    stored = await rows(owner_conn, room)
    assert [(r["id"], r["body"], r["author"]) for r in stored] == [
        (sent["message_id"], "play Freebird!", "fan-1")]
    await fan.close()
    await dj.close()


async def test_acknowledged_chat_survives_sigkill(hub_factory, event, owner_conn):
    """A message acknowledged to its sender is in Postgres after SIGKILL right after the ack."""
    org, ev = event
    hub = hub_factory(db=True, HUB_CHAT_USER_BURST="100")
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    ids = [f"m-{n}" for n in range(20)]
    for client_msg_id in ids:
        await fan.send({"type": "chat", "room": room, "text": client_msg_id,
                        "client_msg_id": client_msg_id})
    acked = [(await fan.recv("chat_sent", timeout=10))["message_id"] for _ in range(5)]
    hub.proc.send_signal(signal.SIGKILL)  # no drain, no flush, no goodbye
    hub.proc.wait(10)
    stored = {r["id"] for r in await rows(owner_conn, room)}
    assert set(acked) <= stored, f"acknowledged but lost: {set(acked) - stored}"


async def test_retried_chat_is_stored_once(hub_factory, event, owner_conn):
    """Resending with the same client_msg_id (a retry after a drop) stores one row."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org))
    for _ in range(3):
        await fan.send({"type": "chat", "room": room, "text": "hi", "client_msg_id": "once"})
        await fan.recv("chat_sent")
    assert len(await rows(owner_conn, room)) == 1
    await fan.close()


async def test_late_joiner_pages_back_beyond_the_redis_window(hub_factory, event):
    """Redis keeps 5 messages; a late joiner still pages through all 30 from Postgres."""
    org, ev = event
    hub = hub_factory(db=True, HUB_HISTORY_SIZE="5", HUB_PUBLISH_BURST="100",
                      HUB_CHAT_USER_BURST="100")
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="early"))
    for n in range(30):
        await fan.send({"type": "chat", "room": room, "text": f"line {n}"})
        await fan.recv("chat_sent")
    late = await Client.open(hub.ws_url, token(org, sub="late"))
    sub = await late.subscribe(room, recover={"epoch": "whatever", "offset": 0})
    assert sub["recovered"] is False  # the Redis window cannot cover it
    pages: list[list[str]] = []
    before = None
    while True:
        await late.send({"type": "chat_history", "room": room, "before": before, "limit": 10})
        page = await late.recv("chat_page")
        pages.append([m["text"] for m in page["messages"]])
        before = page["before"]
        if before is None:
            break
    assert [len(p) for p in pages] == [10, 10, 10]
    assert [t for p in reversed(pages) for t in p] == [f"line {n}" for n in range(30)]
    await fan.close()
    await late.close()


async def test_chat_into_another_orgs_event_writes_nothing(hub_factory, event, owner_conn):
    """Another org's event answers 4404 and nothing is stored."""
    _, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    stranger = await Client.open(hub.ws_url, token(uuid.uuid4(), sub="stranger"))
    await stranger.send({"type": "chat", "room": room, "text": "spam"})
    assert (await stranger.recv("error"))["code"] == 4404
    assert await rows(owner_conn, room) == []
    await stranger.close()


async def test_chat_without_postgres_is_unavailable(hub_factory, org):
    """A rooms-only node (no Postgres) refuses chat with 4503 instead of losing it."""
    hub = hub_factory()
    fan = await Client.open(hub.ws_url, token(org))
    await fan.send({"type": "chat", "room": f"org:{org}", "text": "hello?"})
    assert (await fan.recv("error"))["code"] == 4503
    await fan.close()


async def test_hub_comes_up_on_embedded_postgres_without_database_url(org):
    """No DATABASE_URL: `hub run` starts embedded Postgres, migrates, and stores chat."""
    # mkdtemp itself is the data dir: as root, Postgres runs as nobody, who must reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="livehub-run-"))
    hub = HubProcess({"HUB_EMBEDDED_PG": "1", "HUB_PG_DATA_DIR": str(data_dir)})
    try:
        assert (data_dir / "PG_VERSION").exists()
        conn = await asyncpg.connect(_pg_url(data_dir))
        await conn.execute(
            "INSERT INTO organizations (id, name, slug, product_context) VALUES ($1, 'Solo',"
            " 'solo', 'tipjar')", org)
        fan = await Client.open(hub.ws_url, token(org, sub="solo-fan"))
        await fan.send({"type": "chat", "room": f"org:{org}", "text": "embedded!"})
        await fan.recv("chat_sent")
        assert await conn.fetchval("SELECT body FROM chat_messages") == "embedded!"
        await conn.close()
        await fan.close()
    finally:
        assert hub.stop() == 0
        assert not (data_dir / "postmaster.pid").exists(), "embedded Postgres left running"
        shutil.rmtree(data_dir, ignore_errors=True)


def _pg_url(data_dir: Path) -> str:
    port = (data_dir / "postmaster.pid").read_text().splitlines()[3]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def named(org: uuid.UUID, sub: str, name: str, roles: tuple[str, ...] = ("viewer",)) -> str:
    return mint_token(SECRET, sub=sub, org=str(org), roles=list(roles), ttl=3600, name=name)


async def test_history_and_live_chat_carry_the_name_and_whether_staff_posted(
        hub_factory, event, owner_dsn):
    """The name and the staff flag are fixed at post time and come back in history; a
    fan naming themself the host, or claiming a dj role no membership confirms, is no
    staff; a held message approved later keeps its author's name."""
    org, ev = event
    hub = hub_factory(db=True)
    await add_member(owner_dsn, org, "dj-1", "dj")
    await add_member(owner_dsn, org, "mod-1", "moderator")
    room = f"event:{ev}"
    dj = await Client.open(hub.ws_url, named(org, "dj-1", "DJ Ann", ("dj",)))
    mod = await Client.open(hub.ws_url, token(org, sub="mod-1", roles=("moderator",)))
    poser = await Client.open(hub.ws_url, named(org, "fan-1", "DJ Ann (host)", ("dj",)))
    fan = await Client.open(hub.ws_url, named(org, "fan-2", "<b>Bo</b>"))
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    await mod.call(room, "moderation.blocked_words", {"words": ["later"], "action": "hold"})
    for client, text in ((dj, "welcome"), (poser, "I am the host"), (fan, "see you later")):
        await client.send({"type": "chat", "room": room, "text": text})
        await client.recv("chat_sent")
    live = [(await watcher.recv("message"))["data"] for _ in range(2)]
    assert [(m["text"], m["name"], m["staff"]) for m in live] == [
        ("welcome", "DJ Ann", True), ("I am the host", "DJ Ann (host)", False)]
    held = (await mod.call(room, "moderation.held"))["messages"]
    await mod.call(room, "moderation.approve", {"message_id": held[0]["message_id"]})
    approved = (await watcher.recv("message"))["data"]
    assert (approved["name"], approved["staff"]) == ("<b>Bo</b>", False)
    late = await Client.open(hub.ws_url, token(org, sub="late"))
    await late.send({"type": "chat_history", "room": room})
    page = await late.recv("chat_page")
    assert [(m["user"], m["name"], m["staff"]) for m in page["messages"]] == [
        ("dj-1", "DJ Ann", True), ("fan-1", "DJ Ann (host)", False),
        ("fan-2", "<b>Bo</b>", False)]
    for client in (dj, mod, poser, fan, watcher, late):
        await client.close()
