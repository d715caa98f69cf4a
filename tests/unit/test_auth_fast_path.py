"""The token check's lean path (``hub.auth._Jws``, ``_CheckedKeyHMAC``) decides exactly as
PyJWT's own: same segments accepted and decoded, same segments refused, same keys refused."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import auth
from hub.auth import TokenError, _CheckedKeyHMAC, _Jws, mint_token, verify_claims, verify_token

SECRET = "unit-secret-0123456789-0123456789-0123456789-0123456789-abcdefgh"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/!. \x00é"


def both(segment: bytes) -> tuple[object, object]:
    """What PyJWT's and our segment decoder make of ``segment`` (bytes or the error type)."""
    out = []
    for decode in (jwt.PyJWS._decode_base64url_segment, _Jws._decode_base64url_segment):
        try:
            out.append(decode(segment, "payload"))
        except jwt.DecodeError as exc:
            out.append(type(exc))
    return out[0], out[1]


@pytest.mark.parametrize("segment", [
    b"", b"e30", b"e30=", b"e30==", b"e30===", b"eyJh", b"eyJh=", b"!!!!", b"e3 0",
    b"e30a", b"e30b", b"a", b"ab", b"abc=", b"ab==", b"ab=", b"YQ", b"YR", b"YQ==", b"+/+/",
    b"eyJhbGciOiJIUzI1NiJ9",
])
def test_segments_decode_as_pyjwt_decodes_them(segment: bytes) -> None:
    theirs, ours = both(segment)
    assert ours == theirs


@given(st.text(alphabet=ALPHABET, max_size=24))
def test_any_segment_decodes_as_pyjwt_decodes_it(text: str) -> None:
    theirs, ours = both(text.encode())
    assert ours == theirs


def test_a_forged_signature_and_junk_padding_are_still_refused() -> None:
    token = mint_token(SECRET, sub="u", org=uuid.uuid4(), roles=["viewer"])
    head, body, sig = token.split(".")
    for bad in (f"{head}.{body}.{sig[:-2]}AA", f"{head}.{body}!!!!.{sig}",
                f"{head}.{body}.{sig}====", token.replace(SECRET[:4], "x")[:-1] + "A"):
        with pytest.raises(TokenError):
            verify_token(SECRET, bad)
    assert verify_token(SECRET, token).sub == "u"


def test_key_checks_still_run_once_per_key() -> None:
    """The cached HS256 key check still refuses what PyJWT refuses (a JWK, an empty key)."""
    hmac = _CheckedKeyHMAC(_CheckedKeyHMAC.SHA256)
    for bad in ('{"kty": "oct", "k": "abc"}', ""):
        with pytest.raises(jwt.InvalidKeyError):
            hmac.prepare_key(bad)
    assert hmac.prepare_key(SECRET) == SECRET.encode()


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode({"sub": "u", "org": str(uuid.uuid4()), "exp": int(time.time()) + 60},
                       SECRET + "-other", algorithm="HS256")
    with pytest.raises(TokenError):
        verify_token(SECRET, token)


def _signed(claims: dict[str, object], secret: str = SECRET,
            headers: dict[str, object] | None = None) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


def _verdict(secret: str, token: str, **kwargs: object) -> object:
    """What verify_claims says: the principal and claims, or the refusal."""
    try:
        return verify_claims(secret, token, **kwargs)  # type: ignore[arg-type]
    except TokenError as exc:
        return ("refused", exc.reason, exc.expired)


def _tokens() -> list[tuple[str, str]]:
    now = int(time.time())
    org = str(uuid.uuid4())
    base = {"sub": "u", "org": org, "roles": ["viewer"], "iat": now, "exp": now + 60}
    short = "too-short"
    return [
        (SECRET, mint_token(SECRET, sub="u", org=org, roles=["dj"], name="Ann")),
        (SECRET, mint_token(SECRET, sub="u", org=org, roles=[], extra={"auth_time": now})),
        (SECRET, _signed(base)),
        (SECRET, _signed({**base, "exp": now - 3})),  # within the leeway
        (SECRET, _signed({**base, "exp": now - 30})),  # expired
        (SECRET, _signed({**base, "iat": now + 3})),  # iat ahead, within the leeway
        (SECRET, _signed({**base, "iat": now + 60})),  # iat in the future
        (SECRET, _signed({**base, "iat": float(now)})),
        (SECRET, _signed({**base, "iat": True})),
        (SECRET, _signed({**base, "exp": str(now + 60)})),
        (SECRET, _signed({**base, "exp": "soon"})),
        (SECRET, _signed({k: v for k, v in base.items() if k != "iat"})),
        (SECRET, _signed({k: v for k, v in base.items() if k != "exp"})),
        (SECRET, _signed({k: v for k, v in base.items() if k != "sub"})),
        (SECRET, _signed({**base, "sub": None})),
        (SECRET, _signed({**base, "sub": 7})),
        (SECRET, _signed({**base, "org": None})),
        (SECRET, _signed({**base, "nbf": now + 60})),
        (SECRET, _signed({**base, "aud": "someone"})),
        (SECRET, _signed({**base, "iss": "x"})),
        (SECRET, _signed({**base, "jti": 5})),
        (SECRET, _signed({**base, "exp": now + 48 * 3600})),  # lives too long
        (SECRET, _signed(base, headers={"kid": "k1"})),
        (SECRET, _signed(base, secret=SECRET + "-other")),
        (SECRET, _signed(base)[:-3] + "AAA"),
        (SECRET, jwt.encode(base, SECRET, algorithm="HS512")),
        (short, _signed(base, secret=short)),
        (SECRET, "not.a.token"),
        (SECRET, ""),
    ]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("grace", [0, 3600])
def test_the_lean_check_decides_as_pyjwt(monkeypatch: pytest.MonkeyPatch, grace: int) -> None:
    """verify_claims with the lean HS256 path, and with PyJWT alone: the same verdicts."""
    cases = _tokens()
    ours = [_verdict(secret, token, expired_grace=grace) for secret, token in cases]
    monkeypatch.setattr(auth, "_accepted", lambda *a, **k: None)
    theirs = [_verdict(secret, token, expired_grace=grace) for secret, token in cases]
    assert ours == theirs


def test_a_minted_token_takes_the_lean_path() -> None:
    token = mint_token(SECRET, sub="u", org=uuid.uuid4(), roles=["viewer"])
    assert auth._accepted(SECRET, token, leeway=5, verify_exp=True,
                          required=("sub", "org", "exp")) == jwt.decode(
        token, SECRET, algorithms=["HS256"])
