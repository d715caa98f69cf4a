"""The events API's bodies: an event's settings (create and change) and a status change.

Every setting is optional in a change (absent: unchanged; ``null`` clears the nullable
ones). Out-of-range values and unknown fields are refused by the decoder, naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

Title = Annotated[str, Meta(min_length=1, max_length=200)]
Cents = Annotated[int, Meta(ge=0, le=100_000_000)]
TimeoutMs = Annotated[int, Meta(ge=1000, le=600_000)]
PerFan = Annotated[int, Meta(ge=1, le=50)]
Seconds = Annotated[int, Meta(ge=30, le=3600)]
MaxActive = Annotated[int, Meta(ge=1, le=20)]
Visibility = Literal["public", "private"]
Target = Literal["live", "ended", "cancelled"]


class EventSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A change of an event's settings (``PATCH /api/events/{id}``, ``event.update``)."""

    title: Title | UnsetType = UNSET
    starts_at: dt.datetime | UnsetType | None = UNSET
    tip_goal_cents: Cents | UnsetType | None = UNSET
    tip_alert_timeout_ms: TimeoutMs | UnsetType | None = UNSET  # null: HUB_TIP_ALERT_TIMEOUT
    ppv_price_cents: Cents | UnsetType | None = UNSET  # null or 0: free to watch
    visibility: Visibility | UnsetType = UNSET
    tips: bool | UnsetType = UNSET  # feature toggles; a new event's come from the product
    requests: bool | UnsetType = UNSET
    karaoke: bool | UnsetType = UNSET
    max_open_per_fan: PerFan | UnsetType = UNSET  # open song requests per fan
    song_seconds: Seconds | UnsetType = UNSET  # average song length (request wait estimate)
    karaoke_max_active: MaxActive | UnsetType = UNSET  # songs per singer at once
    karaoke_slot_seconds: Seconds | UnsetType = UNSET  # karaoke slot length

    def values(self) -> dict[str, Any]:
        """The settings given, by storage name (``persistence.events`` columns)."""
        out: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is UNSET:
                continue
            if name in ("tips", "requests", "karaoke"):
                name = f"{name}_enabled"
            elif name == "title":
                value = value.strip()
            out[name] = value
        return out


class NewEvent(EventSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new event (``POST /api/orgs/{org}/events``): a title, and any other settings."""

    title: Title


class StatusChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Move an event along its lifecycle: scheduled -> live -> ended, scheduled -> cancelled."""

    status: Target
