"""Stripe settings, read from the environment into one msgspec Struct.

Variables (all optional; without ``STRIPE_SECRET_KEY`` the payment routes answer 503
"payments not configured", without ``STRIPE_WEBHOOK_SECRET`` so does ``/webhooks/stripe``;
the hub runs either way):

* ``STRIPE_SECRET_KEY``: the platform's secret key (``sk_test_...`` / ``sk_live_...``).
* ``STRIPE_WEBHOOK_SECRET``: the endpoint's signing secret (``whsec_...``).
* ``STRIPE_API_BASE``: where API calls go (default ``https://api.stripe.com``; tests
  point it at a local fake).
* ``STRIPE_LIVEMODE``: ``true`` in production; webhooks whose ``livemode`` differs are
  refused (default ``false``).
* ``STRIPE_MIN_AMOUNT_CENTS``: the smallest tip, bump or pay-per-view price (default 100;
  at least 50, see ``integrations.fees``).
* ``HUB_PUBLIC_URL``: the hub's public base URL; Checkout's return URLs may point there
  (and at the product hosts), see ``integrations.stripe_return``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

from integrations.fees import DEFAULT_MIN_CENTS, FLOOR_CENTS
from rooms.env import from_env


class StripeConfig(msgspec.Struct, frozen=True, kw_only=True):
    ENV: ClassVar[Mapping[str, str]] = {
        "secret_key": "STRIPE_SECRET_KEY",
        "webhook_secret": "STRIPE_WEBHOOK_SECRET",
        "api_base": "STRIPE_API_BASE",
        "livemode": "STRIPE_LIVEMODE",
        "min_amount_cents": "STRIPE_MIN_AMOUNT_CENTS",
        "public_url": "HUB_PUBLIC_URL",
    }

    secret_key: str = ""
    webhook_secret: str = ""
    api_base: str = "https://api.stripe.com"
    livemode: bool = False
    min_amount_cents: Annotated[int, msgspec.Meta(ge=FLOOR_CENTS)] = DEFAULT_MIN_CENTS
    public_url: str = ""


def load_config(env: Mapping[str, str] | None = None) -> StripeConfig:
    """Build the config from ``env`` (default ``os.environ``); bad values raise early."""
    return from_env(StripeConfig, env)

