"""Phone numbers as the hub stores and texts them: E.164 (``+`` and 7 to 15 digits). No I/O.

Twilio sends a fan's number as E.164, and opt-outs (STOP) are stored under that
spelling, so a phone typed into a web form must be normalized to the same spelling or a
STOP would not find it. Separators people type (spaces, dashes, dots, brackets) are
dropped and a leading ``00`` is read as ``+``. A number without a country code is
refused rather than guessed: the hub serves venues in more than one country.
"""

from __future__ import annotations

import re

SMS_SUB_PREFIX = "sms:"  # the sub of a fan acting by text message: sms:<E.164 phone>
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s\-.()/]")


def normalize(raw: str) -> str:
    """``raw`` as E.164.

    Raises:
        ValueError: not a phone number with a country code.
    """
    phone = _SEPARATORS.sub("", raw.strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not _E164.match(phone):
        raise ValueError("phone must be an international number with its country code,"
                         " e.g. +15551234567")
    return phone


def sms_sub(phone: str) -> str:
    """The caller sub of a fan texting from ``phone``."""
    return SMS_SUB_PREFIX + phone


def phone_of(sub: str) -> str | None:
    """The phone in an ``sms:<phone>`` sub, or None for any other sub."""
    return sub.removeprefix(SMS_SUB_PREFIX) if sub.startswith(SMS_SUB_PREFIX) else None


def shown(sub: str) -> str:
    """``sub`` as other fans may see it: a texting fan's number cut to its last four
    digits (``sms:…1234``), like a receipt shows a card; any other sub as it is."""
    phone = phone_of(sub)
    return sub if phone is None else f"{SMS_SUB_PREFIX}…{phone[-4:]}"
