"""The events a voucher's receivers act on when it stops being usable or becomes usable again,
recorded through the outbox in the transaction that changes the voucher (beside VOUCHER_ISSUED,
app.domain.rights.wallet, and VOUCHER_USED, app.domain.rights.write_off):

- VOUCHER_RESTORED: a write-off was undone; the voucher can be used again (until its
  `validUntil`). It names the unit the undone write-off was at, as VOUCHER_USED did, so the
  same units receive it: the right's provider and that unit.
- VOUCHER_ENDED: a voucher that could still be used (stored ACTIVE) never will be: `reason`
  REVOKED (an operator revoked it, or its mall order was cancelled), REFUNDED (it
  was returned for its points) or EXPIRED (the nightly sweep found it past its validity). It
  names the right's provider. Each voucher ends once: a voucher already ended or used sends
  nothing more, so one revoked before the sweep reached it is never reported EXPIRED too.

Nothing is recorded for a change that is refused: the event is written with the change, in
the same transaction, or not at all.
"""

from __future__ import annotations

from enum import StrEnum

from app.domain.shared.events import EventType
from app.models import MemberRight, Right
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork


class EndReason(StrEnum):
    REVOKED = "REVOKED"
    REFUNDED = "REFUNDED"
    EXPIRED = "EXPIRED"


def _voucher(held: MemberRight, right: Right) -> dict:
    return {
        "memberRightId": held.id,
        "memberId": held.member_id,
        "rightId": right.id,
        "rightCode": right.code,
        "mallOrderId": held.mall_order_id,
    }


def record_voucher_ended(
    uow: UnitOfWork,
    held: MemberRight,
    right: Right,
    reason: EndReason,
    *,
    by: str | None,
    note: str | None = None,
) -> None:
    """VOUCHER_ENDED for `held` (see the module's docstring); `by` who ended it (None: the
    sweep), `note` the reason they gave."""
    uow.record_event(
        DomainEvent(
            type=EventType.VOUCHER_ENDED.value,
            member_id=held.member_id,
            business_unit_id=right.provider_unit_id,
            payload={
                **_voucher(held, right),
                "reason": reason.value,
                "note": note,
                "by": by[:64] if by is not None else None,
                "validUntil": held.valid_until.isoformat(),
                "endedAt": uow.now.isoformat(),
            },
        )
    )


def record_voucher_restored(
    uow: UnitOfWork,
    held: MemberRight,
    right: Right,
    *,
    used_at_unit_id: int | None,
    order_ref: str | None,
    by: str,
    note: str,
) -> None:
    """VOUCHER_RESTORED for `held`, whose write-off at `used_at_unit_id` (till reference
    `order_ref`) was undone by `by` for `note`."""
    uow.record_event(
        DomainEvent(
            type=EventType.VOUCHER_RESTORED.value,
            member_id=held.member_id,
            business_unit_id=used_at_unit_id,
            payload={
                **_voucher(held, right),
                "usedAtUnitId": used_at_unit_id,
                "orderRef": order_ref,
                "note": note,
                "by": by[:64],
                "validUntil": held.valid_until.isoformat(),
                "restoredAt": uow.now.isoformat(),
            },
        )
    )
