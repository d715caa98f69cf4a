"""The song request queue over real websockets, real hub processes, Redis and Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from tests.support.client import Client, api_call, token
from tests.support.ledger import ledger_row
from tests.support.members import add_member


@pytest.fixture(autouse=True)
async def djs_are_members(event: tuple[uuid.UUID, uuid.UUID], owner_dsn: str) -> None:
    """The DJ subs these tests use hold a dj membership (staff roles need one)."""
    for sub in ("dj-0", "dj-1"):
        await add_member(owner_dsn, event[0], sub, "dj")


def dj(org: uuid.UUID, sub: str = "dj-1") -> str:
    return token(org, sub=sub, roles=("dj",))


def state_of(data: dict[str, Any]) -> dict[str, Any]:
    """The queue state a ``requests`` room event (or a snapshot) carries."""
    return {k: data[k] for k in ("version", "now_playing", "queue")}


def titles(state: dict[str, Any]) -> list[str]:
    return [r["title"] for r in state["queue"]]


async def until_op(client: Client, op: str) -> dict[str, Any]:
    """The next ``requests`` room event with this op (earlier ones are skipped)."""
    while True:
        data = await client.next_event("requests")
        if data["op"] == op:
            return data


async def requests_snapshot(client: Client) -> dict[str, Any]:
    while True:
        frame = await client.recv("snapshot")
        if frame["service"] == "requests":
            state: dict[str, Any] = frame["state"]
            return state


async def test_two_spellings_of_one_song_make_one_request_with_two_votes(
        hub_factory, event, owner_conn: asyncpg.Connection):
    """"Mr. Brightside - The Killers" and "mr brightside" by "Killers" merge into one, 2 votes."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    watcher = await Client.open(hub.ws_url, dj(org))
    await watcher.subscribe(room)
    one = await Client.open(hub.ws_url, token(org, sub="fan-1"))
    two = await Client.open(hub.ws_url, token(org, sub="fan-2"))
    first = await one.call(room, "requests.submit", {"title": "Mr. Brightside - The Killers"})
    second = await two.call(room, "requests.submit",
                            {"title": "mr brightside", "artist": "Killers"})
    assert first["merged"] is False and second["merged"] is True and second["counted"] is True
    assert second["request"]["id"] == first["request"]["id"]
    voted = await until_op(watcher, "voted")
    assert [(r["title"], r["votes"]) for r in voted["queue"]] == [
        ("Mr. Brightside - The Killers", 2)]
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM song_requests WHERE event_id = $1", ev) == 1
    assert await owner_conn.fetchval(
        "SELECT count(*) FROM request_votes v JOIN song_requests r ON r.id = v.request_id"
        " WHERE r.event_id = $1", ev) == 2
    for c in (watcher, one, two):
        await c.close()


