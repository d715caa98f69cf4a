"""Guest names and the guest link limiter, without I/O."""

from __future__ import annotations

import uuid

from hub.auth import mint_token, verify_token
from hub.guests import GuestLimiter
from rooms.principal import MAX_NAME_CHARS, display_name

SECRET = "unit-secret-0123456789-0123456789-abcdef"


def test_display_name_drops_controls_and_keeps_markup_as_text():
    """Control, format and bidi characters go, whitespace folds, markup stays as typed."""
    assert display_name("  Ann\x00\x07\u202e\u200b  <b>B</b>\n") == "Ann <b>B</b>"
    assert display_name("x" * 500) == "x" * MAX_NAME_CHARS
    assert display_name("\x01\x02") == "" and display_name(42) == ""


def test_the_name_claim_becomes_the_principals_name_cleaned():
    """A token's name claim arrives in Principal.name, cleaned; no claim is an empty name."""
    org = uuid.uuid4()
    named = mint_token(SECRET, sub="guest:a", org=org, roles=["viewer"], name="Zoë\x1b[31m")
    assert verify_token(SECRET, named).name == "Zoë [31m"
    assert verify_token(SECRET, mint_token(SECRET, sub="u", org=org, roles=["viewer"])).name == ""


def test_limiter_allows_a_burst_per_address_then_says_how_long_to_wait():
    """Each address has its own bucket of per_minute; refill is per_minute per 60 s."""
    now = [0.0]
    limiter = GuestLimiter(3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("a") == 20  # one token per 20 s
    assert limiter.take("b") == 0
    now[0] = 20.0
    assert limiter.take("a") == 0 and limiter.take("a") > 0
