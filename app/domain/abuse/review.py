"""Operators review abuse flags: list them; clear (a false alarm) or confirm (abuse).

Clearing a REFUND_LOOP flag releases the points it held: a held lot whose unit's own return
window is over becomes available at once (one RELEASE entry, as the release job writes), the
others go back to pending until that window ends. Confirming one takes the held points back:
each held earn still pending is refunded (an EARN_REVERSAL, reason "abuse flag N confirmed").
Other kinds hold nothing: a review records the decision. Every review is in the operators'
audit trail, in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select

from app.domain.abuse.screening import FlagKind, FlagStatus
from app.domain.ledger.accounts import LotState
from app.domain.ledger.expiry import release_lots
from app.domain.ledger.writer import lock_balance
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.operator_log import log_operator_action
from app.domain.till.reversals import reverse_transaction
from app.models import AbuseFlag, BusinessUnit, PointsLot, PointsTransaction
from app.platform.uow import UnitOfWork


class Decision(StrEnum):
    CLEAR = "CLEAR"
    CONFIRM = "CONFIRM"


async def list_flags(
    uow: UnitOfWork,
    *,
    status: str | None = None,
    kind: str | None = None,
    member_id: int | None = None,
    limit: int,
    before_id: int | None = None,
) -> list[AbuseFlag]:
    """Newest first, filtered by status, kind and member; keyset on id."""
    query = select(AbuseFlag).order_by(AbuseFlag.id.desc()).limit(limit)
    if status:
        query = query.where(AbuseFlag.status == status)
    if kind:
        query = query.where(AbuseFlag.kind == kind)
    if member_id is not None:
        query = query.where(AbuseFlag.member_id == member_id)
    if before_id is not None:
        query = query.where(AbuseFlag.id < before_id)
    return list(await uow.session.scalars(query))


async def get_flag(uow: UnitOfWork, flag_id: int | str) -> AbuseFlag:
    """The flag, or NOT_FOUND."""
    text = str(flag_id).strip()
    wanted = parse_id(text, big=True)
    flag = await uow.session.get(AbuseFlag, wanted) if wanted is not None else None
    if flag is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no abuse flag {text!r}", "flagId")
    return flag


async def held_lots(uow: UnitOfWork, flag: AbuseFlag) -> list[PointsLot]:
    """The lots still pending because this flag held them."""
    if flag.kind != FlagKind.REFUND_LOOP or flag.member_id is None:
        return []
    return list(
        await uow.session.scalars(
            select(PointsLot)
            .join(PointsTransaction, PointsTransaction.id == PointsLot.transaction_id)
            .where(
                PointsTransaction.member_id == flag.member_id,
                PointsTransaction.kind == "EARN",
                PointsTransaction.detail["hold"]["flag"].as_integer() == flag.id,
                PointsLot.state == LotState.PENDING.value,
                PointsLot.remaining > 0,
                PointsLot.origin_lot_id.is_(None),
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
            .execution_options(populate_existing=True)
        )
    )


async def review_flag(
    uow: UnitOfWork, *, flag_id: int | str, decision: str, note: str, actor: str
) -> AbuseFlag:
    """Clear or confirm an open flag; release or take back what it held; log the review."""
    note = (note or "").strip()
    if not 1 <= len(note) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "note must be 1-200 characters", "note")
    if decision not in (Decision.CLEAR, Decision.CONFIRM):
        raise DomainError(ErrorCode.INVALID_INPUT, "decision must be CLEAR or CONFIRM", "decision")
    text_id = str(flag_id).strip()
    flag = (
        (
            await uow.session.scalars(
                select(AbuseFlag)
                .where(AbuseFlag.id == parse_id(text_id, big=True))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).first()
        if parse_id(text_id, big=True) is not None
        else None
    )
    if flag is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no abuse flag {text_id!r}", "flagId")
    if flag.status != FlagStatus.OPEN:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"this flag was already {flag.status.lower()}", "flagId"
        )
    outcome: dict[str, int] = {}
    if flag.kind == FlagKind.REFUND_LOOP and flag.member_id is not None:
        balance = await lock_balance(uow, flag.member_id)  # before reading the lots
        lots = await held_lots(uow, flag)
        if decision == Decision.CLEAR:
            outcome = await _release(uow, balance, lots, actor, flag.id)
        else:
            outcome = await _take_back(uow, lots, actor, flag.id)
    flag.status = FlagStatus.CLEARED if decision == Decision.CLEAR else FlagStatus.CONFIRMED
    flag.reviewed_by, flag.reviewed_at, flag.review_note = actor[:64], uow.now, note
    flag.updated_at = uow.now
    await log_operator_action(
        uow,
        actor=actor,
        action=f"abuse_flag.{decision.lower()}",
        target_kind="abuse_flag",
        target_id=flag.id or 0,
        reason=note,
        detail={"kind": flag.kind, "memberId": flag.member_id, "device": flag.device_id, **outcome},
    )
    await uow.session.flush()
    return flag


async def _release(uow, balance, lots: list[PointsLot], actor: str, flag_id) -> dict[str, int]:
    """Held lots past their unit's return window: available now; the others: that window."""
    due, later = [], 0
    for lot in lots:
        unit = await uow.session.get(BusinessUnit, lot.issuer_unit_id)
        window_end = lot.earned_at + timedelta(days=unit.pending_days if unit else 0)
        if window_end > uow.now:
            lot.pending_until = window_end
            later += lot.remaining
        else:
            due.append(lot)
    released = sum(lot.remaining for lot in due)
    for lot in due:
        uow.session.expunge(lot)  # values from here on: the ledger's writer writes them
    if due:
        await release_lots(uow, balance, due, caller=actor, rule=f"abuse-flag-{flag_id}-cleared")
    await uow.session.flush()
    return {"releasedPoints": released, "stillPendingPoints": later}


async def _take_back(uow, lots: list[PointsLot], actor: str, flag_id) -> dict[str, int]:
    """Refund each held earn (all that is left of it): its pending points leave the member."""
    taken = 0
    for lot in lots:
        reversal = await reverse_transaction(
            uow,
            transaction_id=lot.transaction_id,
            reason=f"abuse flag {flag_id} confirmed",
            caller=actor,
        )
        taken -= reversal.points
    return {"withdrawnPoints": taken}