async def test_paid_request_outranks_older_unpaid_ones_until_refunded(hub_factory, event):
    """Pending payment ranks as unpaid; confirmed it goes first; refunded it goes back."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    fans = [await Client.open(hub.ws_url, token(org, sub=f"fan-{n}")) for n in range(3)]
    await fans[0].call(room, "requests.submit", {"title": "Old One", "artist": "A"})
    await fans[1].call(room, "requests.submit", {"title": "Old Two", "artist": "B"})
    paid = await fans[2].call(room, "requests.submit",
                              {"title": "Paid", "artist": "C", "amount_cents": 500})
    request_id = paid["request"]["id"]
    assert paid["request"]["payment"] == "pending_payment"
    added = await until_op(watcher, "added")
    added = await until_op(watcher, "added")
    added = await until_op(watcher, "added")
    assert titles(added) == ["Old One", "Old Two", "Paid"]

    confirm = {"request_id": request_id, "amount_cents": 500, "payment_id": "pi_1"}
    await ledger_row(hub, room, "bump", request_id, 500, "pi_1")
    resp = await api_call(hub.url, room, "requests.payment_confirmed", confirm)
    assert resp.status_code == 200, resp.text
    assert resp.json()["applied"] is True
    after_pay = await until_op(watcher, "paid")
    assert titles(after_pay) == ["Paid", "Old One", "Old Two"]
    assert after_pay["queue"][0]["payment"] == "paid"
    assert after_pay["queue"][0]["paid_cents"] == 500

    again = await api_call(hub.url, room, "requests.payment_confirmed", confirm)
    assert again.json()["applied"] is False  # a webhook delivered twice credits once
    assert again.json()["request"]["paid_cents"] == 500
    assert again.json()["version"] == after_pay["version"]

    await ledger_row(hub, room, "bump", request_id, 500, "pi_1", kind="refund",
                     refund_id="re_1")
    resp = await api_call(hub.url, room, "requests.payment_refunded",
                          {"request_id": request_id, "amount_cents": 500, "payment_id": "re_1"})
    assert resp.status_code == 200, resp.text
    after_refund = await until_op(watcher, "refunded")
    assert after_refund["version"] == after_pay["version"] + 1
    assert titles(after_refund) == ["Old One", "Old Two", "Paid"]
    assert after_refund["request"]["payment"] == "refunded"
    assert after_refund["request"]["paid_cents"] == 0
    for c in (watcher, *fans):
        await c.close()


async def test_conflicting_moves_from_one_version_one_applies_other_is_stale(
        hub_factory, event):
    """Two DJs on two nodes move from the same version: one applies, the other gets 4412."""
    org, ev = event
    hubs = [hub_factory(db=True), hub_factory(db=True)]
    room = f"event:{ev}"
    fan = await Client.open(hubs[0].ws_url, token(org, sub="fan"))
    ids = []
    for title in ("One", "Two", "Three"):
        result = await fan.call(room, "requests.submit", {"title": title, "artist": "X"})
        ids.append(result["request"]["id"])
    version = result["version"]
    djs = [await Client.open(h.ws_url, dj(org, f"dj-{n}")) for n, h in enumerate(hubs)]
    answers = await asyncio.gather(
        _call_any(djs[0], room, "requests.move",
                  {"request_id": ids[2], "position": 1, "version": version}),
        _call_any(djs[1], room, "requests.move",
                  {"request_id": ids[1], "position": 1, "version": version}))
    kinds = sorted(a["type"] for a in answers)
    assert kinds == ["error", "result"], answers
    won = next(a for a in answers if a["type"] == "result")["result"]
    lost = next(a for a in answers if a["type"] == "error")
    assert lost["code"] == 4412
    assert won["version"] == version + 1
    assert lost["state"] == won  # the loser is handed the state the winner made
    winner = ids[2] if answers[0]["type"] == "result" else ids[1]
    assert won["queue"][0]["id"] == winner
    for c in (fan, *djs):
        await c.close()


async def _call_any(client: Client, room: str, method: str,
                    params: dict[str, Any]) -> dict[str, Any]:
    """Call and return the answer frame, result or error."""
    await client.send({"type": "call", "room": room, "method": method, "params": params,
                       "id": 10_000})
    while True:
        frame = await client.recv()
        if frame.get("id") == 10_000 and frame["type"] in {"result", "error"}:
            return frame


async def test_late_joiners_snapshot_equals_the_state_watchers_built_live(hub_factory, event):
    """After submits, votes, payments and every DJ action, a late snapshot = the live state."""
    org, ev = event
    hubs = [hub_factory(db=True), hub_factory(db=True)]
    room = f"event:{ev}"
    watcher = await Client.open(hubs[0].ws_url, token(org, sub="watcher"))
    await watcher.subscribe(room)
    fans = [await Client.open(hubs[n % 2].ws_url, token(org, sub=f"fan-{n}")) for n in range(4)]
    desk = await Client.open(hubs[1].ws_url, dj(org))
    ids = []
    for n, fan in enumerate(fans):
        r = await fan.call(room, "requests.submit",
                           {"title": f"Song {n}", "artist": "Band", "note": f"for table {n}"})
        ids.append(r["request"]["id"])
    await fans[0].call(room, "requests.vote", {"request_id": ids[3]})
    await ledger_row(hubs[0], room, "bump", ids[2], 300, "pi_late")
    resp = await api_call(hubs[0].url, room, "requests.payment_confirmed",
                          {"request_id": ids[2], "amount_cents": 300, "payment_id": "pi_late"})
    v = resp.json()["version"]
    for method, params in (("accept", {"request_id": ids[1]}),
                           ("move", {"request_id": ids[0], "position": 2}),
                           ("play_now", {"request_id": ids[3]}),
                           ("decline", {"request_id": ids[2], "reason": "already played"})):
        v = (await desk.call(room, f"requests.{method}", {**params, "version": v}))["version"]
    ops = 4 + 1 + 1 + 4
    live: dict[int, dict[str, Any]] = {}
    while len(live) < ops:
        data = await watcher.next_event("requests")
        live[data["version"]] = state_of(data)
    assert sorted(live) == list(range(1, ops + 1))  # every change, each its own version
    built = live[max(live)]
    assert built["now_playing"]["title"] == "Song 3"
    assert titles(built) == ["Song 1", "Song 0"]

    late = await Client.open(hubs[1].ws_url, token(org, sub="late"))
    await late.subscribe(room)
    assert await requests_snapshot(late) == built
    for c in (watcher, desk, late, *fans):
        await c.close()


async def test_a_fan_may_have_three_queued_requests(hub_factory, event):
    """The 4th open request is refused; votes don't count; once one is played a slot frees."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="greedy"))
    other = await Client.open(hub.ws_url, token(org, sub="other"))
    desk = await Client.open(hub.ws_url, dj(org))
    theirs = await other.call(room, "requests.submit", {"title": "Theirs", "artist": "Z"})
    first = None
    for n in range(3):
        r = await fan.call(room, "requests.submit", {"title": f"Mine {n}", "artist": "Y"})
        first = first or r["request"]["id"]
    refused = await fan.call(room, "requests.submit", {"title": "One more", "artist": "Y"},
                             expect_error=True)
    assert refused["code"] == 4422
    merged = await fan.call(room, "requests.submit", {"title": "theirs", "artist": "z"})
    assert merged["merged"] is True and merged["request"]["id"] == theirs["request"]["id"]
    await desk.call(room, "requests.played", {"request_id": first, "version": merged["version"]})
    again = await fan.call(room, "requests.submit", {"title": "One more", "artist": "Y"})
    assert again["merged"] is False
    for c in (fan, other, desk):
        await c.close()


