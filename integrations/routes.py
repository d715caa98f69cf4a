"""HTTP routes contributed by the provider integrations, mounted by ``hub.app``."""

from __future__ import annotations

from typing import Any

from integrations import livekit, money, recording, stripe_payments, twilio_sms

ROUTES: list[Any] = [*livekit.ROUTES, *stripe_payments.ROUTES, *money.ROUTES,
                     *twilio_sms.ROUTES, *recording.ROUTES]
