"""Webhook verification (the SDK's WebhookReceiver), fed bytes with no I/O."""

from __future__ import annotations

import pytest

from integrations.livekit_config import LiveKitConfig
from integrations.livekit_webhook import WebhookMalformed, WebhookRefused, verify
from tests.support.fake_livekit import FakeLiveKit, webhook_body

FAKE = FakeLiveKit()
CFG = LiveKitConfig(url="http://lk.test", api_key=FAKE.key, api_secret=FAKE.secret)


def test_signed_body_verifies():
    """A body signed as LiveKit signs it parses into the event."""
    body = webhook_body("participant_joined", "event-x", event_id="EV_1", identity="fan")
    event = verify(CFG, body.encode(), FAKE.sign_webhook(body))
    assert (event.id, event.event, event.room.name, event.participant.identity) == (
        "EV_1", "participant_joined", "event-x", "fan")


@pytest.mark.parametrize("mutate", [
    lambda body, sig: (body.replace("fan", "fam"), sig),  # tampered body
    lambda body, sig: (body, ""),  # no signature
    lambda body, sig: (body, sig.rsplit(".", 1)[0] + "." + "A" * 43),  # wrong signature
    lambda body, sig: (body, FakeLiveKit(key="APIother").sign_webhook(body)),  # other key
])
def test_tampering_is_refused(mutate):
    """A changed body, a missing or broken signature, or another key is refused."""
    body = webhook_body("participant_joined", "event-x", identity="fan")
    bad_body, sig = mutate(body, FAKE.sign_webhook(body))
    with pytest.raises(WebhookRefused):
        verify(CFG, bad_body.encode(), sig)


def test_signed_nonsense_is_malformed_not_refused():
    """A correctly signed body that is not a webhook event is a 400, not a 401."""
    body = '{"event": 5}'
    with pytest.raises(WebhookMalformed):
        verify(CFG, body.encode(), FAKE.sign_webhook(body))
