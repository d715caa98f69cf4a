"""SMS settings: HUB_PUBLIC_URL is required once Twilio is configured."""

from __future__ import annotations

import msgspec
import pytest

from integrations.twilio_config import load_config

TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token"}


@pytest.mark.parametrize("public", ["", "sms.example.com", "ftp://sms.example.com"])
def test_twilio_without_a_public_url_is_refused(public: str) -> None:
    """Credentials with no (or no http/https) HUB_PUBLIC_URL raise, naming the variable."""
    with pytest.raises(msgspec.ValidationError, match="HUB_PUBLIC_URL must be set"):
        load_config({**TWILIO, "HUB_PUBLIC_URL": public})


def test_public_url_is_optional_while_sms_is_off() -> None:
    """No Twilio credentials: nothing to sign, nothing required."""
    assert not load_config({}).enabled
    cfg = load_config({**TWILIO, "HUB_PUBLIC_URL": "https://sms.example.com"})
    assert cfg.enabled and cfg.public_url == "https://sms.example.com"
