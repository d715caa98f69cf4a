"""The money routes through a real hub and Postgres: cash entries by an org admin, and
the event's totals for the DJ dashboard. Probed as an attacker: other orgs' ids, wrong
roles, bad values, script in the note."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.client import Client, token
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.members import staff_token

Event = tuple[uuid.UUID, uuid.UUID]
SCRIPT = "<script>alert('cash')</script> paid at the bar"


async def manual(hub: HubProcess, ev: uuid.UUID | str, bearer: str | None,
                 body: Any) -> httpx.Response:
    headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await asyncio.wait_for(http.post(f"/api/events/{ev}/money/manual", json=body,
                                                headers=headers), 15)


async def money(hub: HubProcess, ev: uuid.UUID | str,
                headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await asyncio.wait_for(http.get(f"/api/events/{ev}/money", headers=headers), 15)


@dataclass(frozen=True)
class Two:
    """A hub, our org's event and a dj of it, and another org's event and dj."""

    hub: HubProcess
    org: uuid.UUID
    ev: uuid.UUID
    dj: str
    foreign_ev: uuid.UUID
    foreign_dj: str


@pytest.fixture
async def two(hub_factory: Any, event: Event, owner_conn: asyncpg.Connection) -> Two:
    org, ev = event
    other, other_ev = uuid.uuid4(), uuid.uuid4()
    await owner_conn.execute("INSERT INTO organizations (id, name, slug, product_context)"
                             " VALUES ($1, $2, $2, 'djdash')", other, f"other-{other.hex}")
    await owner_conn.execute("INSERT INTO events (id, organization_id, title, status)"
                             " VALUES ($1, $2, 'Other', 'live')", other_ev, other)
    hub = hub_factory(db=True)
    return Two(hub, org, ev, await staff_token(hub, org, "dj-1", "dj"), other_ev,
               await staff_token(hub, other, "dj-2", "dj"))


async def test_cash_tip_is_credited_audited_and_in_the_totals(
        hub_factory: Any, event: Event, owner_conn: asyncpg.Connection) -> None:
    """An admin's cash tip: a manual ledger row (note kept as text), the goal, the audit."""
    org, ev = event
    hub = hub_factory(db=True)
    watcher = await Client.open(hub.ws_url, token(org, sub="watcher"))
    await watcher.subscribe(f"event:{ev}")
    admin = await staff_token(hub, org, "boss", "admin")
    resp = await manual(hub, ev, admin, {"kind": "tip", "amount_cents": 2000, "note": SCRIPT,
                                         "from_name": "<b>Table 4</b>"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["payment_ref"].startswith("manual_") and out["bump"] is None
    assert (out["tip"]["tip_status"], out["tip"]["state"]["paid_cents"]) == ("paid", 2000)
    goal = await watcher.next_event("tips.goal")
    assert goal["paid_cents"] == 2000
    row = await owner_conn.fetchrow(
        "SELECT kind, amount_cents, target, source, created_by, note FROM ledger_entries"
        " WHERE event_id = $1", ev)
    assert tuple(row) == ("payment", 2000, "tip", "manual", "boss", SCRIPT)
    audited = await owner_conn.fetchrow(
        "SELECT target, detail FROM audit_log WHERE organization_id = $1"
        " AND action = 'money.manual'", org)
    assert audited["target"] == out["target_id"]
    assert json.loads(audited["detail"])["payment_ref"] == out["payment_ref"]
    dj = await staff_token(hub, org, "dj-1", "dj")
    totals = await money(hub, ev, {"Authorization": f"Bearer {dj}"})
    assert totals.status_code == 200, totals.text
    assert totals.json() | {"event_id": None} == {
        "event_id": None, "currency": "usd", "gross_cents": 2000, "fees_cents": 0,
        "refunds_cents": 0, "net_cents": 2000, "manual_cents": 2000, "payments": 1,
        "refunds": 0}
    again = await manual(hub, ev, admin, {"kind": "tip", "amount_cents": 500, "note": "x",
                                          "target": out["target_id"]})
    assert again.status_code == 409 and "already paid" in again.text  # no double credit
    await watcher.close()


async def test_cash_bump_ranks_the_request_first(
        hub_factory: Any, event: Event) -> None:
    """A manual bump on a request puts it ahead of older unpaid ones."""
    org, ev = event
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    room = f"event:{ev}"
    await fan.call(room, "requests.submit", {"title": "First", "artist": "A"})
    late = await fan.call(room, "requests.submit", {"title": "Second", "artist": "B"})
    admin = await staff_token(hub, org, "boss", "admin")
    resp = await manual(hub, ev, admin, {"kind": "bump", "amount_cents": 500, "note": "cash",
                                         "target": late["request"]["id"]})
    assert resp.status_code == 200, resp.text
    bump = resp.json()["bump"]
    assert (bump["applied"], bump["request"]["paid_cents"], bump["request"]["position"]) == (
        True, 500, 1)
    await fan.close()


async def test_a_retried_entry_records_and_credits_once(
        hub_factory: Any, event: Event, owner_conn: asyncpg.Connection) -> None:
    """The same entry_id sent again (a flaky bar Wi-Fi) answers the same and credits once,
    for a tip and for a bump; the same id with another amount is 409."""
    org, ev = event
    hub = hub_factory(db=True)
    fan = await Client.open(hub.ws_url, token(org, sub="fan"))
    request = (await fan.call(f"event:{ev}", "requests.submit", {"title": "Song"}))["request"]
    admin = await staff_token(hub, org, "boss", "admin")
    tip = {"kind": "tip", "amount_cents": 700, "note": "cash", "entry_id": str(uuid.uuid4())}
    bump = {"kind": "bump", "amount_cents": 300, "note": "cash",
            "entry_id": str(uuid.uuid4()), "target": request["id"]}
    for body in (tip, bump):
        first, again = [await manual(hub, ev, admin, body) for _ in range(2)]
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert first.json()["payment_ref"] == again.json()["payment_ref"]
        assert first.json()["target_id"] == again.json()["target_id"]
    assert (await manual(hub, ev, admin, {**tip, "amount_cents": 900})).status_code == 409
    rows = await owner_conn.fetch("SELECT target, amount_cents FROM ledger_entries"
                                  " WHERE event_id = $1 ORDER BY target", ev)
    assert [tuple(r) for r in rows] == [("bump", 300), ("tip", 700)]
    paid = await owner_conn.fetchval("SELECT paid_cents FROM song_requests WHERE id = $1",
                                     uuid.UUID(request["id"]))
    assert paid == 300
    totals = (await money(hub, ev, {"X-API-Key": API_KEY})).json()
    assert (totals["gross_cents"], totals["payments"]) == (1000, 2)
    await fan.close()


async def test_manual_entries_refused_without_changing_anything(
        two: Two, owner_conn: asyncpg.Connection) -> None:
    """Wrong roles, bad values, other orgs' ids: 401/403/404/422 and no ledger row."""
    hub, org, ev, dj, foreign_ev = two.hub, two.org, two.ev, two.dj, two.foreign_ev
    admin = await staff_token(hub, org, "boss", "admin")
    ok = {"kind": "tip", "amount_cents": 500, "note": "cash"}
    cases: list[tuple[str | None, Any, Any, int, str]] = [
        (None, ev, ok, 401, "Bearer"),
        (dj, ev, ok, 403, "owner or admin"),
        (token(org, sub="fan"), ev, ok, 403, "owner or admin"),
        (admin, foreign_ev, ok, 404, "no such event"),
        (admin, uuid.uuid4(), ok, 404, "no such event"),
        (admin, ev, {**ok, "kind": "refund"}, 422, "kind"),
        (admin, ev, {**ok, "amount_cents": 0}, 422, "amount_cents"),
        (admin, ev, {**ok, "amount_cents": -500}, 422, "amount_cents"),
        (admin, ev, {**ok, "note": ""}, 422, "note"),
        (admin, ev, {"kind": "tip", "amount_cents": 500}, 400, "note"),
        (admin, ev, {**ok, "source": "stripe"}, 422, "source"),
        (admin, ev, {**ok, "kind": "bump"}, 422, "target"),
        (admin, ev, {**ok, "kind": "bump", "target": str(uuid.uuid4())}, 404, "request"),
    ]
    for bearer, event_id, body, status, says in cases:
        resp = await manual(hub, event_id, bearer, body)
        assert (resp.status_code, says in resp.text) == (status, True), (body, resp.text)
    not_json = await manual(hub, ev, admin, None)
    assert not_json.status_code == 400, not_json.text
    assert await owner_conn.fetchval("SELECT count(*) FROM ledger_entries WHERE"
                                     " organization_id = $1", org) == 0


async def test_money_totals_need_the_key_or_a_dashboard_role(two: Two) -> None:
    """The API key or a dj/admin token of the event's org; others get 401, 403 or 404."""
    hub, org, ev, dj, foreign_ev = two.hub, two.org, two.ev, two.dj, two.foreign_ev
    foreign_dj = two.foreign_dj
    assert (await money(hub, ev, {"X-API-Key": API_KEY})).json()["net_cents"] == 0
    cases = [({}, 401), ({"X-API-Key": "wrong"}, 401),
             ({"Authorization": f"Bearer {token(org, sub='fan')}"}, 403),
             ({"Authorization": "Bearer not-a-token"}, 401),
             ({"Authorization": f"Bearer {foreign_dj}"}, 404)]
    for headers, status in cases:
        assert (await money(hub, ev, headers)).status_code == status, headers
    assert (await money(hub, uuid.uuid4(), {"X-API-Key": API_KEY})).status_code == 404
    own = await money(hub, foreign_ev, {"Authorization": f"Bearer {dj}"})
    assert own.status_code == 404, own.text
