"""Tables and probes for the security sweep (tests/reliability/test_security_sweep.py).

- forged tokens, one per way a token can be wrong, with the close code each must get;
- every room service method with params that would succeed if nothing refused them;
- every HTTP route that takes a body, enumerated from the Litestar app itself;
- what an org holds, per tenant table (row count and a digest of the rows), and a room's
  history in Redis, read directly, to prove a refused request wrote nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from hub.app import create_app
from hub.settings import Settings
from integrations import http_docs as docs
from rooms.services import SERVICES
from tests.support.hubproc import SECRET

CLOSE_UNAUTHORIZED, CLOSE_EXPIRED = 4001, 4002
DAY = 24 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _part(obj: object) -> str:
    return _b64(json.dumps(obj).encode())


def signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT with any header, HMAC-SHA256-signed with ``key`` (no signature for None)."""
    signing = f"{_part(header)}.{_part(claims)}"
    mac = b"" if key is None else hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(mac)}"


def _claims(of: uuid.UUID, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "mallory", "org": str(of), "roles": ["admin"],
                              "iat": now, "exp": now + 600}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _hs256(of: uuid.UUID, key: bytes = SECRET.encode(), **changes: Any) -> str:
    return signed({"alg": "HS256", "typ": "JWT"}, _claims(of, **changes), key)


@dataclass(frozen=True)
class BadToken:
    """A token the hub must refuse, and the close code a websocket gets for it."""

    name: str
    make: Callable[[uuid.UUID], str]
    code: int = CLOSE_UNAUTHORIZED


def _now() -> int:
    return int(time.time())


BAD_TOKENS: tuple[BadToken, ...] = (
    BadToken("alg-none", lambda o: signed({"alg": "none"}, _claims(o), None)),
    BadToken("alg-None-with-valid-signature",  # a lax verifier might ignore the header
             lambda o: signed({"alg": "None"}, _claims(o), SECRET.encode())),
    BadToken("hs256-wrong-key", lambda o: _hs256(o, key=b"not-the-hub-secret-0123456789")),
    BadToken("hs256-empty-key", lambda o: _hs256(o, key=b"")),
    # RS256 in the header, HMAC'd with the hub secret: the algorithm-confusion attack on a
    # verifier that takes the algorithm from the token.
    BadToken("rs256-header-hmac-body",
             lambda o: signed({"alg": "RS256", "typ": "JWT"}, _claims(o), SECRET.encode())),
    BadToken("es256-header", lambda o: signed({"alg": "ES256"}, _claims(o), SECRET.encode())),
    BadToken("hs512-header", lambda o: signed({"alg": "HS512"}, _claims(o), SECRET.encode())),
    BadToken("expired", lambda o: _hs256(o, iat=_now() - 3 * 3600, exp=_now() - 2 * 3600),
             CLOSE_EXPIRED),
    BadToken("nbf-in-the-future", lambda o: _hs256(o, nbf=_now() + 3600)),
    BadToken("iat-in-the-future", lambda o: _hs256(o, iat=_now() + 365 * DAY)),
    BadToken("exp-past-max-ttl", lambda o: _hs256(o, exp=_now() + DAY + 3600)),
    BadToken("exp-year-3000-no-iat", lambda o: _hs256(o, iat=None, exp=32503680000)),
    BadToken("exp-and-iat-far-future",
             lambda o: _hs256(o, iat=32503680000 - 600, exp=32503680000)),
    BadToken("no-sub", lambda o: _hs256(o, sub=None)),
    BadToken("no-org", lambda o: _hs256(o, org=None)),
    BadToken("no-exp", lambda o: _hs256(o, exp=None)),
    BadToken("org-not-a-uuid", lambda o: _hs256(o, org="' OR 1=1 --")),
    BadToken("sub-not-a-string", lambda o: _hs256(o, sub=42)),
    BadToken("roles-a-string", lambda o: _hs256(o, roles="admin")),
    BadToken("role-unknown", lambda o: _hs256(o, roles=["root"])),
    BadToken("role-overlay", lambda o: _hs256(o, roles=["overlay"])),
    BadToken("empty", lambda o: ""),
    BadToken("garbage", lambda o: "not-a-token"),
    BadToken("three-empty-parts", lambda o: ".."),
    BadToken("two-parts", lambda o: ".".join(_hs256(o).split(".")[:2])),
    BadToken("four-parts", lambda o: _hs256(o) + ".AAAA"),
    BadToken("header-not-json", lambda o: "e30x." + _hs256(o).split(".", 1)[1]),
    BadToken("bad-base64", lambda o: _hs256(o).replace(".", ".!", 1)),
)


