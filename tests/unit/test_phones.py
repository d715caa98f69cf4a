"""Phone normalization and the karaoke aliases of texting singers' subs, without I/O."""

from __future__ import annotations

import uuid

import pytest

from rooms.phones import normalize, phone_of, shown, sms_sub
from rooms.services.karaoke_aliases import alias, resolve


@pytest.mark.parametrize(("raw", "e164"), [
    ("+15551234567", "+15551234567"),
    (" +1 (555) 123-4567 ", "+15551234567"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0049.30.1234567", "+49301234567"),
])
def test_typed_numbers_become_e164(raw, e164):
    """Separators are dropped and 00 reads as +, so STOP from Twilio's From matches."""
    assert normalize(raw) == e164


@pytest.mark.parametrize("raw", ["5551234567", "555-0100", "+0123456789", "+1555",
                                 "+1" + "5" * 15, "<script>alert(1)</script>", "", "+1 555 abc"])
def test_numbers_without_country_code_or_digits_are_refused(raw):
    """No country code, too short or long, or not digits: refused, never guessed."""
    with pytest.raises(ValueError, match="country code"):
        normalize(raw)


def test_sms_subs_are_aliased_per_event_and_resolvable():
    """An sms:<phone> sub shows as a keyed alias without the phone, stable per key and
    different across keys; other subs show as they are; hosts' aliases resolve back."""
    key, other_key = uuid.uuid4(), uuid.uuid4()
    sub = sms_sub("+15551234567")
    shown = alias(key, sub)
    assert shown.startswith("sms:") and "5551234567" not in shown
    assert shown == alias(key, sub) != alias(other_key, sub)
    assert alias(key, "web-fan") == "web-fan"
    assert phone_of(sub) == "+15551234567" and phone_of("web-fan") is None
    assert resolve(key, shown, ["web-fan", sub]) == sub
    assert resolve(key, "web-fan", ["web-fan", sub]) == "web-fan"
    assert resolve(other_key, shown, [sub]) == shown  # another event's alias names nobody


def test_others_see_a_texting_fan_by_the_last_four_digits_only() -> None:
    """Room events never carry a texting fan's number; web subs show as they are."""
    assert shown("sms:+15551234567") == "sms:…4567"
    assert shown("web-fan") == "web-fan"