async def test_a_declined_fan_sees_the_reason(hub_factory, event):
    """The DJ's reason reaches the fan live and in requests.mine; the request leaves the queue."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    await fan.subscribe(room)
    desk = await Client.open(hub.ws_url, dj(org))
    r = await fan.call(room, "requests.submit", {"title": "Macarena", "artist": "Los del Rio"})
    await desk.call(room, "requests.decline", {"request_id": r["request"]["id"],
                                              "version": r["version"],
                                              "reason": "not at a wedding-free party"})
    seen = await until_op(fan, "declined")
    assert seen["request"]["status"] == "declined"
    assert seen["request"]["decline_reason"] == "not at a wedding-free party"
    assert seen["queue"] == []
    mine = await fan.call(room, "requests.mine")
    [item] = mine["requests"]
    assert item["request"]["decline_reason"] == "not at a wedding-free party"
    assert item["request"]["position"] is None and item["eta_seconds"] is None
    vote = await fan.call(room, "requests.vote", {"request_id": r["request"]["id"]},
                          expect_error=True)
    assert vote["code"] == 4422
    await fan.close()
    await desk.close()


async def test_voting_twice_is_a_no_op(hub_factory, event):
    """A second vote (or the submitter's own) says counted=false and changes no version."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    author = await Client.open(hub.ws_url, token(org, sub="author"))
    voter = await Client.open(hub.ws_url, token(org, sub="voter"))
    r = await author.call(room, "requests.submit", {"title": "Vogue", "artist": "Madonna"})
    request_id = r["request"]["id"]
    first = await voter.call(room, "requests.vote", {"request_id": request_id})
    assert first["counted"] is True and first["request"]["votes"] == 2
    second = await voter.call(room, "requests.vote", {"request_id": request_id})
    assert second["counted"] is False and second["request"]["votes"] == 2
    assert second["version"] == first["version"]
    own = await author.call(room, "requests.vote", {"request_id": request_id})
    assert own["counted"] is False and own["request"]["votes"] == 2
    await author.close()
    await voter.close()


async def test_mine_gives_position_and_estimated_wait(hub_factory, event):
    """Position x 210 s while queued, 0 while playing; it follows DJ changes."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fans = [await Client.open(hub.ws_url, token(org, sub=f"fan-{n}")) for n in range(3)]
    desk = await Client.open(hub.ws_url, dj(org))
    ids = [(await f.call(room, "requests.submit", {"title": f"S{n}", "artist": "A"}))
           for n, f in enumerate(fans)]
    mine = (await fans[2].call(room, "requests.mine"))["requests"]
    assert [(m["request"]["position"], m["eta_seconds"]) for m in mine] == [(3, 630)]
    state = await desk.call(room, "requests.play_now",
                            {"request_id": ids[0]["request"]["id"], "version": ids[2]["version"]})
    mine = (await fans[2].call(room, "requests.mine"))["requests"]
    assert [(m["request"]["position"], m["eta_seconds"]) for m in mine] == [(2, 420)]
    await desk.call(room, "requests.play_now",
                    {"request_id": ids[2]["request"]["id"], "version": state["version"]})
    mine = (await fans[2].call(room, "requests.mine"))["requests"]
    assert [(m["request"]["status"], m["eta_seconds"]) for m in mine] == [("playing", 0)]
    played = (await fans[0].call(room, "requests.mine"))["requests"]
    assert played[0]["request"]["status"] == "played"  # play_now closed the previous song
    for c in (desk, *fans):
        await c.close()


async def test_fans_cannot_run_the_queue_or_credit_payments(hub_factory, event):
    """DJ actions need a staff role; payment methods answer 4403 over a websocket."""
    org, ev = event
    hub = hub_factory(db=True)
    room = f"event:{ev}"
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    r = await fan.call(room, "requests.submit", {"title": "Mine", "artist": "Me"})
    accept = await fan.call(room, "requests.accept",
                            {"request_id": r["request"]["id"], "version": r["version"]},
                            expect_error=True)
    assert accept["code"] == 4403
    pay = await fan.call(room, "requests.payment_confirmed",
                         {"request_id": r["request"]["id"], "amount_cents": 10_000},
                         expect_error=True)
    assert pay["code"] == 4403
    mine = (await fan.call(room, "requests.mine"))["requests"]
    assert mine[0]["request"]["status"] == "pending" and mine[0]["request"]["paid_cents"] == 0
    await fan.close()


async def test_requests_live_in_event_rooms_only(hub_factory, event):
    """An org room has no request queue: 4404."""
    org, _ = event
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    err = await fan.call(f"org:{org}", "requests.submit", {"title": "X"}, expect_error=True)
    assert err["code"] == 4404
    await fan.close()