@dataclass(frozen=True)
class Seeded:
    """Ids of what an org's event holds (the victim's state, or the caller's own)."""

    org: uuid.UUID
    event: uuid.UUID
    fan: str  # a viewer who chatted, requested and signed up
    message_id: str
    request_id: str
    requests_version: int
    signup_id: str
    karaoke_version: int
    tip_id: str
    alert_id: str

    @property
    def room(self) -> str:
        return f"event:{self.event}"


def call_params(method: str, s: Seeded) -> dict[str, Any]:
    """Params for ``method`` that name ``s``'s real records, so only a refusal can stop it."""
    change = {"request_id": s.request_id, "version": s.requests_version}
    sing = {"signup_id": s.signup_id, "version": s.karaoke_version}
    table: dict[str, dict[str, Any]] = {
        "chat.post": {"text": "written from outside"},
        "chat.history": {"limit": 50},
        "moderation.delete": {"message_id": s.message_id},
        "moderation.mute": {"user": s.fan, "minutes": 60, "reason": "x"},
        "moderation.ban": {"user": s.fan, "minutes": 60, "reason": "x"},
        "moderation.lift": {"user": s.fan},
        "moderation.slow_mode": {"seconds": 600},
        "moderation.blocked_words": {"words": ["hello"], "action": "reject"},
        "moderation.held": {},
        "moderation.approve": {"message_id": s.message_id},
        "requests.submit": {"title": "Outsider", "artist": "X", "note": "n"},
        "requests.vote": {"request_id": s.request_id},
        "requests.mine": {},
        "requests.accept": change,
        "requests.play_now": change,
        "requests.played": change,
        "requests.decline": {**change, "reason": "no"},
        "requests.move": {**change, "position": 1},
        "requests.payment_confirmed": {"request_id": s.request_id, "amount_cents": 500,
                                       "payment_id": "pi_forged"},
        "requests.payment_refunded": {"request_id": s.request_id, "amount_cents": 500,
                                      "payment_id": "re_forged"},
        "karaoke.signup": {"singer": "Outsider", "song": "Song"},
        "karaoke.mine": {},
        "karaoke.settings": {"version": s.karaoke_version, "max_active": 5},
        "karaoke.move": {**sing, "to_index": 0},
        "karaoke.next": {"version": s.karaoke_version},
        "karaoke.sung": sing,
        "karaoke.skip": sing,
        "karaoke.hold": {"singer_sub": s.fan, "version": s.karaoke_version},
        "karaoke.release": {"singer_sub": s.fan, "version": s.karaoke_version},
        "tips.paid": {"tip_id": str(uuid.uuid4()), "amount_cents": 100,
                      "payment_id": "pi_forged_tip", "from_name": "x", "message": "x"},
        "tips.refunded": {"tip_id": s.tip_id},
        "tips.ack": {"alert_id": s.alert_id},
        "tips.state": {},
        "event.status": {"status": "cancelled"},
        "event.update": {"title": "Taken over", "visibility": "private"},
    }
    return table[method]


def methods() -> list[tuple[str, Any]]:
    """Every room service method, as ``(name, Method)``, from the services' registry."""
    return [(f"{s.name}.{m.name}", m) for s in SERVICES for m in s.methods]


def _handlers() -> list[tuple[str, str, Any]]:
    """Every HTTP route of the app as ``(verb, path template, handler)``."""
    app = create_app(Settings(secret=SECRET, api_key="k"))
    return [(verb, route.path, handler) for route in app.routes
            for handler in getattr(route, "route_handlers", ())
            for verb in sorted(getattr(handler, "http_methods", ())) if verb != "OPTIONS"]


