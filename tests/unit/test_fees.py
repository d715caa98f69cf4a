"""The platform fee at its boundaries: the minimum, half-cent rounding, a large tip."""

from __future__ import annotations

import pytest

from integrations.fees import (
    FLOOR_CENTS,
    MAX_CENTS,
    AmountRefused,
    fee_refunded,
    platform_fee,
)


def test_minimum_tip_pays_fee_below_amount() -> None:
    """The default minimum (100 cents) is accepted: 3.5 rounds up to 4, plus 30."""
    assert platform_fee(100) == 34


def test_below_minimum_is_refused() -> None:
    """One cent under the minimum is refused, and the message names the minimum."""
    with pytest.raises(AmountRefused, match="100 cents"):
        platform_fee(99)


def test_configured_minimum_never_below_floor() -> None:
    """A configured minimum under Stripe's 50 cents still refuses 49 and takes 50."""
    with pytest.raises(AmountRefused):
        platform_fee(FLOOR_CENTS - 1, min_cents=1)
    assert platform_fee(FLOOR_CENTS, min_cents=1) == 32  # 1.75 -> 2, + 30


def test_half_cent_rounds_up() -> None:
    """Exactly half a cent rounds up (300 -> 10.5 -> 11), just under half rounds down."""
    assert platform_fee(300) == 41
    assert platform_fee(1014) == 65  # 35.49 -> 35
    assert platform_fee(1015) == 66  # 35.525 -> 36


def test_large_tip_is_exact() -> None:
    """The largest chargeable tip ($999,999.99) costs exactly 3.5% + 30 cents, no float error."""
    assert platform_fee(MAX_CENTS) == 3_500_000 + 30
    with pytest.raises(AmountRefused):
        platform_fee(MAX_CENTS + 1)


def test_fee_stays_below_amount_everywhere_allowed() -> None:
    """From the floor to ten dollars, the fee is always strictly below the amount."""
    assert all(platform_fee(a, min_cents=FLOOR_CENTS) < a for a in range(FLOOR_CENTS, 1001))


def test_fee_refund_is_pro_rata_and_whole_on_a_full_refund() -> None:
    """A refund gives back the fee's share, half up; all of it for a full refund."""
    fee = platform_fee(1000)  # 35 + 30 = 65
    assert fee_refunded(fee, 1000, 0) == 0
    assert fee_refunded(fee, 1000, 300) == 20  # 19.5 rounds up
    assert fee_refunded(fee, 1000, 1000) == fee
    assert fee_refunded(fee, 1000, 5000) == fee  # never more than the fee


def test_partial_fee_refunds_add_up_to_the_whole_fee() -> None:
    """Cumulative shares: the steps of several partial refunds sum to the fee exactly."""
    for amount in (100, 333, 1000, 99_999):
        fee, given, refunded = platform_fee(amount), 0, 0
        for part in (amount // 3, amount // 3, amount - 2 * (amount // 3)):
            refunded += part
            given += fee_refunded(fee, amount, refunded) - given
        assert given == fee, amount
