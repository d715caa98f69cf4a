"""Webhook verification without I/O: the SDK's signature check, tolerance and livemode."""

from __future__ import annotations

import json
import time

import pytest

from integrations.stripe_config import load_config
from integrations.stripe_webhook import TOLERANCE, WebhookRefused, verify
from tests.support.fake_stripe import WEBHOOK_SECRET, sign

CFG = load_config({"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET})
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "account.updated", "created": 1,
                   "livemode": False, "data": {"object": {"id": "acct_1"}}})


def test_signed_event_is_accepted() -> None:
    """A body signed with our secret just now verifies and decodes."""
    event = verify(CFG, BODY.encode(), sign(BODY))
    assert (event.id, event.type, event.livemode) == ("evt_1", "account.updated", False)


def test_timestamp_at_tolerance_edge() -> None:
    """A signature a little under the tolerance passes; one past it is refused."""
    verify(CFG, BODY.encode(), sign(BODY, timestamp=int(time.time()) - TOLERANCE + 5))
    with pytest.raises(WebhookRefused, match="signature"):
        verify(CFG, BODY.encode(), sign(BODY, timestamp=int(time.time()) - TOLERANCE - 1))


def test_one_changed_byte_is_refused() -> None:
    """The signature covers the raw bytes: re-serialised JSON with a space fails."""
    with pytest.raises(WebhookRefused):
        verify(CFG, BODY.replace(":", ": ", 1).encode(), sign(BODY))


def test_livemode_must_match_config() -> None:
    """A correctly signed live event is refused by a test-mode hub, and the reverse."""
    live = BODY.replace('"livemode": false', '"livemode": true')
    with pytest.raises(WebhookRefused, match="livemode"):
        verify(CFG, live.encode(), sign(live))
    live_cfg = load_config({"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_LIVEMODE": "true"})
    with pytest.raises(WebhookRefused, match="livemode"):
        verify(live_cfg, BODY.encode(), sign(BODY))
