"""Tips settings, read once from the environment when the hub process starts.

Kept here rather than in hub/settings.py while the tips service is new (that file is
shared); both are hub-wide defaults:

* ``HUB_TIP_ALERT_TIMEOUT`` (seconds, default 8): how long an alert shows when nobody
  acknowledges it. An event's own ``events.tip_alert_timeout_ms`` wins over it.
* ``HUB_TIP_ALERT_MAX_AGE`` (seconds, default 600): a waiting alert older than this expires
  instead of showing (an overlay that was gone for an hour gets no stale alerts).
* ``HUB_TIP_ALERT_SWEEP`` (seconds, default 1): how often every node looks for alerts
  showing past their timeout whose timer died with another node (``tips_sweep``); such
  an alert leaves the screen at most about this much late.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class TipsConfig:
    alert_timeout_ms: int = 8_000
    alert_max_age_ms: int = 600_000
    sweep_ms: int = 1_000


def _ms(env: dict[str, str], var: str, default: int) -> int:
    raw = env.get(var, "")
    if not raw:
        return default
    value = int(float(raw) * 1000)
    if value <= 0:
        raise ValueError(f"{var} must be a positive number of seconds, got {raw!r}")
    return value


def load(env: dict[str, str] | None = None) -> TipsConfig:
    env = dict(os.environ if env is None else env)
    base = TipsConfig()
    return TipsConfig(
        alert_timeout_ms=_ms(env, "HUB_TIP_ALERT_TIMEOUT", base.alert_timeout_ms),
        alert_max_age_ms=_ms(env, "HUB_TIP_ALERT_MAX_AGE", base.alert_max_age_ms),
        sweep_ms=_ms(env, "HUB_TIP_ALERT_SWEEP", base.sweep_ms))


CONFIG = load()
