"""Connection tokens (HS256 JWT): minting and verifying.

A token carries ``sub`` (user id), ``org`` (organization uuid), ``roles``,
``exp``, usually ``iat``, and optionally ``name`` (a guest's display name, cleaned by
``rooms.principal.display_name``) and ``auth_time`` (when the sign-in that a chain of
refreshes started from happened; ``hub.token_refresh``). Only HS256 is accepted, so
``alg=none`` and RS/HS confusion fail. A token may live at most ``max_ttl`` seconds
(``HUB_MAX_TOKEN_TTL``): ``exp - iat``, or ``exp - now`` when ``iat`` is absent, so a
leaked year-3000 token is worthless.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

import jwt
from jwt.algorithms import HMACAlgorithm

from rooms.principal import Principal, display_name
from rooms.roles import Role

ALGORITHM: Final = "HS256"
DEFAULT_MAX_TTL: Final = 24 * 3600

log = logging.getLogger(__name__)


class TokenError(Exception):
    """A token was refused. ``expired`` separates refresh-worthy from hopeless.

    ``reason`` is our own short text, safe to send to the client.
    """

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


def mint_token(
    secret: str, *, sub: str, org: str | uuid.UUID, roles: list[str], ttl: int = 3600,
    name: str = "", extra: Mapping[str, object] | None = None, now: int | None = None,
) -> str:
    """Mint a connection token (``hub token``, guest links, refreshes, the demo and tests).

    ``name``, when given, is a display name claim (guests'), shown to others as text.
    ``extra`` adds claims the hub itself carries over (``auth_time``, ``event``); ``now``
    (unix seconds, default the clock) is its ``iat``.
    """
    for role in roles:
        _token_role(role)  # refuse typos early
    now = int(time.time()) if now is None else now
    claims: dict[str, object] = {**(extra or {}), "sub": sub, "org": str(org), "roles": roles,
                                 "iat": now, "exp": now + ttl}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _token_role(name: str) -> Role:
    """A role a token may claim: any but ``overlay``, which only an overlay credential
    grants (scoped to its event; ``hub.overlays``).

    Raises:
        ValueError: not a role, or ``overlay``.
    """
    role = Role(name)
    if role is Role.OVERLAY:
        raise ValueError("overlay is not a token role")
    return role


_B64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _CheckedKeyHMAC(HMACAlgorithm):
    """HS256 whose key check runs once per secret. PyJWT re-checks the key on every
    verify (PEM/SSH/DER probes and a ``json.loads`` with a fresh decoder): a third of
    a handshake's token cost, for a secret that never changes."""

    @functools.lru_cache(maxsize=8)  # noqa: B019 - one instance, a handful of secrets
    def prepare_key(self, key: str | bytes) -> bytes:
        return super().prepare_key(key)


class _Jws(jwt.PyJWS):
    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        """PyJWT's rules (at most two ``=``, only with a length that is a multiple of 4, the
        base64url alphabet, canonical encoding), with the alphabet checked by a regex
        instead of one Python step per character (~40% of a verify)."""
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1
                or not _B64URL.fullmatch(stripped)):
            raise jwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
        except (TypeError, binascii.Error) as err:
            raise jwt.DecodeError(f"Invalid {name} padding") from err
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


class _Jwt(jwt.PyJWT):
    """``jwt.PyJWT`` (all its claim checks) on the lean HS256 path above."""

    def __init__(self) -> None:
        super().__init__()
        self._jws = _Jws(algorithms=[ALGORITHM], options=self._get_sig_options())
        self._jws.unregister_algorithm(ALGORITHM)
        self._jws.register_algorithm(ALGORITHM, _CheckedKeyHMAC(HMACAlgorithm.SHA256))


_decoder = _Jwt()

# The JOSE header every token of ``mint_token`` carries: {"alg":"HS256","typ":"JWT"}.
_MINTED_HEADER: Final = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
# Claims PyJWT checks that minted tokens never carry: a token with one goes to PyJWT.
_PYJWT_CHECKS: Final = frozenset({"nbf", "aud", "iss", "jti"})


@functools.lru_cache(maxsize=8)
def _hs256_key(secret: str) -> bytes | None:
    """The key PyJWT would verify with, or None if PyJWT would warn about it (too short)."""
    alg = HMACAlgorithm(HMACAlgorithm.SHA256)
    key = alg.prepare_key(secret)
    return None if alg.check_key_length(key) else key


