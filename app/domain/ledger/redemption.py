"""Redeeming points: a member's points leave for what a unit gives for them — a till's discount
today, a mall item or a right next. The ledger's part of it, and only that:

- the points come from the member's available lots, earliest expiry first; lots already past
  their expiry are expired first (rarely: the nightly job usually has), never spent;
- every point is traced to the lot it came from: one allocation row per lot, with its share
  of the CNY value (largest remainder, so the shares add up to the cent), which settlement
  reads to charge the lot's issuer and funder;
- the unit that gave something for the points is the redeeming side (REDEEMED account);
- INSUFFICIENT_POINTS when the member's available balance is short; nothing is written then.

Giving a redemption back (`restore`: a till's cancelled spend, a refunded right or mall order)
is a new entry that reverses it: each point goes back to the lot it came from (a RESTORE
allocation against the original one), or, where that lot has expired meanwhile, into a new lot
of the same issuer and funder that lasts the program's grace period; the redeeming unit gives
the points back.

The caller's rules stay with the caller: a till's order reference, daily cap and share of the
order (app.domain.till.spending), a mall item's stock and limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from app.domain.ledger.accounts import Account, AllocationKind, LotState
from app.domain.ledger.expiry import expire_member_points
from app.domain.ledger.lots import allocations_of, lots_by_ids
from app.domain.ledger.writer import Movement, Taken, consume, lock_balance, write
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.money import allocate_largest_remainder
from app.domain.shared.units import read_program
from app.models import MemberBalance, PointsLot, PointsTransaction
from app.platform.driver import columns, entity
from app.platform.uow import UnitOfWork

# The member's lots with points left that a redemption of $3 points may take, earliest expiry
# first: each available lot until those before it cover $3, and every lot (pending too) past
# its expiry at $2, which sorts first and must be expired first. A member with a thousand lots
# reads a few.
SPENDABLE_LOTS = f"""SELECT {columns(PointsLot)} FROM (
    SELECT *, coalesce(sum(remaining) FILTER (WHERE state = 'AVAILABLE' AND expires_at > $2)
        OVER (ORDER BY expires_at, id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
        AS before
    FROM points_lots
    WHERE member_id = $1 AND remaining > 0 AND (state = 'AVAILABLE' OR expires_at <= $2)
) AS lot
WHERE before < $3
ORDER BY expires_at, id"""


async def spendable_lots(
    uow: UnitOfWork, balance: MemberBalance, points: int
) -> tuple[list[PointsLot], MemberBalance]:
    """The member's available lots with points left, earliest expiry first, as many as a
    redemption of `points` takes (values in no session), and their balance. Lots past their
    expiry are not spendable even before the nightly job has swept them: when there are any
    they are expired first."""
    driver = await uow.driver()
    rows = await driver.fetch(SPENDABLE_LOTS, balance.member_id, uow.now, points)
    if any(row["expires_at"] <= uow.now for row in rows):
        await expire_member_points(uow, balance.member_id)
        balance = await lock_balance(uow, balance.member_id)  # the copy the expiry moved
        rows = await driver.fetch(SPENDABLE_LOTS, balance.member_id, uow.now, points)
    return [entity(PointsLot, row) for row in rows if row["state"] == LotState.AVAILABLE], balance


def earliest_first(lots: Sequence[PointsLot], points: int) -> list[tuple[PointsLot, int]]:
    """What each lot gives of `points`, in the lots' order, until they are covered."""
    parts: list[tuple[PointsLot, int]] = []
    needed = points
    for lot in lots:
        if needed == 0:
            break
        part = min(needed, lot.remaining)
        parts.append((lot, part))
        needed -= part
    if needed:
        raise AssertionError(f"lots short of {needed} points for a covered redemption")
    return parts


async def redeem(
    uow: UnitOfWork,
    tx: PointsTransaction,
    balance: MemberBalance,
    *,
    redeemer_unit_id: int,
) -> PointsTransaction:
    """Record `tx` (its `points` negative: what leaves the member; its `cny_value`: what they
    are worth at the redeemer) as a redemption at `redeemer_unit_id`. The caller holds the
    member's balance lock."""
    points = -tx.points
    if points <= 0:
        raise AssertionError(f"a redemption takes points, not {tx.points}")
    lots, balance = await spendable_lots(uow, balance, points)
    if balance.available < points:
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS,
            f"{max(balance.available, 0)} points available, {points} requested",
            "points",
        )
    parts = earliest_first(lots, points)
    values = (
        allocate_largest_remainder(tx.cny_value, [part for _, part in parts])
        if tx.cny_value is not None
        else [None] * len(parts)
    )
    legs = [
        (Account.MEMBER_AVAILABLE, balance.member_id, -points),
        (Account.REDEEMED, redeemer_unit_id, points),
    ]
    taken = [
        Taken(lot, part, AllocationKind.SPEND, value)
        for (lot, part), value in zip(parts, values, strict=True)
    ]
    return await consume(uow, tx, legs, taken, balance)


async def restore(
    uow: UnitOfWork, original: PointsTransaction, tx: PointsTransaction, balance: MemberBalance
) -> PointsTransaction:
    """Record `tx` (its `points` positive, `reverses_id` the original's) giving the redemption
    `original` back whole (see the module's docstring). The caller holds the member's balance
    lock and has checked that `original` was not given back already."""
    if tx.points != -original.points or tx.points <= 0:
        raise AssertionError(f"a restore gives back {-original.points} points, not {tx.points}")
    grace = timedelta(days=(await read_program(uow)).restore_grace_days)
    allocations = await allocations_of(uow, original.id or 0)
    lots = await lots_by_ids(uow, [allocation.lot_id for allocation in allocations])
    restored: list[Taken] = []
    regrants: list[PointsLot] = []
    touched: list[PointsLot] = []  # the points' lots, in the spend's order: they pay debt first
    for allocation in allocations:
        lot = lots[allocation.lot_id]
        if lot.expires_at > uow.now:
            restored.append(
                Taken(
                    lot,
                    -allocation.points,
                    AllocationKind.RESTORE,
                    -(allocation.cny_value or Decimal(0)),
                    restores_allocation_id=allocation.id,
                )
            )
            touched.append(lot)
        else:
            regrant = PointsLot(
                member_id=lot.member_id,
                transaction_id=0,  # the writer gives it the restore's id
                issuer_unit_id=lot.issuer_unit_id,
                funder_unit_id=lot.funder_unit_id,
                cost_per_point=lot.cost_per_point,
                points=allocation.points,
                remaining=allocation.points,
                state=LotState.AVAILABLE.value,
                earned_at=lot.earned_at,
                expires_at=uow.now + grace,
                origin_lot_id=lot.id,
            )
            regrants.append(regrant)
            touched.append(regrant)
    legs = [
        (Account.MEMBER_AVAILABLE, original.member_id, tx.points),
        (Account.REDEEMED, original.business_unit_id, -tx.points),
    ]
    movement = Movement(tx, legs, new_lots=regrants, taken=restored, repay_from=touched)
    return await write(uow, movement, balance)
