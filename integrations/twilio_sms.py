"""Placeholder: the twilio_sms integration is not built yet (see issue 5)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
