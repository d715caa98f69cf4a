"""How long a refreshed token lives: its lifetime, capped by HUB_MAX_TOKEN_TTL and the session."""

from __future__ import annotations

import pytest

from hub.auth import TokenError
from hub.token_refresh import MIN_TTL, SessionOver, carried, renewal

NOW = 1_800_000_000


def test_lifetime_is_kept_and_capped():
    """exp - iat is kept, at most max_ttl; an iat in the future stretches nothing."""
    plan = renewal({"iat": NOW - 50, "exp": NOW + 250}, now=NOW, max_ttl=3600, max_session=9999)
    assert (plan.ttl, plan.auth_time, plan.session_ends) == (300, NOW - 50, NOW - 50 + 9999)
    assert renewal({"iat": NOW - 50, "exp": NOW + 250}, now=NOW, max_ttl=100,
                   max_session=9999).ttl == 100
    future = renewal({"iat": NOW + 500, "exp": NOW + 600}, now=NOW, max_ttl=3600,
                     max_session=9999)
    assert future.ttl == 600 and future.auth_time == NOW


def test_without_iat_the_rest_of_its_life_with_a_floor():
    """A hand-made token without iat: what it had left, at least MIN_TTL."""
    assert renewal({"exp": NOW + 900}, now=NOW, max_ttl=3600, max_session=9999).ttl == 900
    assert renewal({"exp": NOW + 2}, now=NOW, max_ttl=3600, max_session=9999).ttl == MIN_TTL


def test_session_caps_the_chain():
    """The session starts at auth_time (never later than iat) and ends the chain."""
    claims = {"iat": NOW - 10, "exp": NOW + 3590, "auth_time": NOW - 1000}
    assert renewal(claims, now=NOW, max_ttl=3600, max_session=1100).ttl == 100
    with pytest.raises(SessionOver):
        renewal(claims, now=NOW, max_ttl=3600, max_session=1000)
    later = {"iat": NOW - 10, "exp": NOW + 50, "auth_time": NOW + 10 ** 6}
    assert renewal(later, now=NOW, max_ttl=3600, max_session=9999).auth_time == NOW - 10


@pytest.mark.parametrize("claims", [{"auth_time": "x"}, {"auth_time": True}, {"iat": [1]}])
def test_bad_numbers_are_refused(claims):
    with pytest.raises(TokenError):
        renewal({"exp": NOW + 60, **claims}, now=NOW, max_ttl=3600, max_session=9999)


def test_carried_claims():
    """auth_time always; event only as a canonical uuid."""
    plan = renewal({"iat": NOW, "exp": NOW + 60}, now=NOW, max_ttl=3600, max_session=9999)
    assert carried({}, plan) == {"auth_time": NOW}
    ev = "8A4E3B5C-1D2E-4F60-8A9B-0C1D2E3F4A5B"
    assert carried({"event": ev}, plan) == {"auth_time": NOW, "event": ev.lower()}
    with pytest.raises(TokenError):
        carried({"event": "<script>"}, plan)
