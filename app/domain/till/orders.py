"""Orders at a till: one earn and one spend per order reference and unit."""

from __future__ import annotations

from app.domain.ledger.accounts import TxKind
from app.domain.shared.errors import DomainError, ErrorCode
from app.platform.uow import UnitOfWork

# `kind IN (...)` repeats the unique index's predicate: without it, a plan for any `$2` (the
# generic plan PostgreSQL keeps for a prepared statement) could not use that partial index.
RECORDED_ORDER = """SELECT id FROM points_transactions
WHERE business_unit_id = $1 AND kind = $2 AND order_ref = $3 AND kind IN ('EARN', 'SPEND')
LIMIT 1"""


def order_reference(order_ref: str) -> str:
    """The caller's order reference, trimmed; 1-64 characters or INVALID_INPUT."""
    ref = (order_ref or "").strip()
    if not 1 <= len(ref) <= 64:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "order reference must be 1-64 characters", "orderRef"
        )
    return ref


async def ensure_new_order(uow: UnitOfWork, unit_id: int, kind: TxKind, order_ref: str) -> None:
    """One earn and one spend per order and unit (a unique index backs this up). Call it under
    the member's lock: a concurrent retry of the order waits, then sees it as DUPLICATE."""
    driver = await uow.driver()
    if await driver.fetchval(RECORDED_ORDER, unit_id, kind.value, order_ref) is not None:
        raise DomainError(
            ErrorCode.DUPLICATE, f"order {order_ref} already has a {kind.value} entry", "orderRef"
        )
