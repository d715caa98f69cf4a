"""Outbound SMS through Twilio's REST API with the SDK's async client.

The SDK builds every URL from its ``api`` domain's ``base_url``; ``TWILIO_API_BASE``
replaces it (tests point it at ``tests/support/fake_twilio.py``). Retries are off: a
message sent twice is worse than one that failed and is logged.
"""

from __future__ import annotations

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from integrations.twilio_config import TwilioConfig


class SendFailed(Exception):
    """Twilio refused the message or could not be reached."""


async def send_sms(cfg: TwilioConfig, to: str, from_: str, body: str) -> str:
    """Send one SMS; return its MessageSid.

    Raises:
        SendFailed: Twilio answered an error, or the request failed.
    """
    # One aiohttp session per message: sends are rare (replies, "you're up next"), and a
    # session must be created and closed inside the running loop.
    http = AsyncTwilioHttpClient(timeout=cfg.timeout_seconds)
    try:
        client = Client(cfg.account_sid, cfg.auth_token, http_client=http)
        client.api.base_url = cfg.api_base.rstrip("/")
        message = await client.api.v2010.accounts(cfg.account_sid).messages.create_async(
            to=to, from_=from_, body=body)
        sid: str = message.sid
        return sid
    except (TwilioException, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise SendFailed(str(exc)) from exc
    finally:
        await http.close()
