"""A local stand-in for Twilio's REST API (Messages), plus webhook signing exactly as
Twilio does it.

It checks what it receives, like Twilio would: HTTP Basic auth with the account SID and
auth token, the account in the path, a form body with E.164 ``To``, a ``From`` the account
owns and a non-empty ``Body`` of at most 1600 characters. Refused calls answer with
Twilio's JSON error shape and are kept in ``refused`` so tests can assert there were none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.fake_http import serve

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class Sent:
    sid: str
    to: str
    from_: str
    body: str


@dataclass
class FakeTwilio:
    numbers: set[str]  # the account's phone numbers (allowed From)
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    sent: list[Sent] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def env(self, **extra: str) -> dict[str, str]:
        """Hub environment pointing the SDK at this fake."""
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_API_BASE": self.url, **extra}

    def sign(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by every POST
        parameter's name and value, sorted by name (Twilio's documented scheme)."""
        payload = url + "".join(k + params[k] for k in sorted(params))
        mac = hmac.new(self.auth_token.encode(), payload.encode(), hashlib.sha1)
        return base64.b64encode(mac.digest()).decode()

    def _refuse(self, status: int, code: int, msg: str) -> web.Response:
        self.refused.append(f"{code}: {msg}")
        return web.json_response({"code": code, "message": msg, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                                 status=status)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        user, _, password = base64.b64decode(raw).decode().partition(":")
        return hmac.compare_digest(f"{user}:{password}",
                                   f"{self.account_sid}:{self.auth_token}")

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refuse(401, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return self._refuse(404, 20404, "The requested resource was not found")
        if request.content_type != "application/x-www-form-urlencoded":
            return self._refuse(400, 21000, "form-encoded body required")
        form = await request.post()
        to, from_, body = (str(form.get(k, "")) for k in ("To", "From", "Body"))
        if not E164.match(to):
            return self._refuse(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ not in self.numbers:
            return self._refuse(400, 21606, f"The From phone number {from_} is not a valid,"
                                " SMS-capable inbound phone number for your account")
        if not body or len(body) > 1600:
            return self._refuse(400, 21617, "Body is empty or longer than 1600 characters")
        sid = "SM" + secrets.token_hex(16)
        self.sent.append(Sent(sid, to, from_, body))
        return web.json_response({
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": from_,
            "body": body, "status": "queued", "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"},
            status=201)


def new_number() -> str:
    """A phone number no other test uses."""
    return "+1999" + f"{secrets.randbelow(10**8):08d}"
