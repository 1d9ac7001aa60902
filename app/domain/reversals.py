"""Reversals: a refunded order takes back what it earned; a cancelled spend gives points back.

Both are new journal entries linked to the original (`reverses_id`); nothing is edited. The
member's balance lock serialises reversals of one member, so totals are checked race-free.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select

from app.domain.errors import DomainError, ErrorCode
from app.domain.ledger import (
    Account,
    AllocationKind,
    LotState,
    TxKind,
    funder_of,
    lock_balance,
    member_account,
    open_lots,
    record,
    repay_debt,
    take,
)
from app.domain.money import parse_amount
from app.domain.units import get_program
from app.domain.uow import UnitOfWork
from app.models import LotAllocation, PointsLot, PointsTransaction


async def get_transaction(uow: UnitOfWork, transaction_id: int | str) -> PointsTransaction:
    text = str(transaction_id).strip()
    tx = await uow.session.get(PointsTransaction, int(text)) if text.isdigit() else None
    if tx is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no transaction {text!r}", "transactionId")
    return tx


async def reverse_transaction(
    uow: UnitOfWork,
    *,
    transaction_id: int | str,
    reason: str,
    caller: str,
    amount: Decimal | str | None = None,
    caller_ref: str | None = None,
) -> PointsTransaction:
    """Reverse an earn (refund, optionally partial by CNY amount) or a spend (cancel, whole)."""
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "reason must be 1-200 characters", "reason")
    original = await get_transaction(uow, transaction_id)
    if original.kind == TxKind.EARN:
        return await _refund_earn(uow, original, amount, reason, caller, caller_ref)
    if original.kind == TxKind.SPEND:
        if amount is not None:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "a spend is cancelled whole; omit amount", "amount"
            )
        return await _cancel_spend(uow, original, reason, caller, caller_ref)
    raise DomainError(
        ErrorCode.INVALID_INPUT,
        f"a {original.kind} transaction cannot be reversed",
        "transactionId",
    )


async def _reversals_of(uow: UnitOfWork, original: PointsTransaction) -> list[PointsTransaction]:
    return list(
        await uow.session.scalars(
            select(PointsTransaction).where(PointsTransaction.reverses_id == original.id)
        )
    )


async def _refund_earn(
    uow: UnitOfWork,
    original: PointsTransaction,
    amount: Decimal | str | None,
    reason: str,
    caller: str,
    caller_ref: str | None,
) -> PointsTransaction:
    balance = await lock_balance(uow, original.member_id)
    previous = await _reversals_of(uow, original)
    refunded = sum((tx.cny_value or Decimal(0) for tx in previous), Decimal(0))
    order_amount = original.order_amount or Decimal(0)
    left = order_amount - refunded
    if left <= 0:
        raise DomainError(
            ErrorCode.ALREADY_REVERSED, "this order is already fully refunded", "transactionId"
        )
    refund = left if amount is None else parse_amount(amount, "amount")
    if refund > left:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"at most {left} CNY of this order is left to refund", "amount"
        )
    # Cumulative target keeps partial refunds exact: the last one takes back what is left.
    target = int(
        (original.points * (refunded + refund) / order_amount).to_integral_value(ROUND_DOWN)
    )
    already = sum(-tx.points + tx.detail.get("expired", 0) for tx in previous)
    due = target - already
    lot = (
        await uow.session.scalars(
            select(PointsLot)
            .where(PointsLot.transaction_id == original.id, PointsLot.origin_lot_id.is_(None))
            .execution_options(populate_existing=True)
        )
    ).first()
    taken = min(due, lot.remaining) if lot is not None else 0
    short = due - taken
    debt = 0
    if short and lot is not None:
        spent = await _spent_from(uow, lot)
        debt_before = sum(tx.detail.get("debt", 0) for tx in previous)
        debt = max(0, min(short, spent - debt_before))
    if debt and (await get_program(uow.session)).refund_shortfall == "BLOCK":
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS,
            f"{debt} of the points to take back were already spent; refunds are blocked then",
            "transactionId",
        )
    points = taken + debt
    account = member_account(lot.state) if lot is not None else Account.MEMBER_AVAILABLE
    funder = funder_of(lot) if lot is not None else original.business_unit_id
    tx = await record(
        uow,
        PointsTransaction(
            member_id=original.member_id,
            kind=TxKind.EARN_REVERSAL.value,
            source="ORDER",
            rule="refund",
            business_unit_id=original.business_unit_id,
            order_ref=original.order_ref,
            cny_value=refund,
            points=-points,
            reverses_id=original.id,
            reason=reason,
            debt_change=debt,
            detail={"taken": taken, "debt": debt, "expired": short - debt},
            caller=caller,
            caller_ref=caller_ref,
            created_at=uow.now,
        ),
        [
            (account, original.member_id, -taken),
            (Account.MEMBER_AVAILABLE, original.member_id, -debt),
            (Account.ISSUED, funder, points),
        ],
    )
    if taken:
        take(uow, tx, lot, taken, AllocationKind.REFUND)
    if lot is not None and lot.state == LotState.PENDING:
        balance.pending -= taken
    else:
        balance.available -= taken
    balance.available -= debt
    balance.debt += debt
    if debt:  # points the member still has pay the new debt at once, as later earnings would
        repay_debt(uow, balance, tx, await open_lots(uow, original.member_id, LotState.AVAILABLE))
    await uow.session.flush()
    return tx


async def _spent_from(uow: UnitOfWork, lot: PointsLot) -> int:
    """Points of `lot` used up and not given back: spends net of restorations, and points that
    paid off debt (they settled earlier spending, so they count as spent too)."""
    spent = await uow.session.scalar(
        select(func.coalesce(func.sum(LotAllocation.points), 0)).where(
            LotAllocation.lot_id == lot.id,
            LotAllocation.kind.in_(
                [
                    AllocationKind.SPEND.value,
                    AllocationKind.RESTORE.value,
                    AllocationKind.DEBT.value,
                ]
            ),
        )
    )
    return int(spent or 0)


async def _cancel_spend(
    uow: UnitOfWork,
    original: PointsTransaction,
    reason: str,
    caller: str,
    caller_ref: str | None,
) -> PointsTransaction:
    balance = await lock_balance(uow, original.member_id)
    if await _reversals_of(uow, original):
        raise DomainError(
            ErrorCode.ALREADY_REVERSED, "this spend is already cancelled", "transactionId"
        )
    program = await get_program(uow.session)
    points = -original.points
    tx = await record(
        uow,
        PointsTransaction(
            member_id=original.member_id,
            kind=TxKind.SPEND_REVERSAL.value,
            source="ORDER",
            rule="cancel",
            business_unit_id=original.business_unit_id,
            order_ref=original.order_ref,
            cny_value=original.cny_value,
            points=points,
            reverses_id=original.id,
            reason=reason,
            caller=caller,
            caller_ref=caller_ref,
            created_at=uow.now,
        ),
        [
            (Account.MEMBER_AVAILABLE, original.member_id, points),
            (Account.REDEEMED, original.business_unit_id, -points),
        ],
    )
    allocations = list(
        await uow.session.scalars(
            select(LotAllocation)
            .where(LotAllocation.transaction_id == original.id)
            .order_by(LotAllocation.id)
        )
    )
    touched: list[PointsLot] = []
    for allocation in allocations:
        lot = (
            await uow.session.scalars(
                select(PointsLot)
                .where(PointsLot.id == allocation.lot_id)
                .execution_options(populate_existing=True)
            )
        ).one()
        if lot.expires_at > uow.now:
            lot.remaining += allocation.points
            uow.session.add(
                LotAllocation(
                    transaction_id=tx.id,
                    lot_id=lot.id,
                    kind=AllocationKind.RESTORE.value,
                    points=-allocation.points,
                    cny_value=-(allocation.cny_value or Decimal(0)),
                    restores_allocation_id=allocation.id,
                )
            )
            touched.append(lot)
        else:
            # The lot expired meanwhile: the points come back in a new lot with a grace period.
            regrant = PointsLot(
                member_id=lot.member_id,
                transaction_id=tx.id,
                issuer_unit_id=lot.issuer_unit_id,
                funder_unit_id=lot.funder_unit_id,
                cost_per_point=lot.cost_per_point,
                points=allocation.points,
                remaining=allocation.points,
                state=LotState.AVAILABLE.value,
                earned_at=lot.earned_at,
                expires_at=uow.now + timedelta(days=program.restore_grace_days),
                origin_lot_id=lot.id,
            )
            uow.session.add(regrant)
            touched.append(regrant)
    await uow.session.flush()
    balance.available += points
    repay_debt(uow, balance, tx, touched)
    await uow.session.flush()
    return tx