def _accepted(secret: str, token: str, *, leeway: int, verify_exp: bool,
              required: tuple[str, ...]) -> dict[str, Any] | None:
    """The claims ``_decoder.decode`` returns for a token shaped as ``mint_token`` makes
    them, when PyJWT would accept it; None in every other case, for PyJWT to decide (and
    say why it refuses). Half a handshake's token cost is PyJWT's generic path (header
    JSON, options merging, claim checks that never apply), paid for every connect.

    The checks are PyJWT's, in its terms: the same segments (``_Jws``' decoder), the
    HMAC over the same signing input, the payload through ``json.loads``, ``require``,
    ``iat`` not after now + leeway, ``exp`` after now - leeway, ``sub`` a string.
    """
    try:
        key = _hs256_key(secret)
        raw = token.encode("utf-8")
        signing_input, crypto = raw.rsplit(b".", 1)
        header, segment = signing_input.split(b".", 1)
        if key is None or header != _MINTED_HEADER:
            return None
        signature = _Jws._decode_base64url_segment(crypto, "crypto")
        if not hmac.compare_digest(signature,
                                   hmac.new(key, signing_input, hashlib.sha256).digest()):
            return None
        claims = json.loads(_Jws._decode_base64url_segment(segment, "payload"))
    except (ValueError, RecursionError, jwt.PyJWTError):
        return None
    if type(claims) is not dict or not _PYJWT_CHECKS.isdisjoint(claims):
        return None
    if any(claims.get(name) is None for name in required):
        return None
    now = time.time()
    iat, exp, sub = claims.get("iat"), claims.get("exp"), claims.get("sub")
    if "iat" in claims and (type(iat) is not int or iat > now + leeway):
        return None
    if "exp" in claims and (type(exp) is not int or (verify_exp and exp <= now - leeway)):
        return None
    if "sub" in claims and type(sub) is not str:
        return None
    return claims


def verify_token(secret: str, token: str, *, leeway: int = 5,
                 max_ttl: int = DEFAULT_MAX_TTL) -> Principal:
    """Verify signature, algorithm, expiry and lifetime, and return the principal.

    Raises:
        TokenError: ``expired=True`` when only ``exp`` is the problem.
    """
    return verify_claims(secret, token, leeway=leeway, max_ttl=max_ttl)[0]


_REQUIRED: Final = ("sub", "org", "exp")


def verify_claims(secret: str, token: str, *, leeway: int = 5, max_ttl: int = DEFAULT_MAX_TTL,
                  expired_grace: int = 0) -> tuple[Principal, Mapping[str, Any]]:
    """``verify_token``, and the verified claims as signed (a refresh carries some over).

    ``expired_grace``: seconds past ``exp`` (beyond ``leeway``) the token still passes.
    Only the token refresh route gives any (``HUB_REFRESH_GRACE``); the principal keeps
    the real ``exp``. Every other check (signature, nbf, lifetime) is unchanged.

    Raises:
        TokenError: as ``verify_token``.
    """
    try:
        claims = _accepted(secret, token, leeway=leeway, verify_exp=not expired_grace,
                           required=_REQUIRED) or _decoder.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=leeway,
            options={"require": list(_REQUIRED), "verify_exp": not expired_grace},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired", expired=True) from None
    except jwt.PyJWTError as exc:
        log.info("token refused: %s", exc)  # library detail stays in the log
        raise TokenError("invalid token") from None
    try:
        exp = int(claims["exp"])
        now = int(time.time())
        iat = claims.get("iat")
        # The earlier of iat and now: an iat set in the future cannot stretch the lifetime.
        issued = min(int(iat), now) if iat is not None else now
        roles = frozenset(_token_role(r) for r in claims.get("roles", []))
        principal = Principal(
            sub=str(claims["sub"]), org=uuid.UUID(str(claims["org"])), roles=roles,
            exp=exp, claimed=roles, name=display_name(claims.get("name")),
        )
    except (ValueError, TypeError):
        raise TokenError("invalid token claims") from None
    if expired_grace and now > exp + leeway + expired_grace:
        raise TokenError("token expired", expired=True)
    if exp - issued > max_ttl:
        raise TokenError(f"token lives longer than {max_ttl} s")
    return principal, claims
