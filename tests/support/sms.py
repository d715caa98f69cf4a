"""Texting the hub as Twilio does: signed inbound-SMS webhooks and their TwiML answers."""

from __future__ import annotations

import secrets
from xml.etree import ElementTree

import httpx

from tests.support.fake_twilio import FakeTwilio
from tests.support.hubproc import HubProcess

PUBLIC = "https://sms.livehub.example"  # what Twilio calls: not the hub's own address
WEBHOOK = "/webhooks/twilio/sms"


def inbound(number: str, phone: str, body: str, sid: str | None = None) -> dict[str, str]:
    """The form fields Twilio posts for an incoming SMS."""
    sid = sid or "SM" + secrets.token_hex(16)
    return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
            "SmsStatus": "received", "Body": body, "To": number, "NumSegments": "1",
            "MessageSid": sid, "AccountSid": "AC" + "0123456789abcdef" * 2, "From": phone,
            "ApiVersion": "2010-04-01"}


async def text_hub(hub: HubProcess, twilio: FakeTwilio, params: dict[str, str], *,
                   signed_url: str = PUBLIC + WEBHOOK,
                   signature: str | None = None) -> httpx.Response:
    """POST the webhook as Twilio would, signed for ``signed_url``."""
    sig = signature if signature is not None else twilio.sign(signed_url, params)
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        return await http.post(WEBHOOK, data=params, headers={"X-Twilio-Signature": sig})


def replies(resp: httpx.Response) -> list[str]:
    """The SMS texts of a TwiML answer (none for an empty ``<Response/>``)."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(resp.text)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]
