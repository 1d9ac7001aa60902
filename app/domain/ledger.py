"""Ledger primitives: balance locks, journal entries with balanced postings, lots, debt.

Every movement of points is one `PointsTransaction` whose `Posting`s sum to zero. Accounts are
(kind, owner): a member's available and pending points, the points a unit (or the group, owner 0)
has issued, the points redeemed at a unit, and breakage per funder.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select

from app.domain.errors import DomainError, ErrorCode
from app.domain.uow import UnitOfWork
from app.models import LotAllocation, MemberBalance, PointsLot, PointsTransaction, Posting

GROUP = 0


class Account(StrEnum):
    MEMBER_AVAILABLE = "MEMBER_AVAILABLE"
    MEMBER_PENDING = "MEMBER_PENDING"
    ISSUED = "ISSUED"
    REDEEMED = "REDEEMED"
    BREAKAGE = "BREAKAGE"


class TxKind(StrEnum):
    EARN = "EARN"
    SPEND = "SPEND"
    EARN_REVERSAL = "EARN_REVERSAL"
    SPEND_REVERSAL = "SPEND_REVERSAL"
    EXPIRY = "EXPIRY"
    RELEASE = "RELEASE"
    ACTIVITY = "ACTIVITY"  # non-purchase reward: check-in, registration, referral, birthday


class LotState(StrEnum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"


class AllocationKind(StrEnum):
    SPEND = "SPEND"
    EXPIRY = "EXPIRY"
    REFUND = "REFUND"
    DEBT = "DEBT"
    RESTORE = "RESTORE"


Leg = tuple[Account, int, int]


def member_account(state: str) -> Account:
    return Account.MEMBER_PENDING if state == LotState.PENDING else Account.MEMBER_AVAILABLE


def funder_account(funder_unit_id: int | None) -> int:
    """The owner of an ISSUED / BREAKAGE account: the funding unit, or GROUP (marketing)."""
    return funder_unit_id if funder_unit_id is not None else GROUP


def funder_of(lot: PointsLot) -> int:
    return funder_account(lot.funder_unit_id)


def order_reference(order_ref: str) -> str:
    """The caller's order reference, trimmed; 1-64 characters or INVALID_INPUT."""
    ref = (order_ref or "").strip()
    if not 1 <= len(ref) <= 64:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "order reference must be 1-64 characters", "orderRef"
        )
    return ref


async def ensure_new_order(uow: UnitOfWork, unit_id: int, kind: TxKind, order_ref: str) -> None:
    """One earn and one spend per order and unit (a unique index backs this up)."""
    recorded = await uow.session.scalar(
        select(PointsTransaction.id).where(
            PointsTransaction.business_unit_id == unit_id,
            PointsTransaction.kind == kind.value,
            PointsTransaction.order_ref == order_ref,
        )
    )
    if recorded is not None:
        raise DomainError(
            ErrorCode.DUPLICATE, f"order {order_ref} already has a {kind.value} entry", "orderRef"
        )


async def lock_balance(uow: UnitOfWork, member_id: int) -> MemberBalance:
    """The member's balance row, locked until the transaction ends; NOT_FOUND if no member."""
    balance = (
        await uow.session.scalars(
            select(MemberBalance)
            .where(MemberBalance.member_id == member_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if balance is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member {member_id}", "memberId")
    uow.balances[member_id] = balance
    return balance


async def record(uow: UnitOfWork, tx: PointsTransaction, legs: Iterable[Leg]) -> PointsTransaction:
    """Insert `tx` with its postings; refuses legs that do not sum to zero."""
    merged: dict[tuple[Account, int], int] = {}
    for account, owner, points in legs:
        merged[(account, owner)] = merged.get((account, owner), 0) + points
    if sum(merged.values()) != 0:
        raise AssertionError(f"unbalanced postings {merged}")
    uow.session.add(tx)
    await uow.session.flush()
    assert tx.id is not None
    uow.recorded[tx.id] = tx
    for (account, owner), points in merged.items():
        if points:
            uow.session.add(
                Posting(
                    transaction_id=tx.id,
                    account_kind=account.value,
                    account_owner=owner,
                    points=points,
                )
            )
    return tx


async def open_lots(uow: UnitOfWork, member_id: int, state: LotState) -> list[PointsLot]:
    """The member's lots in `state` with points left, earliest expiry first."""
    return list(
        await uow.session.scalars(
            select(PointsLot)
            .where(
                PointsLot.member_id == member_id,
                PointsLot.remaining > 0,
                PointsLot.state == state.value,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
            .execution_options(populate_existing=True)
        )
    )


def take(
    uow: UnitOfWork,
    tx: PointsTransaction,
    lot: PointsLot,
    points: int,
    kind: AllocationKind,
    **extra,
) -> LotAllocation:
    """Consume `points` of `lot` for `tx` and record the allocation row."""
    if points <= 0 or points > lot.remaining:
        raise AssertionError(f"cannot take {points} from lot {lot.id} with {lot.remaining}")
    lot.remaining -= points
    allocation = LotAllocation(
        transaction_id=tx.id, lot_id=lot.id, kind=kind.value, points=points, **extra
    )
    uow.session.add(allocation)
    return allocation


def repay_debt(
    uow: UnitOfWork, balance: MemberBalance, tx: PointsTransaction, lots: Iterable[PointsLot]
) -> None:
    """Points that just became available pay off the member's debt first."""
    for lot in lots:
        if balance.debt == 0:
            return
        if lot.state != LotState.AVAILABLE or lot.remaining == 0:
            continue
        paid = min(balance.debt, lot.remaining)
        take(uow, tx, lot, paid, AllocationKind.DEBT)
        balance.debt -= paid
        tx.debt_change -= paid
