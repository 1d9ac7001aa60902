"""Writing a voucher off at the till: only a unit that may redeem it, exactly once.

- A code that is mistyped (its check character disagrees) or unknown is NOT_FOUND; a mistyped
  one never reaches the database.
- The unit must be the right's provider or one it names; any other unit is refused (FORBIDDEN)
  before it can learn anything about the voucher.
- The voucher's row is locked for the write-off, so two tills scanning the same code at the
  same moment write it off once: the second sees VOUCHER_USED.
- VOUCHER_USED, VOUCHER_REVOKED (also a voucher returned for its points), VOUCHER_EXPIRED (also
  an active one past its validity before the nightly sweep has marked it); not valid yet is
  INVALID_INPUT.
- The write-off records the unit, the till's order reference and the time (on the voucher and
  as a `VoucherWriteOff` row), and sends a VOUCHER_USED event through the outbox.
- The unit that wrote a voucher off may undo it within a window (default 24 h), with a reason:
  the voucher is ACTIVE again (EXPIRED if its validity has passed meanwhile) and the write-off
  row keeps who undid it, when and why, and a VOUCHER_RESTORED event goes through the outbox
  (app.domain.rights.voucher_events). Another unit is FORBIDDEN; after the window,
  UNDO_WINDOW_PASSED; a voucher not written off, INVALID_INPUT. Operators may undo any.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.domain.rights.codes import normalise
from app.domain.rights.voucher_events import record_voucher_restored
from app.domain.rights.wallet import RightStatus, shown_status
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.events import EventType
from app.models import MemberRight, Right, VoucherWriteOff
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork

_REFUSALS = {
    RightStatus.USED: (ErrorCode.VOUCHER_USED, "this voucher was already used"),
    RightStatus.REVOKED: (ErrorCode.VOUCHER_REVOKED, "this voucher was revoked"),
    RightStatus.REFUNDED: (ErrorCode.VOUCHER_REVOKED, "this voucher was returned for its points"),
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
    assert held.id is not None
    uow.session.add(
        VoucherWriteOff(
            member_right_id=held.id, unit_id=unit, order_ref=ref, caller=caller[:64], at=uow.now
        )
    )
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


async def undo_write_off(
    uow: UnitOfWork,
    *,
    code: str,
    unit_id: int | None,
    caller: str,
    reason: str,
    window: timedelta,
) -> MemberRight:
    """Undo the voucher's write-off at `unit_id` (None: an operator) within `window`."""
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "reason must be 1-200 characters", "reason")
    held, right = await find_voucher(uow, code, lock=True)
    if unit_id is not None and not may_redeem(right, unit_id):
        raise PermissionDenied("this voucher is not redeemable at this unit")
    if held.status != RightStatus.USED:
        raise DomainError(ErrorCode.INVALID_INPUT, "this voucher is not written off", "code")
    if unit_id is not None and held.used_at_unit_id != unit_id:
        raise PermissionDenied("only the unit that wrote this voucher off may undo it")
    assert held.used_at is not None
    if uow.now - held.used_at > window:
        hours = int(window.total_seconds() // 3600)
        raise DomainError(
            ErrorCode.UNDO_WINDOW_PASSED,
            f"a write-off can be undone within {hours} h; this one was at"
            f" {held.used_at.isoformat()}",
            "code",
        )
    done = await uow.session.scalar(
        select(VoucherWriteOff)
        .where(
            VoucherWriteOff.member_right_id == held.id,
            VoucherWriteOff.undone_at.is_(None),  # type: ignore[union-attr]
        )
        .order_by(VoucherWriteOff.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    assert done is not None  # a USED voucher has its write-off row
    done.undone_at, done.undone_by, done.undo_reason = uow.now, caller[:64], reason
    used_at_unit_id, order_ref = held.used_at_unit_id, held.used_order_ref
    held.status = RightStatus.ACTIVE.value
    held.used_at = held.used_at_unit_id = held.used_order_ref = None
    await uow.session.flush()
    record_voucher_restored(
        uow,
        held,
        right,
        used_at_unit_id=used_at_unit_id,
        order_ref=order_ref,
        by=caller,
        note=reason,
    )
    return held
