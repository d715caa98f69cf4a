"""Tips settings (part of the hub's settings, loaded at start by ``hub.settings``):

* ``HUB_TIP_ALERT_TIMEOUT`` (seconds, default 8): how long an alert shows when nobody
  acknowledges it. An event's own ``events.tip_alert_timeout_ms`` wins over it.
* ``HUB_TIP_ALERT_MAX_AGE`` (seconds, default 600): a waiting alert older than this expires
  instead of showing (an overlay that was gone for an hour gets no stale alerts).
* ``HUB_TIP_ALERT_SWEEP`` (seconds, default 1): how often every node looks for alerts
  showing past their timeout whose timer died with another node (``tips_sweep``); such
  an alert leaves the screen at most about this much late.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

from rooms.env import from_env

PositiveMs = Annotated[int, msgspec.Meta(ge=1)]


class TipsConfig(msgspec.Struct, frozen=True, kw_only=True):
    ENV: ClassVar[Mapping[str, str]] = {
        "alert_timeout_ms": "HUB_TIP_ALERT_TIMEOUT", "alert_max_age_ms": "HUB_TIP_ALERT_MAX_AGE",
        "sweep_ms": "HUB_TIP_ALERT_SWEEP"}

    alert_timeout_ms: PositiveMs = 8_000
    alert_max_age_ms: PositiveMs = 600_000
    sweep_ms: PositiveMs = 1_000


def load(env: Mapping[str, str] | None = None) -> TipsConfig:
    """The tips settings from ``env`` (default ``os.environ``); bad values raise."""
    return from_env(TipsConfig, env)
