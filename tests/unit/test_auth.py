"""Connection tokens: HS256 only, expiry, required claims."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from hub.auth import TokenError, mint_token, verify_token
from rooms.roles import Role

SECRET = "unit-secret-0123456789-0123456789-0123456789-0123456789-abcdefgh"


def test_round_trip():
    """A minted token verifies to the same principal."""
    org = uuid.uuid4()
    principal = verify_token(SECRET, mint_token(SECRET, sub="u1", org=org,
                                                roles=["dj", "viewer"]))
    assert principal.sub == "u1" and principal.org == org
    assert principal.roles == {Role.DJ, Role.VIEWER}


def test_expired_is_flagged_as_expired():
    """Expiry is distinguishable, so clients know to refresh rather than give up."""
    with pytest.raises(TokenError) as err:
        verify_token(SECRET, mint_token(SECRET, sub="u", org=uuid.uuid4(), roles=[], ttl=-60))
    assert err.value.expired


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_algorithms_are_refused(algorithm):
    """Only HS256 is accepted."""
    tok = jwt.encode({"sub": "u", "org": str(uuid.uuid4()), "exp": int(time.time()) + 60},
                     SECRET, algorithm=algorithm)
    with pytest.raises(TokenError) as err:
        verify_token(SECRET, tok)
    assert not err.value.expired


def test_missing_org_and_bad_role_are_refused():
    """Tokens without org, or with unknown roles, are invalid."""
    no_org = jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    bad_role = jwt.encode({"sub": "u", "org": str(uuid.uuid4()), "roles": ["root"],
                           "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    for tok in (no_org, bad_role, "a.b.c", ""):
        with pytest.raises(TokenError):
            verify_token(SECRET, tok)


def test_mint_refuses_unknown_roles():
    """`hub token --role typo` fails instead of minting a useless token."""
    with pytest.raises(ValueError):
        mint_token(SECRET, sub="u", org=uuid.uuid4(), roles=["superuser"])
