"""Tokens may live at most HUB_MAX_TOKEN_TTL; error texts are our own."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from hub.auth import TokenError, mint_token, verify_token

SECRET = "unit-secret-0123456789-0123456789-0123456789-0123456789-abcdefgh"
YEAR_3000 = 32503680000


def encode(**claims: object) -> str:
    return jwt.encode({"sub": "u", "org": str(uuid.uuid4()), **claims}, SECRET,
                      algorithm="HS256")


@pytest.mark.parametrize("claims", [
    {"iat": int(time.time()), "exp": YEAR_3000},
    {"exp": YEAR_3000},  # no iat: measured from now
    {"iat": int(time.time()) - 10, "exp": int(time.time()) + 3600 + 60},
])
def test_long_lived_tokens_are_refused(claims):
    """exp - iat (or exp - now without iat) over the maximum is refused, not expired."""
    with pytest.raises(TokenError) as err:
        verify_token(SECRET, encode(**claims), max_ttl=3600)
    assert not err.value.expired and "longer" in err.value.reason


def test_future_iat_does_not_stretch_the_lifetime():
    """An iat set in the future cannot make a year-long token look short."""
    now = int(time.time())
    with pytest.raises(TokenError):
        verify_token(SECRET, encode(iat=now + 10**7, exp=now + 10**7 + 60), max_ttl=3600)


def test_tokens_within_the_maximum_are_accepted():
    """A token minted for exactly the maximum lifetime verifies."""
    tok = mint_token(SECRET, sub="u", org=uuid.uuid4(), roles=["dj"], ttl=3600)
    assert verify_token(SECRET, tok, max_ttl=3600).sub == "u"


def test_default_maximum_is_a_day():
    """Without a setting, a year-3000 token is still refused (default 24 h)."""
    with pytest.raises(TokenError):
        verify_token(SECRET, encode(exp=YEAR_3000))
    tok = mint_token(SECRET, sub="u", org=uuid.uuid4(), roles=[], ttl=24 * 3600)
    verify_token(SECRET, tok)


def test_refusal_reason_is_not_library_text():
    """A forged token's reason is a short text of ours, not PyJWT's message."""
    forged = jwt.encode({"sub": "u", "org": str(uuid.uuid4()), "exp": int(time.time()) + 60},
                        "another-secret-that-is-long-enough-for-hs256-ok", algorithm="HS256")
    with pytest.raises(TokenError) as err:
        verify_token(SECRET, forged)
    assert err.value.reason == "invalid token"
