"""A local stand-in for the parts of Stripe's API the hub calls, plus webhook signing
exactly as Stripe does it.

It checks what it receives, like Stripe would: the secret key as bearer, a
``Stripe-Version`` header, form-encoded parameters, and the rules our integration must
follow (Express accounts; one line item; a destination charge whose fee is below the
amount and whose destination is a known account; our metadata; refunds of destination
charges reversing the transfer and the fee). Creates need an ``Idempotency-Key``; the
same key with the same parameters replays the first answer, with other parameters it
is refused (as Stripe does). Refused calls answer in Stripe's error format and are kept
in ``refused``, so tests can assert there were none.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.fake_http import serve

KEY = "sk_test_fake_0123456789"
WEBHOOK_SECRET = "whsec_fake_0123456789abcdef"
_KEY_PART = re.compile(r"\[([^\]]*)\]")
CHECKOUT_METADATA = ("org_id", "event_id", "checkout_id", "kind", "user")


@dataclass
class Call:
    path: str
    params: dict[str, Any]  # the form body, un-flattened into nested dicts and lists
    idempotency_key: str | None


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=v`` -> {"a": {"b": [{"c": "v"}]}} (how Stripe reads form bodies)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head):])]
        node: Any = out
        for part, nxt in itertools.pairwise(parts):
            child = {} if not nxt.isdigit() else []
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append(child)
                node = node[idx]
            else:
                node = node.setdefault(part, child)
        last = parts[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return out


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header: ``t=<ts>,v1=<hex hmac_sha256(secret, "t.payload")>``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class FakeStripe:
    key: str = KEY
    webhook_secret: str = WEBHOOK_SECRET
    calls: list[Call] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    _replay: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    _refunds_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # newest first
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeStripe:
        app = web.Application()
        app.router.add_post("/v1/accounts", self._accounts)
        app.router.add_post("/v1/account_links", self._account_links)
        app.router.add_post("/v1/checkout/sessions", self._sessions)
        app.router.add_post("/v1/refunds", self._refunds)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def env(self, **extra: str) -> dict[str, str]:
        """Hub environment pointing at this fake."""
        return {"STRIPE_SECRET_KEY": self.key, "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
                "STRIPE_API_BASE": self.url, **extra}

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def add_account(self, charges_enabled: bool = True) -> str:
        """An account as if onboarded outside the test."""
        account_id = f"acct_{secrets.token_hex(8)}"
        self.accounts[account_id] = {"id": account_id, "object": "account", "type": "express",
                                     "charges_enabled": charges_enabled,
                                     "payouts_enabled": charges_enabled}
        return account_id

    # -- events, as Stripe would deliver them -----------------------------------------------

    def event(self, type_: str, obj: dict[str, Any], *, livemode: bool = False,
              account: str | None = None, created: int | None = None) -> str:
        """A webhook body (JSON text) for ``obj``."""
        body: dict[str, Any] = {
            "id": f"evt_{secrets.token_hex(12)}", "object": "event",
            "api_version": "2026-10-28.endive", "created": created or int(time.time()),
            "livemode": livemode, "pending_webhooks": 1, "type": type_,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj}}
        if account is not None:
            body["account"] = account
        return json.dumps(body)

    def completed(self, session_id: str, *, type_: str = "checkout.session.completed",
                  payment_status: str = "paid", livemode: bool = False) -> str:
        session = {k: v for k, v in self.sessions[session_id].items() if not k.startswith("_")}
        session.update(status="complete", payment_status=payment_status)
        if payment_status == "paid":
            session["payment_intent"] = self.payment_intent(session_id)
        return self.event(type_, session, livemode=livemode)

    def refunded(self, session_id: str, amount: int | None = None, *,
                 listed: bool = True) -> str:
        """charge.refunded after one more refund of ``amount`` cents (default: all that is
        left), the charge as Stripe shows it then: cumulative ``amount_refunded``,
        ``refunded`` once nothing is left and, when ``listed``, its refunds newest first
        (API versions that do not expand them leave the list out)."""
        session = self.sessions[session_id]
        total = int(session["amount_total"])
        refunds = self._refunds_of.setdefault(session_id, [])
        done = sum(int(r["amount"]) for r in refunds)
        cents = total - done if amount is None else amount
        refunds.insert(0, {"id": f"re_{secrets.token_hex(12)}", "object": "refund",
                           "amount": cents, "created": int(time.time()) + len(refunds),
                           "status": "succeeded"})
        charge: dict[str, Any] = {
            "id": f"ch_{session_id[3:]}", "object": "charge", "amount": total,
            "amount_refunded": done + cents, "refunded": done + cents >= total, "paid": True,
            "payment_intent": self.payment_intent(session_id),
            "metadata": session["_payment_intent_data"].get("metadata", {})}
        if listed:
            charge["refunds"] = {"object": "list", "data": [dict(r) for r in refunds]}
        return self.event("charge.refunded", charge)

    def account_updated(self, account_id: str, *, charges_enabled: bool,
                        created: int | None = None) -> str:
        account = {**self.accounts[account_id], "charges_enabled": charges_enabled,
                   "payouts_enabled": charges_enabled}
        return self.event("account.updated", account, account=account_id, created=created)

    @staticmethod
    def payment_intent(session_id: str) -> str:
        return f"pi_{session_id[3:]}"

    # -- API handlers ---------------------------------------------------------------------

    def _error(self, status: int, message: str, type_: str = "invalid_request_error"
               ) -> web.Response:
        self.refused.append(message)
        return web.json_response({"error": {"type": type_, "message": message}}, status=status)

    async def _read(self, request: web.Request, *, idempotent: bool
                    ) -> tuple[dict[str, Any], str | None] | web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return self._error(401, "Invalid API Key provided", "authentication_error")
        if not request.headers.get("Stripe-Version"):
            return self._error(400, "missing Stripe-Version header")
        if request.content_type != "application/x-www-form-urlencoded":
            return self._error(400, f"expected a form body, got {request.content_type}")
        params = unflatten(parse_qsl(await request.text(), keep_blank_values=True))
        key = request.headers.get("Idempotency-Key")
        if idempotent and not key:
            return self._error(400, f"{request.path} must be sent with an Idempotency-Key")
        self.calls.append(Call(request.path, params, key))
        return params, key

    def _replayed(self, path: str, key: str | None, params: dict[str, Any]
                  ) -> web.Response | None:
        if key is None or f"{path} {key}" not in self._replay:
            return None
        first_params, answer = self._replay[f"{path} {key}"]
        if first_params != params:
            return self._error(400, "Keys for idempotent requests can only be used with the"
                               " same parameters they were first used with.",
                               "idempotency_error")
        return web.json_response(answer)

    def _answer(self, path: str, key: str | None, params: dict[str, Any],
                obj: dict[str, Any]) -> web.Response:
        if key is not None:
            self._replay[f"{path} {key}"] = (params, obj)
        return web.json_response({k: v for k, v in obj.items() if not k.startswith("_")})

    async def _accounts(self, request: web.Request) -> web.Response:
        read = await self._read(request, idempotent=True)
        if isinstance(read, web.Response):
            return read
        params, key = read
        if (replay := self._replayed(request.path, key, params)) is not None:
            return replay
        if params.get("type") != "express":
            return self._error(400, f"expected an Express account, got {params.get('type')}")
        account_id = self.add_account(charges_enabled=False)
        self.accounts[account_id]["metadata"] = params.get("metadata", {})
        return self._answer(request.path, key, params, self.accounts[account_id])

    async def _account_links(self, request: web.Request) -> web.Response:
        read = await self._read(request, idempotent=False)
        if isinstance(read, web.Response):
            return read
        params, _ = read
        if params.get("account") not in self.accounts:
            return self._error(400, f"No such account: '{params.get('account')}'")
        if params.get("type") != "account_onboarding":
            return self._error(400, "type must be account_onboarding")
        if not params.get("return_url") or not params.get("refresh_url"):
            return self._error(400, "return_url and refresh_url are required")
        now = int(time.time())
        return web.json_response({
            "object": "account_link", "created": now, "expires_at": now + 300,
            "url": f"https://connect.stripe.test/setup/e/{params['account']}/"
                   f"{secrets.token_hex(6)}"})

    def _check_session(self, params: dict[str, Any]) -> str | None:
        """What Stripe (or our rules for destination charges) would refuse, or None."""
        if params.get("mode") != "payment":
            return "mode must be payment"
        items = params.get("line_items") or []
        if len(items) != 1 or items[0].get("quantity") != "1":
            return "expected exactly one line item of quantity 1"
        price = items[0].get("price_data", {})
        amount = price.get("unit_amount", "")
        if price.get("currency") != "usd" or not amount.isdigit() or int(amount) < 50:
            return f"bad price_data: {price}"
        pid = params.get("payment_intent_data", {})
        fee = pid.get("application_fee_amount", "")
        if not fee.isdigit() or not 0 < int(fee) < int(amount):
            return f"application_fee_amount {fee!r} must be below the amount {amount}"
        destination = pid.get("transfer_data", {}).get("destination")
        if destination not in self.accounts:
            return f"No such destination: '{destination}'"
        if not self.accounts[destination]["charges_enabled"]:
            return f"{destination} cannot receive charges yet"
        for where in (params.get("metadata", {}), pid.get("metadata", {})):
            missing = [k for k in CHECKOUT_METADATA if not where.get(k)]
            if missing:
                return f"metadata lacks {missing}"
        if not params.get("success_url"):
            return "success_url is required"
        return None

    async def _sessions(self, request: web.Request) -> web.Response:
        read = await self._read(request, idempotent=True)
        if isinstance(read, web.Response):
            return read
        params, key = read
        if (replay := self._replayed(request.path, key, params)) is not None:
            return replay
        problem = self._check_session(params)
        if problem is not None:
            return self._error(400, problem)
        session_id = f"cs_test_{secrets.token_hex(12)}"
        amount = int(params["line_items"][0]["price_data"]["unit_amount"])
        session = {"id": session_id, "object": "checkout.session", "mode": "payment",
                   "status": "open", "payment_status": "unpaid", "payment_intent": None,
                   "amount_total": amount, "currency": "usd",
                   "client_reference_id": params.get("client_reference_id"),
                   "metadata": params.get("metadata", {}), "livemode": False,
                   "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                   "_payment_intent_data": params["payment_intent_data"]}
        self.sessions[session_id] = session
        return self._answer(request.path, key, params, session)

    async def _refunds(self, request: web.Request) -> web.Response:
        read = await self._read(request, idempotent=True)
        if isinstance(read, web.Response):
            return read
        params, key = read
        if (replay := self._replayed(request.path, key, params)) is not None:
            return replay
        paid = {self.payment_intent(s): s for s in self.sessions}
        if params.get("payment_intent") not in paid:
            return self._error(400, f"No such payment_intent: '{params.get('payment_intent')}'")
        if params.get("reverse_transfer") != "true" or params.get(
                "refund_application_fee") != "true":
            return self._error(400, "a destination charge's refund must reverse the transfer"
                               " and refund the application fee")
        refund = {"id": f"re_{secrets.token_hex(12)}", "object": "refund",
                  "status": "succeeded", "payment_intent": params["payment_intent"],
                  "amount": self.sessions[paid[params["payment_intent"]]]["amount_total"]}
        return self._answer(request.path, key, params, refund)
