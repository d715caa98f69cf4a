"""The overlay role without I/O: one event room, join and tips only; tokens cannot claim it."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from hub.auth import TokenError, mint_token, verify_token
from hub.overlays import principal_of
from persistence.overlays import OverlayGrant, new_secret, secret_hash, well_formed
from rooms.access import JOIN, PUBLISH, authorize
from rooms.codes import ErrorCode, ServiceError
from rooms.names import RoomKind, RoomName
from rooms.principal import Principal
from rooms.roles import Role
from rooms.services import SERVICES

ORG, EVENT, SIBLING = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
OWN = RoomName(RoomKind.EVENT, EVENT)
OVERLAY = principal_of(OverlayGrant(ORG, EVENT, 3))
SECRET = "unit-secret-0123456789-0123456789-abcdef"
METHODS = {f"{s.name}.{m.name}": m.access(s.name) for s in SERVICES for m in s.methods}


def code_of(who: Principal, room: RoomName, action: object) -> ErrorCode | None:
    try:
        authorize(who, room, action, ORG)  # type: ignore[arg-type]
    except ServiceError as exc:
        return exc.code
    return None


def test_overlay_may_join_and_use_tips_in_its_event_only() -> None:
    """In its own room: join, tips.ack, tips.state; every other method and publish: 4403."""
    allowed = {name for name, access in METHODS.items() if code_of(OVERLAY, OWN, access) is None}
    assert allowed == {"tips.ack", "tips.state"}
    assert code_of(OVERLAY, OWN, JOIN) is None
    assert code_of(OVERLAY, OWN, PUBLISH) is ErrorCode.FORBIDDEN


@pytest.mark.parametrize("room", [RoomName(RoomKind.EVENT, SIBLING), RoomName(RoomKind.ORG, ORG)])
def test_overlay_is_forbidden_outside_its_event(room: RoomName) -> None:
    """Another event of its org, and its org room, refuse even join and tips.ack (4403)."""
    for action in (JOIN, METHODS["tips.ack"], METHODS["tips.state"]):
        assert code_of(OVERLAY, room, action) is ErrorCode.FORBIDDEN


def test_the_overlay_role_without_an_event_reaches_nothing() -> None:
    """A principal given the overlay role with no event (never minted) is refused anywhere."""
    unscoped = Principal(sub="x", org=ORG, roles=frozenset({Role.OVERLAY}))
    for room in (OWN, RoomName(RoomKind.ORG, ORG)):
        assert code_of(unscoped, room, JOIN) is ErrorCode.FORBIDDEN


def test_tokens_cannot_claim_the_overlay_role() -> None:
    """mint_token refuses it, and a signed token naming it is refused as invalid claims."""
    with pytest.raises(ValueError):
        mint_token(SECRET, sub="s", org=ORG, roles=["overlay"])
    now = int(time.time())
    forged = jwt.encode({"sub": "s", "org": str(ORG), "roles": ["viewer", "overlay"],
                         "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError) as exc:
        verify_token(SECRET, forged)
    assert exc.value.reason == "invalid token claims"


def test_secrets_are_random_well_formed_and_stored_as_sha256() -> None:
    """43 URL-safe characters, never twice the same; the stored hash is 32 bytes."""
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100 and all(well_formed(s) for s in secrets)
    assert not any(well_formed(s) for s in ("", "x" * 42, "x" * 44, "<script>" + "x" * 35))
    assert {len(secret_hash(s)) for s in secrets} == {32}