def body_routes(default: int) -> list[tuple[str, str, int]]:
    """Every route that may take a body: ``(method, path template, body cap)``; ``default``
    is the cap of routes without their own (HUB_MAX_BODY_BYTES)."""
    return [(verb, path, handler.resolve_request_max_body_size() or default)
            for verb, path, handler in _handlers() if verb in {"POST", "PUT", "PATCH", "DELETE"}]


def record_routes() -> list[tuple[str, str, bool]]:
    """Every API route that names an org's record (org, event, tip) in its path, as
    ``(verb, path template, takes a bearer token)``. (The guest link route is in it too:
    it takes no credential by design, the event id being the link's secret.)"""
    return [(verb, path, any(docs.BEARER in option for option in handler.security or ()))
            for verb, path, handler in _handlers()
            if path.startswith("/api/")
            and any(f"{{{name}:uuid}}" in path for name in ("org_id", "event_id", "tip_id"))]


# Routes that take no credential by design: a guest link's event id is its secret.
PUBLIC_ROUTES = {("POST", "/api/events/{event_id:uuid}/guest")}

# Bearer routes open to a viewer of the org: what its pages read, and paying a tip.
VIEWER_ROUTES = {("GET", "/api/events/{event_id:uuid}/page"),
                 ("POST", "/api/events/{event_id:uuid}/checkout")}

# Bodies that would succeed on the caller's own records: only a refusal can stop them.
ROUTE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/events/{event_id:uuid}"): {"title": "Taken over", "visibility": "private"},
    ("POST", "/api/orgs/{org_id:uuid}/events"): {"title": "Planted"},
    ("POST", "/api/events/{event_id:uuid}/status"): {"status": "cancelled"},
    ("POST", "/api/events/{event_id:uuid}/checkout"): {"kind": "tip", "amount_cents": 500},
    ("POST", "/api/events/{event_id:uuid}/money/manual"): {"kind": "tip", "amount_cents": 100,
                                                           "note": "cash"},
    ("PATCH", "/api/orgs/{org_id:uuid}"): {"name": "Taken over"},
    ("PUT", "/api/orgs/{org_id:uuid}/members/{user_id:uuid}"): {"role": "admin"},
    ("POST", "/api/orgs/{org_id:uuid}/tokens"): {"external_id": "mallory", "role": "admin"},
    ("POST", "/api/events/{event_id:uuid}/livekit-token"): {"kind": "publisher"},
}


async def tenant_tables(conn: asyncpg.Connection) -> list[str]:
    """Every table with an ``organization_id`` column (the tenant tables)."""
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'organization_id' ORDER BY table_name")
    return [r["table_name"] for r in rows]


async def holdings(conn: asyncpg.Connection, orgs: list[uuid.UUID]) -> dict[str, Any]:
    """Per table and org: the row count and a digest of the rows, read as the owner."""
    out: dict[str, Any] = {}
    for table in await tenant_tables(conn):
        rows = await conn.fetch(
            f"SELECT organization_id, count(*) AS n, md5(string_agg(t::text, '|' ORDER BY"
            f" t::text)) AS digest FROM {table} t WHERE organization_id = ANY($1::uuid[])"
            " GROUP BY organization_id", orgs)
        for r in rows:
            out[f"{table}/{r['organization_id']}"] = (r["n"], r["digest"])
    for r in await conn.fetch("SELECT id, md5(o::text) AS digest FROM organizations o"
                              " WHERE id = ANY($1::uuid[])", orgs):
        out[f"organizations/{r['id']}"] = (1, r["digest"])
    return out


async def room_history(redis_url: str, prefix: str, room: str) -> tuple[Any, Any]:
    """A room's history as Redis holds it: its meta hash (epoch, offset) and stream."""
    client = aioredis.from_url(redis_url)
    try:
        base = f"{prefix}:{{{room}}}"
        return await client.hgetall(f"{base}:m"), await client.xrange(f"{base}:h")
    finally:
        await client.aclose()
