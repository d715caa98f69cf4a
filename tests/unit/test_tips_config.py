"""Tips settings and wire conversions, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rooms.services.tips_config import TipsConfig, load
from rooms.services.tips_store import ms


def test_defaults_are_eight_seconds_and_ten_minutes() -> None:
    """With no variables set, alerts time out after 8 s and expire after 10 min."""
    assert load({}) == TipsConfig(alert_timeout_ms=8_000, alert_max_age_ms=600_000)


def test_variables_are_seconds_and_may_be_fractional() -> None:
    """HUB_TIP_ALERT_TIMEOUT / HUB_TIP_ALERT_MAX_AGE are read in seconds."""
    got = load({"HUB_TIP_ALERT_TIMEOUT": "0.5", "HUB_TIP_ALERT_MAX_AGE": "90"})
    assert got == TipsConfig(alert_timeout_ms=500, alert_max_age_ms=90_000)


def test_a_zero_timeout_is_refused() -> None:
    """A zero timeout would flash every alert away; the hub refuses to start with it."""
    with pytest.raises(ValueError, match="HUB_TIP_ALERT_TIMEOUT"):
        load({"HUB_TIP_ALERT_TIMEOUT": "0"})


def test_ms_is_exact_for_microsecond_timestamps() -> None:
    """Postgres microseconds become whole ms by floor, with no float rounding."""
    assert ms(datetime(2026, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC)) == 1_767_225_600_999
