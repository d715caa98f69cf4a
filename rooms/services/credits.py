"""The rule every credit follows: it needs its row in the money ledger (0016).

``tips.paid``, ``requests.payment_confirmed`` and ``requests.payment_refunded`` credit or
take back money only against the ledger row the Stripe webhook (or a manual entry by an
org admin) recorded first, for the same amount: the server API cannot make one up.
"""

from __future__ import annotations

import uuid

from persistence import ledger
from rooms.codes import ErrorCode, ServiceError


async def require(conn: ledger.Conn, kind: ledger.Kind, target: ledger.Target,
                  target_id: uuid.UUID, ref: str | None, amount_cents: int) -> int:
    """The cents of the ``kind`` row of ``target`` keyed ``ref`` (a payment's payment_ref,
    a refund's refund id), which must be ``amount_cents``.

    Raises:
        ServiceError: REFUSED, no such ledger row ("no ledger payment for tip ...") or
            another amount.
    """
    cents = None if ref is None else await ledger.amount(conn, kind, target, target_id, ref)
    if cents is None:
        raise ServiceError(ErrorCode.REFUSED, f"no ledger {kind} for {target} {target_id}"
                           f" with payment_id {ref!r}")
    if cents != amount_cents:
        raise ServiceError(ErrorCode.REFUSED, f"amount_cents {amount_cents} is not the"
                           f" ledger {kind}'s {cents}")
    return cents
