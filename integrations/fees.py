"""The platform fee on a payment: 3.5% + 30 cents, in integer cents.

Rounding: 3.5% of the amount is rounded half up to a whole cent, then 30 cents are added
(so 100 cents -> 3.5 -> 4 + 30 = 34). Integer arithmetic only: no float ever touches money.

A payment below the minimum is refused: at small amounts the fixed 30 cents would eat
the whole payment (the fee reaches the amount at 31 cents). The minimum is configurable
(``STRIPE_MIN_AMOUNT_CENTS``, default 100) but never below ``FLOOR_CENTS`` (50), Stripe's
own minimum charge in USD, so the fee always stays strictly below the amount.
"""

from __future__ import annotations

from typing import Final

PERCENT_TENTHS: Final = 35  # 3.5% as tenths of a percent: amount * 35 / 1000
FIXED_CENTS: Final = 30
FLOOR_CENTS: Final = 50
DEFAULT_MIN_CENTS: Final = 100
MAX_CENTS: Final = 99_999_999  # Stripe's largest USD charge


class AmountRefused(ValueError):
    """The amount is below the minimum or above what Stripe can charge."""


def platform_fee(amount_cents: int, *, min_cents: int = DEFAULT_MIN_CENTS) -> int:
    """The fee in cents for a payment of ``amount_cents``.

    Raises:
        AmountRefused: ``amount_cents`` is below ``max(min_cents, FLOOR_CENTS)`` or above
            ``MAX_CENTS``.
    """
    minimum = max(min_cents, FLOOR_CENTS)
    if amount_cents < minimum:
        raise AmountRefused(f"the minimum amount is {minimum} cents")
    if amount_cents > MAX_CENTS:
        raise AmountRefused(f"the maximum amount is {MAX_CENTS} cents")
    # Round half up of amount * 35 / 1000: add half the divisor before flooring.
    fee = (amount_cents * PERCENT_TENTHS + 500) // 1000 + FIXED_CENTS
    assert fee < amount_cents  # holds for every amount >= FLOOR_CENTS
    return fee


def fee_refunded(fee_cents: int, amount_cents: int, refunded_cents: int) -> int:
    """Of the fee on ``amount_cents``, the part given back once ``refunded_cents`` of it
    are refunded: pro rata, rounded half up, so a full refund gives back the whole fee
    and the parts of several partial refunds add up to what one refund of their sum would.
    """
    refunded = min(max(refunded_cents, 0), amount_cents)
    return (2 * fee_cents * refunded + amount_cents) // (2 * amount_cents)
