"""Writing a voucher off at the till: only a unit that may redeem it, exactly once.

- A code that is mistyped (its check character disagrees) or unknown is NOT_FOUND; a mistyped
  one never reaches the database.
- The unit must be the right's provider or one it names; any other unit is refused (FORBIDDEN)
  before it can learn anything about the voucher.
- The voucher's row is locked for the write-off, so two tills scanning the same code at the
  same moment write it off once: the second sees VOUCHER_USED.
- VOUCHER_USED, VOUCHER_REVOKED, VOUCHER_EXPIRED (also an active one past its validity before
  the nightly sweep has marked it); not valid yet is INVALID_INPUT.
- The write-off records the unit, the till's order reference and the time, and sends a
  VOUCHER_USED event through the outbox.
"""

from __future__ import annotations

from sqlalchemy import select

from app.domain.rights.codes import normalise
from app.domain.rights.wallet import RightStatus, shown_status
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.events import EventType
from app.models import MemberRight, Right
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork

_REFUSALS = {
    RightStatus.USED: (ErrorCode.VOUCHER_USED, "this voucher was already used"),
    RightStatus.REVOKED: (ErrorCode.VOUCHER_REVOKED, "this voucher was revoked"),
    RightStatus.EXPIRED: (ErrorCode.VOUCHER_EXPIRED, "this voucher has expired"),
}


def may_redeem(right: Right, unit_id: int | None) -> bool:
    """Whether `unit_id` may write this right off: its provider or a unit it names."""
    return unit_id is not None and (
        unit_id == right.provider_unit_id or unit_id in right.redeemable_unit_ids
    )


async def find_voucher(
    uow: UnitOfWork, code: str, *, lock: bool = False
) -> tuple[MemberRight, Right]:
    """The voucher with this code and its right, or NOT_FOUND (`lock`: its row held)."""
    normal = normalise(code)
    row = None
    if normal is not None:
        query = (
            select(MemberRight, Right)
            .join(Right, Right.id == MemberRight.right_id)
            .where(MemberRight.code == normal)
        )
        if lock:
            query = query.with_for_update(of=MemberRight)
        row = (await uow.session.execute(query.execution_options(populate_existing=True))).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no voucher with this code", "code")
    return row[0], row[1]


async def voucher_for_unit(
    uow: UnitOfWork, code: str, unit_id: int | None
) -> tuple[MemberRight, Right]:
    """The voucher as a till of `unit_id` may look it up before writing it off (None: an
    operator, who may look any voucher up)."""
    held, right = await find_voucher(uow, code)
    if unit_id is not None and not may_redeem(right, unit_id):
        raise PermissionDenied("this voucher is not redeemable at this unit")
    return held, right


async def write_off_voucher(
    uow: UnitOfWork,
    *,
    code: str,
    unit_id: int | None,
    caller: str,
    order_ref: str | None = None,
) -> MemberRight:
    """Write the voucher off at `unit_id` (None: an operator, at the provider)."""
    ref = (order_ref or "").strip() or None
    if ref is not None and len(ref) > 64:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "order reference must be 1-64 characters", "orderRef"
        )
    held, right = await find_voucher(uow, code, lock=True)
    unit = right.provider_unit_id if unit_id is None else unit_id
    if not may_redeem(right, unit):
        raise PermissionDenied("this voucher is not redeemable at this unit")
    refusal = _REFUSALS.get(RightStatus(shown_status(held, uow.now)))
    if refusal is not None:
        raise DomainError(refusal[0], refusal[1], "code")
    if held.valid_from > uow.now:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"valid from {held.valid_from.isoformat()}", "code"
        )
    held.status = RightStatus.USED.value
    held.used_at, held.used_at_unit_id, held.used_order_ref = uow.now, unit, ref
    await uow.session.flush()
    uow.record_event(
        DomainEvent(
            type=EventType.VOUCHER_USED.value,
            member_id=held.member_id,
            business_unit_id=unit,
            payload={
                "memberRightId": held.id,
                "memberId": held.member_id,
                "rightId": right.id,
                "rightCode": right.code,
                "usedAtUnitId": unit,
                "orderRef": ref,
                "by": caller[:64],
                "usedAt": uow.now.isoformat(),
            },
        )
    )
    return held
