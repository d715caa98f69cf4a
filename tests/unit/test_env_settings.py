"""rooms.env.from_env: every part's settings from the environment, one loader."""

from __future__ import annotations

import msgspec
import pytest

from hub.settings import ENV_VARS, load, load_parts
from integrations.stripe_config import StripeConfig
from rooms.env import SettingsError, from_env
from rooms.services.tips_config import TipsConfig


def test_ms_fields_read_seconds_and_words_read_as_booleans() -> None:
    """`*_ms` fields come from seconds; yes/on/no/off are booleans."""
    assert from_env(TipsConfig, {"HUB_TIP_ALERT_SWEEP": "2.5"}).sweep_ms == 2500
    assert from_env(StripeConfig, {"STRIPE_LIVEMODE": "on"}).livemode is True
    assert from_env(StripeConfig, {"STRIPE_LIVEMODE": "off"}).livemode is False
    assert load({"HUB_WS_COMPRESSION": "yes"}).ws_compression is True


@pytest.mark.parametrize(("var", "value"), [
    ("HUB_TIP_ALERT_SWEEP", "soon"), ("STRIPE_MIN_AMOUNT_CENTS", "10"),
    ("LIVEKIT_TOKEN_TTL", "-1"), ("HUB_PORT", "eighty")])
def test_a_bad_value_names_its_variable(var: str, value: str) -> None:
    """The hub refuses to start with a bad value, and says which variable holds it."""
    loader = load if var == "HUB_PORT" else load_parts  # the hub's own, or the other parts
    with pytest.raises(SettingsError, match=var):
        loader({var: value})


def test_settings_errors_are_validation_errors() -> None:
    """Callers that catch msgspec's ValidationError keep working."""
    assert issubclass(SettingsError, msgspec.ValidationError)


def test_load_parts_reads_every_part_and_env_vars_lists_them() -> None:
    """One call at start loads every part; ENV_VARS holds every variable any part reads."""
    parts = load_parts({"STRIPE_SECRET_KEY": "sk_test_x", "LIVEKIT_TOKEN_TTL": "60",
                        "HUB_TIP_ALERT_TIMEOUT": "3", "OPENAI_MODEL": "m"})
    assert (parts.stripe.secret_key, parts.livekit.token_ttl, parts.tips.alert_timeout_ms,
            parts.agents.model) == ("sk_test_x", 60, 3000, "m")
    assert {"STRIPE_SECRET_KEY", "LIVEKIT_TOKEN_TTL", "HUB_TIP_ALERT_TIMEOUT",
            "OPENAI_MODEL", "TWILIO_AUTH_TOKEN", "HUB_SECRET"} <= set(ENV_VARS)
