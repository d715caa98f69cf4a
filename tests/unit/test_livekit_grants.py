"""Grants per token kind and role, minting and config, with no I/O."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import msgspec
import pytest

from integrations.livekit_config import LiveKitConfig, load_config
from integrations.livekit_grants import (
    GrantRefused,
    grants_for,
    identity_for,
    is_hidden,
    mint,
    needs_payment,
    room_name,
)
from rooms.roles import Role

CFG = LiveKitConfig(url="http://lk.test", api_key="APIkey",
                    api_secret="secret-0123456789-0123456789-0123456789", token_ttl=90)
VIEWER = frozenset({Role.VIEWER})
DJ = frozenset({Role.DJ})


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, CFG.api_secret, algorithms=["HS256"],
                                            issuer=CFG.api_key)
    return decoded


def test_viewer_token_has_publish_and_data_explicitly_off():
    """A viewer token carries canPublish and canPublishData false (the SDK defaults data on)."""
    token, expires_at = mint(CFG, "fan", grants_for("viewer", VIEWER, "event-1"))
    c = claims(token)
    assert c["video"] == {"roomJoin": True, "room": "event-1", "canPublish": False,
                          "canSubscribe": True, "canPublishData": False}
    assert c["sub"] == "fan" and expires_at == int(c["exp"]) * 1000
    assert int(c["exp"]) - int(c["nbf"]) == 90


@pytest.mark.parametrize(("kind", "role", "allowed"), [
    ("publisher", Role.PERFORMER, True), ("publisher", Role.DJ, True),
    ("publisher", Role.ADMIN, True), ("publisher", Role.MODERATOR, False),
    ("publisher", Role.VIEWER, False), ("bot", Role.DJ, True), ("bot", Role.ADMIN, True),
    ("bot", Role.PERFORMER, False), ("bot", Role.VIEWER, False),
    ("viewer", Role.VIEWER, True), ("viewer", Role.MODERATOR, True),
])
def test_roles_decide_the_kinds(kind, role, allowed):
    """Publishers are performer/dj/admin, bots dj/admin, viewers anyone."""
    if allowed:
        grants_for(kind, frozenset({role}), "r")
    else:
        with pytest.raises(GrantRefused):
            grants_for(kind, frozenset({role}), "r")


def test_bot_is_hidden_recorder_that_cannot_publish():
    """A bot token is hidden and a recorder, subscribes and publishes nothing."""
    g = grants_for("bot", DJ, "r")
    assert (g.hidden, g.recorder, g.can_subscribe, g.can_publish, g.can_publish_data) == (
        True, True, True, False, False)


def test_bot_identities_are_unique_and_reserved():
    """Each bot gets its own prefixed identity; nobody else may take the prefix."""
    a, b = identity_for("bot", "dj-1"), identity_for("bot", "dj-1")
    assert a != b and a.startswith("bot-dj-1-") and is_hidden(a, False)
    assert identity_for("viewer", "fan") == "fan" and not is_hidden("fan", False)
    assert is_hidden("fan", True)
    with pytest.raises(GrantRefused):
        identity_for("viewer", "bot-pretender")


def test_payment_needed_only_for_paying_viewers_of_ppv_events():
    """Only viewers without a host role on an event with a positive price must have paid."""
    assert needs_payment("viewer", VIEWER, 500)
    assert not needs_payment("viewer", VIEWER, 0) and not needs_payment("viewer", VIEWER, None)
    assert not needs_payment("viewer", DJ, 500) and not needs_payment("publisher", DJ, 500)


def test_room_name_defaults_to_the_event_id():
    """Before go-live the room is event-<uuid>; afterwards the stored name."""
    ev = uuid.UUID(int=7)
    assert room_name(ev, None) == f"event-{ev}" and room_name(ev, "stage") == "stage"


def test_config_reads_env_and_refuses_bad_ttl():
    """Config comes from LIVEKIT_* variables; a missing key means streaming is off."""
    cfg = load_config({"LIVEKIT_URL": "http://x", "LIVEKIT_API_KEY": "k",
                       "LIVEKIT_API_SECRET": "s", "LIVEKIT_TOKEN_TTL": "300"})
    assert cfg.enabled and cfg.token_ttl == 300
    assert load_config({}).token_ttl == 600 and not load_config({}).enabled
    with pytest.raises(msgspec.ValidationError):
        load_config({"LIVEKIT_TOKEN_TTL": "0"})
