"""Renewing a hub token for the pages (``POST /api/tokens/refresh``). No I/O.

A page holds the token it was opened with and swaps it for a fresh one before ``exp``.
The new token has the same ``sub``, ``org``, ``name`` and ``event`` claims, the roles
in effect (staff roles re-confirmed by the caller: a DJ removed from the org comes back
as a viewer rather than being refused, so a fan page keeps working and the DJ page sees
``roles`` and says why), and the presented token's lifetime (``exp - iat``, at most
``HUB_MAX_TOKEN_TTL``).

``auth_time`` anchors a chain of refreshes to the sign-in it started from: the first
token's ``auth_time``, else its ``iat``. Past ``auth_time + HUB_MAX_SESSION`` there is
no refresh ("sign in again"), and no refreshed token's ``exp`` reaches beyond that, so
a token that leaked once cannot be kept alive for ever.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.auth import TokenError

# A token signed without iat (hand-made by an operator's backend) has no known lifetime:
# its renewal lives as long as it had left, but not less than this.
MIN_TTL = 60


class SessionOver(Exception):
    """The sign-in a chain of refreshes started from is older than HUB_MAX_SESSION."""


@dataclass(frozen=True)
class Renewal:
    ttl: int  # seconds the new token lives
    auth_time: int  # unix seconds of the sign-in, carried into the new token
    session_ends: int  # unix seconds past which no refresh is given


def _seconds(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"invalid {name} claim")
    return int(value)


def renewal(claims: Mapping[str, Any], *, now: int, max_ttl: int, max_session: int) -> Renewal:
    """How long the renewal of a verified token (``claims``) lives, within its session.

    Raises:
        SessionOver: the session is older than ``max_session``.
        TokenError: ``iat`` or ``auth_time`` is not a number.
    """
    exp = int(claims["exp"])  # verified: present and numeric
    iat = _seconds(claims, "iat")
    # As in verify_token: an iat in the future cannot stretch anything.
    issued = now if iat is None else min(iat, now)
    lifetime = exp - issued if iat is not None else max(exp - now, MIN_TTL)
    signed_in = _seconds(claims, "auth_time")
    # auth_time later than iat is impossible for a token we minted; never trust it later.
    auth_time = issued if signed_in is None else min(signed_in, issued)
    session_ends = auth_time + max_session
    if now >= session_ends:
        raise SessionOver("the session is over: sign in again")
    ttl = min(lifetime, max_ttl, session_ends - now)
    return Renewal(ttl=max(ttl, 1), auth_time=auth_time, session_ends=session_ends)


def carried(claims: Mapping[str, Any], renewal: Renewal) -> dict[str, object]:
    """The claims a renewal carries besides sub, org, roles and name: ``auth_time``, and
    ``event`` when the presented token had one (kept only as a uuid)."""
    out: dict[str, object] = {"auth_time": renewal.auth_time}
    event = claims.get("event")
    if event is not None:
        try:
            out["event"] = str(uuid.UUID(str(event)))
        except ValueError:
            raise TokenError("invalid event claim") from None
    return out
