"""Injection strings planted in every text field a user or operator can fill, for the
security sweep: stored verbatim (tests/reliability) and shown as text (tests/e2e).

Each script payload, if a page ever parsed it as markup, sets ``window.__pwned``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from rooms.principal import display_name
from tests.support.client import Client, api_call
from tests.support.hubproc import API_KEY, HubProcess
from tests.support.ledger import ledger_row

SQL = (
    "'; DROP TABLE chat_messages; --",
    "' OR 1=1 --",
    '" OR ""="',
    "1); DELETE FROM song_requests; --",
    "$$; DROP TABLE events; $$",
    "\\'; TRUNCATE tips CASCADE; --",
    "\u02bc OR \u02bc1\u02bc=\u02bc1",  # modifier-letter apostrophes
    "\uff07 OR 1=1 \uff0d\uff0d",  # fullwidth quote and dashes
    "a\u200bb\u200d' OR 1=1 --",  # zero-width space and joiner
)
SCRIPT = (
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=window.__pwned=1>",
    "javascript:window.__pwned=1",
    '"><svg onload=window.__pwned=1>',
    "<iframe src=javascript:parent.__pwned=1>",
    "{{constructor.constructor('__pwned=1')()}}",
    "\u202e<b onmouseover=__pwned=1>e\u0301 \U0001f3b5</b>",  # right-to-left override
)
PAYLOADS = SQL + SCRIPT
assert all(len(p) <= 60 for p in PAYLOADS)  # the shortest field: a karaoke singer's name


def artist(i: int, payload: str) -> str:
    """The artist of payload ``i``'s request: numbered, because two spellings of one song
    (``' OR`` and its fullwidth twin) are one request by design (requests_normalize)."""
    return f"{payload} #{i}"


@dataclass
class Planted:
    """Where each payload went: ids of the rows that must hold it, by field."""

    event: uuid.UUID
    room: str
    guests: dict[str, str] = field(default_factory=dict)  # payload (as name) -> their token
    chat: dict[str, int] = field(default_factory=dict)  # payload -> chat_messages.id
    requests: dict[str, uuid.UUID] = field(default_factory=dict)  # -> song_requests.id
    declined: dict[str, uuid.UUID] = field(default_factory=dict)  # reason -> song_requests.id
    signups: dict[str, uuid.UUID] = field(default_factory=dict)  # -> karaoke_signups.id
    tips: dict[str, uuid.UUID] = field(default_factory=dict)  # -> tips.id
    events: dict[str, uuid.UUID] = field(default_factory=dict)  # -> events.id


async def _post(hub: HubProcess, path: str, body: dict[str, Any], method: str = "POST",
                ) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        return await http.request(method, path, json=body, headers={"X-API-Key": API_KEY})


async def tip(hub: HubProcess, room: str, cents: int, text: str) -> uuid.UUID:
    """A paid tip with ``text`` as its name and message (the ledger row first, as Stripe's
    webhook would write it)."""
    tip_id = uuid.uuid4()
    await ledger_row(hub, room, "tip", tip_id, cents, f"pi_{tip_id.hex}")
    resp = await api_call(hub.url, room, "tips.paid", {
        "tip_id": str(tip_id), "amount_cents": cents, "payment_id": f"pi_{tip_id.hex}",
        "from_name": text, "message": text})
    assert resp.status_code == 200, resp.text
    return tip_id


async def plant(hub: HubProcess, org: uuid.UUID, ev: uuid.UUID, dj: Client) -> Planted:
    """Every payload in every field, each by its own guest (joined with it as their name):
    chat, a request (title, artist, note), another one the DJ declines with it as the
    reason, a karaoke signup (singer, song), a paid tip (name, message), and an event
    created with it as its title through the operator API."""
    out = Planted(event=ev, room=f"event:{ev}")
    for i, payload in enumerate(PAYLOADS):
        joined = await _post(hub, f"/api/events/{ev}/guest", {"display_name": payload})
        assert joined.status_code == 201, joined.text
        guest = joined.json()
        assert guest["name"] == display_name(payload)
        out.guests[payload] = guest["token"]
        fan = await Client.open(hub.ws_url, guest["token"])
        await fan.send({"type": "chat", "room": out.room, "text": payload, "id": 1})
        out.chat[payload] = int((await fan.recv("chat_sent"))["message_id"])
        submitted = await fan.call(out.room, "requests.submit",
                                   {"title": payload, "artist": artist(i, payload),
                                    "note": payload})
        assert not submitted["merged"], (payload, submitted)
        out.requests[payload] = uuid.UUID(submitted["request"]["id"])
        # A second request, which the DJ declines with the payload as the reason.
        other = await fan.call(out.room, "requests.submit", {"title": f"declined {i}"})
        await dj.call(out.room, "requests.decline", {
            "request_id": other["request"]["id"], "version": other["version"],
            "reason": payload})
        out.declined[payload] = uuid.UUID(other["request"]["id"])
        signed = await fan.call(out.room, "karaoke.signup", {"singer": payload, "song": payload})
        out.signups[payload] = uuid.UUID(signed["signup_id"])
        await fan.close()
        out.tips[payload] = await tip(hub, out.room, 100 + i, payload)
        created = await _post(hub, f"/api/orgs/{org}/events", {"title": payload})
        assert created.status_code == 201, created.text
        out.events[payload] = uuid.UUID(created.json()["id"])
    return out
