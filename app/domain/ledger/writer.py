"""Ledger primitives: balance locks, journal entries with balanced postings, lots, debt.

Every movement of points is one `PointsTransaction` whose `Posting`s sum to zero. Accounts are
(kind, owner): a member's available and pending points, the points a unit (or the group, owner 0)
has issued, the points redeemed at a unit, and breakage per funder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from app.domain.shared.errors import DomainError, ErrorCode
from app.models import (
    LotAllocation,
    Member,
    MemberBalance,
    PointsLot,
    PointsTransaction,
    Posting,
)
from app.platform.driver import columns, entity
from app.platform.uow import UnitOfWork

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


# `kind IN (...)` repeats the unique index's predicate: without it, a plan for any `$2` (the
# generic plan PostgreSQL keeps for a prepared statement) could not use that partial index.
_RECORDED_ORDER = """SELECT id FROM points_transactions
WHERE business_unit_id = $1 AND kind = $2 AND order_ref = $3 AND kind IN ('EARN', 'SPEND')
LIMIT 1"""

# The member (a value) and their balance row, locked; members.id and member_balances.member_id
# are the same key, so one statement does both.
_LOCK_MEMBER = f"""SELECT {columns(Member, "m")}, {columns(MemberBalance, "b")}
FROM member_balances b JOIN members m ON m.id = b.member_id
WHERE b.member_id = $1
FOR UPDATE OF b"""


async def ensure_new_order(uow: UnitOfWork, unit_id: int, kind: TxKind, order_ref: str) -> None:
    """One earn and one spend per order and unit (a unique index backs this up)."""
    driver = await uow.driver()
    if await driver.fetchval(_RECORDED_ORDER, unit_id, kind.value, order_ref) is not None:
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


async def lock_member(uow: UnitOfWork, member_id: int | str) -> tuple[Member, MemberBalance]:
    """The member and their balance row, locked until the transaction ends (`get_member` and
    `lock_balance` in one statement, for the hot paths); NOT_FOUND if no member. Both are
    values in no session: the caller writes the balance itself (`record_with_lots`)."""
    text = str(member_id).strip()
    row = await (await uow.driver()).fetchrow(_LOCK_MEMBER, int(text)) if text.isdigit() else None
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member {text!r}", "memberId")
    balance = entity(MemberBalance, row)
    uow.balances[balance.member_id] = balance
    return entity(Member, row), balance


def balanced(legs: Iterable[Leg]) -> dict[tuple[Account, int], int]:
    """The legs merged per account; refuses legs that do not sum to zero."""
    merged: dict[tuple[Account, int], int] = {}
    for account, owner, points in legs:
        merged[(account, owner)] = merged.get((account, owner), 0) + points
    if sum(merged.values()) != 0:
        raise AssertionError(f"unbalanced postings {merged}")
    return merged


async def record(uow: UnitOfWork, tx: PointsTransaction, legs: Iterable[Leg]) -> PointsTransaction:
    """Insert `tx` with its postings; refuses legs that do not sum to zero."""
    merged = balanced(legs)
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


_LOT_FIELDS = (
    "member_id",
    "issuer_unit_id",
    "funder_unit_id",
    "cost_per_point",
    "points",
    "remaining",
    "state",
    "earned_at",
    "expires_at",
    "pending_until",
    "campaign_id",
)
# A transaction and its postings ($1-$21: `_transaction_arguments`), the head of the
# statements below.
_TRANSACTION_WITH_POSTINGS = """WITH tx AS (
    INSERT INTO points_transactions (member_id, kind, source, rule, business_unit_id,
        merchant_id, order_ref, category, order_amount, cny_value, points, reverses_id, reason,
        debt_change, detail, caller, caller_ref, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
    RETURNING id
), legs AS (
    INSERT INTO postings (transaction_id, account_kind, account_owner, points)
    SELECT tx.id, leg.account_kind, leg.account_owner, leg.points
    FROM tx, unnest($19::varchar[], $20::bigint[], $21::int[])
        AS leg (account_kind, account_owner, points)
)"""
# `record_with_lots` in one statement: the transaction, its postings, its lots (ids drawn in
# the lots' order), what the lots paid of the member's debt, and the member's balance row.
_RECORD_WITH_LOTS = (
    _TRANSACTION_WITH_POSTINGS
    + """, new_lot AS MATERIALIZED (
    SELECT nextval('points_lots_id_seq') AS id, tx.id AS transaction_id, lot.*
    FROM tx, (
        SELECT * FROM unnest($22::int[], $23::int[], $24::int[], $25::numeric[], $26::int[],
                             $27::int[], $28::varchar[], $29::timestamptz[], $30::timestamptz[],
                             $31::timestamptz[], $32::int[], $33::int[])
            WITH ORDINALITY AS given (member_id, issuer_unit_id, funder_unit_id, cost_per_point,
                                      points, remaining, state, earned_at, expires_at,
                                      pending_until, campaign_id, debt_paid, n)
        ORDER BY n
    ) AS lot
), lots AS (
    INSERT INTO points_lots (id, transaction_id, member_id, issuer_unit_id, funder_unit_id,
        cost_per_point, points, remaining, state, earned_at, expires_at, pending_until,
        campaign_id)
    SELECT id, transaction_id, member_id, issuer_unit_id, funder_unit_id, cost_per_point,
        points, remaining, state, earned_at, expires_at, pending_until, campaign_id
    FROM new_lot ORDER BY n
), repaid AS (
    INSERT INTO lot_allocations (transaction_id, lot_id, kind, points)
    SELECT transaction_id, id, 'DEBT', debt_paid FROM new_lot WHERE debt_paid > 0 ORDER BY n
), balance AS (
    UPDATE member_balances SET available = $35, pending = $36, debt = $37
    WHERE member_id = $34 AND (available, pending, debt) IS DISTINCT FROM ($35, $36, $37)
)
SELECT tx.id, array(SELECT id FROM new_lot ORDER BY n) AS lot_ids FROM tx"""
)


def _move_balance(
    tx: PointsTransaction, legs: Iterable[Leg], balance: MemberBalance
) -> dict[tuple[Account, int], int]:
    """The transaction's postings, merged per account (none of zero), after moving the member's
    balance row by the member's own postings."""
    assert balance.member_id == tx.member_id
    merged = {key: points for key, points in balanced(legs).items() if points}
    for (account, owner), points in merged.items():
        if owner == tx.member_id and account == Account.MEMBER_AVAILABLE:
            balance.available += points
        elif owner == tx.member_id and account == Account.MEMBER_PENDING:
            balance.pending += points
    return merged


def _transaction_arguments(
    tx: PointsTransaction, merged: dict[tuple[Account, int], int]
) -> tuple[Any, ...]:
    """$1-$21 of `_TRANSACTION_WITH_POSTINGS`: the transaction's columns, then its postings."""
    return (
        *(tx.member_id, tx.kind, tx.source, tx.rule, tx.business_unit_id, tx.merchant_id),
        *(tx.order_ref, tx.category, tx.order_amount, tx.cny_value, tx.points, tx.reverses_id),
        *(tx.reason, tx.debt_change, json.dumps(tx.detail), tx.caller, tx.caller_ref),
        tx.created_at,
        [account.value for account, _ in merged],
        [owner for _, owner in merged],
        list(merged.values()),
    )


async def record_with_lots(
    uow: UnitOfWork,
    tx: PointsTransaction,
    legs: Iterable[Leg],
    lots: Sequence[PointsLot],
    balance: MemberBalance,
) -> PointsTransaction:
    """`record` for the hot paths, in one statement: `tx` with its postings and new `lots`; the
    member's balance row moves by the member's postings, and new available points pay off the
    member's debt first (DEBT allocations). The caller holds the balance lock (`lock_member`);
    `tx`, `lots` and `balance` are values in no session and come back as written (ids too)."""
    merged = _move_balance(tx, legs, balance)
    paid = {id(lot): points for lot, points in debt_payments(balance.debt, lots)}
    for lot in lots:
        lot.remaining -= paid.get(id(lot), 0)
    balance.debt -= sum(paid.values())
    tx.debt_change -= sum(paid.values())
    row = await (await uow.driver()).fetchrow(
        _RECORD_WITH_LOTS,
        *_transaction_arguments(tx, merged),
        *([getattr(lot, name) for lot in lots] for name in _LOT_FIELDS),
        [paid.get(id(lot), 0) for lot in lots],
        *(balance.member_id, balance.available, balance.pending, balance.debt),
    )
    tx.id = row["id"]
    for lot, lot_id in zip(lots, row["lot_ids"], strict=True):
        lot.id, lot.transaction_id = lot_id, tx.id
    uow.recorded[tx.id] = tx
    return tx


# `record_with_allocations` in one statement: the transaction, its postings, what it took of
# existing lots (allocation rows, and the lots' remaining points), and the member's balance row.
_RECORD_WITH_ALLOCATIONS = (
    _TRANSACTION_WITH_POSTINGS
    + """, taken AS (
    SELECT * FROM unnest($22::bigint[], $23::int[], $24::numeric[], $25::int[])
        WITH ORDINALITY AS part (lot_id, points, cny_value, remaining, n)
), allocations AS (
    INSERT INTO lot_allocations (transaction_id, lot_id, kind, points, cny_value)
    SELECT tx.id, taken.lot_id, $26, taken.points, taken.cny_value
    FROM tx, taken ORDER BY taken.n
), lots AS (
    UPDATE points_lots SET remaining = taken.remaining
    FROM taken WHERE points_lots.id = taken.lot_id
), balance AS (
    UPDATE member_balances SET available = $28, pending = $29, debt = $30
    WHERE member_id = $27 AND (available, pending, debt) IS DISTINCT FROM ($28, $29, $30)
)
SELECT id FROM tx"""
)


async def record_with_allocations(
    uow: UnitOfWork,
    tx: PointsTransaction,
    legs: Iterable[Leg],
    taken: Sequence[tuple[PointsLot, int, Decimal | None]],
    kind: AllocationKind,
    balance: MemberBalance,
) -> PointsTransaction:
    """`record` and `take` for the hot paths, in one statement: `tx` with its postings and an
    allocation row of `kind` per (lot, points, CNY value) taken; the lots' remaining points and
    the member's balance row move by them. The caller holds the balance lock (`lock_member`);
    `tx`, the lots and `balance` are values in no session and come back as written."""
    merged = _move_balance(tx, legs, balance)
    for lot, points, _ in taken:
        if points <= 0 or points > lot.remaining:
            raise AssertionError(f"cannot take {points} from lot {lot.id} with {lot.remaining}")
        lot.remaining -= points
    tx.id = await (await uow.driver()).fetchval(
        _RECORD_WITH_ALLOCATIONS,
        *_transaction_arguments(tx, merged),
        [lot.id for lot, _, _ in taken],
        [points for _, points, _ in taken],
        [value for _, _, value in taken],
        [lot.remaining for lot, _, _ in taken],
        kind.value,
        *(balance.member_id, balance.available, balance.pending, balance.debt),
    )
    uow.recorded[tx.id] = tx
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


def debt_payments(debt: int, lots: Iterable[PointsLot]) -> list[tuple[PointsLot, int]]:
    """What each lot pays of `debt`, in the lots' order: available points, until it is paid."""
    payments = []
    for lot in lots:
        if debt == 0:
            break
        if lot.state != LotState.AVAILABLE or lot.remaining == 0:
            continue
        paid = min(debt, lot.remaining)
        payments.append((lot, paid))
        debt -= paid
    return payments


def repay_debt(
    uow: UnitOfWork, balance: MemberBalance, tx: PointsTransaction, lots: Iterable[PointsLot]
) -> None:
    """Points that just became available pay off the member's debt first."""
    for lot, paid in debt_payments(balance.debt, lots):
        take(uow, tx, lot, paid, AllocationKind.DEBT)
        balance.debt -= paid
        tx.debt_change -= paid
