"""Twilio SMS settings, read from the environment into one msgspec Struct.

Variables (without ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN`` SMS is off: the SMS
webhook answers 503 "SMS not configured" and ``next_up`` sends nothing):

* ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``: the account; the token verifies
  ``X-Twilio-Signature`` and authenticates REST calls.
* ``TWILIO_FROM_NUMBER``: the sender of REST messages (E.164) when no org number applies.
* ``TWILIO_API_BASE``: base URL of Twilio's REST API (default ``https://api.twilio.com``;
  tests point it at a local fake).
* ``HUB_PUBLIC_URL``: the hub's public base URL as Twilio calls it, e.g.
  ``https://hub.example.com``; required once SMS is configured. Twilio signs the exact
  URL it called, and behind a proxy the scheme and host the hub sees differ. Falling
  back to the request's own URL would check the signature against the ``Host`` header
  the caller chose, so without it the hub refuses to start.
* ``TWILIO_REPLY_INLINE_SECONDS``: how long an inbound SMS waits for the agents before
  answering an empty TwiML and replying through the REST API instead (default 4;
  Twilio gives up on a webhook after 15 s).
* ``TWILIO_TIMEOUT_SECONDS``: timeout of one REST call (default 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

from rooms.env import from_env


class TwilioConfig(msgspec.Struct, frozen=True, kw_only=True):
    ENV: ClassVar[Mapping[str, str]] = {
        "account_sid": "TWILIO_ACCOUNT_SID",
        "auth_token": "TWILIO_AUTH_TOKEN",
        "from_number": "TWILIO_FROM_NUMBER",
        "api_base": "TWILIO_API_BASE",
        "public_url": "HUB_PUBLIC_URL",
        "reply_inline_seconds": "TWILIO_REPLY_INLINE_SECONDS",
        "timeout_seconds": "TWILIO_TIMEOUT_SECONDS",
    }

    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    api_base: str = "https://api.twilio.com"
    public_url: str = ""
    reply_inline_seconds: Annotated[float, msgspec.Meta(ge=0, le=12)] = 4.0
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0

    def __post_init__(self) -> None:
        if self.enabled and not self.public_url.startswith(("https://", "http://")):
            raise ValueError("HUB_PUBLIC_URL must be set to the hub's public base URL"
                             " (https://...) when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
                             " are set: Twilio signatures cover the URL Twilio calls")

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token)


def load_config(env: Mapping[str, str] | None = None) -> TwilioConfig:
    """Build the config from ``env`` (default ``os.environ``); bad values raise early.

    Raises:
        msgspec.ValidationError: a bad value, or SMS configured without HUB_PUBLIC_URL.
    """
    return from_env(TwilioConfig, env)

