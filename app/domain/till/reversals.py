"""Reversals: a refunded order takes back what it earned; a cancelled spend gives points back.

Both are new journal entries linked to the original (`reverses_id`); nothing is edited. The
member's balance lock serialises reversals of one member, so totals are checked race-free.

An earn may have several lots (its own points, and one per campaign bonus with its own
funder): a refund takes back from each lot in proportion, each rounded down, and each lot's
funder gets its points back; a campaign's bonus taken back returns to its budget and cap, and
a pre-paid funder's points to the point blocks the earning drew them from. A wholly refunded
order that paid its member's referrer a referral reward takes that back too (a REWARD_REVERSAL
of the referrer's, in the same transaction).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select

from app.domain.campaigns import rules as campaigns
from app.domain.engagement.rewards import forget_referral, referral_paid_by
from app.domain.ledger.accounts import (
    Account,
    AllocationKind,
    Leg,
    LotState,
    TxKind,
    funder_of,
    member_account,
)
from app.domain.ledger.lots import lots_made_by, open_lots
from app.domain.ledger.redemption import restore
from app.domain.ledger.writer import Movement, Taken, lock_balance, write
from app.domain.settlement.funding import return_funding
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.money import parse_amount
from app.domain.shared.units import read_program
from app.models import LotAllocation, PointsLot, PointsTransaction
from app.platform.uow import UnitOfWork


async def get_transaction(uow: UnitOfWork, transaction_id: int | str) -> PointsTransaction:
    text = str(transaction_id).strip()
    wanted = parse_id(text, big=True)
    tx = await uow.session.get(PointsTransaction, wanted) if wanted is not None else None
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


@dataclass(frozen=True)
class LotRefund:
    """What one refund takes back from one lot of the order: from what is left in the lot,
    as new debt (points already spent), and what had expired (not taken back)."""

    lot: PointsLot
    taken: int
    debt: int
    expired: int


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
    lots = await lots_made_by(uow, original.id)
    parts = await _take_back(uow, lots, previous, (refunded + refund) / order_amount)
    debt = sum(part.debt for part in parts)
    if debt and (await read_program(uow)).refund_shortfall == "BLOCK":
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS,
            f"{debt} of the points to take back were already spent; refunds are blocked then",
            "transactionId",
        )
    taken = sum(part.taken for part in parts)
    member = original.member_id
    legs: list[Leg] = []
    for part in parts:
        legs += [
            (member_account(part.lot.state), member, -part.taken),
            (Account.MEMBER_AVAILABLE, member, -part.debt),
            (Account.ISSUED, funder_of(part.lot), part.taken + part.debt),
        ]
    tx = PointsTransaction(
        member_id=member,
        kind=TxKind.EARN_REVERSAL.value,
        source="ORDER",
        rule="refund",
        business_unit_id=original.business_unit_id,
        order_ref=original.order_ref,
        cny_value=refund,
        points=-(taken + debt),
        reverses_id=original.id,
        reason=reason,
        detail=_refund_detail(parts),
        caller=caller,
        caller_ref=caller_ref,
        created_at=uow.now,
    )
    movement = Movement(
        tx,
        legs,
        taken=[Taken(part.lot, part.taken, AllocationKind.REFUND) for part in parts if part.taken],
        new_debt=debt,
        # points the member still has pay the new debt at once, as later earnings would
        repay_from=await open_lots(uow, member, LotState.AVAILABLE) if debt else (),
    )
    await write(uow, movement, balance)
    # Points a pre-paid unit funded go back to the blocks the earning drew them from.
    assert original.id is not None and tx.id is not None
    await return_funding(
        uow,
        earning_id=original.id,
        refund_id=tx.id,
        taken=[(p.lot.funder_unit_id, p.taken + p.debt) for p in parts],
    )
    # A campaign's bonus taken back (from the lot or as debt) returns to its budget and to the
    # member's cap; points that expired before the refund stay used.
    await campaigns.change_usage(
        uow,
        member,
        {p.lot.campaign_id: -(p.taken + p.debt) for p in parts if p.lot.campaign_id is not None},
    )
    if refunded + refund == order_amount:  # wholly refunded: it was no purchase after all
        await _take_back_referral(uow, original, tx, caller)
    await uow.session.flush()
    return tx


async def _take_back_referral(
    uow: UnitOfWork, order: PointsTransaction, refund: PointsTransaction, caller: str
) -> PointsTransaction | None:
    """The referral reward `order` paid, taken back from the referrer when the order is wholly
    refunded (buying to pay a referrer and returning the goods must not pay): from the reward's
    lot, what the referrer already spent as debt (as a refund takes back earned points; under
    the BLOCK policy only what is left, since another member's refund cannot be refused for
    it), what expired not at all. The referral counts as never made: a later purchase that is
    kept pays it then. Lock order as when it was paid: the referred member's, then the
    referrer's."""
    found = await referral_paid_by(uow, order)
    if found is None:
        return None
    reward, event = found
    balance = await lock_balance(uow, reward.member_id)
    if await _reversals_of(uow, reward):
        return None  # taken back already
    lots = await lots_made_by(uow, reward.id)  # one: the reward's own
    parts = await _take_back(uow, lots, [], Decimal(1))
    if (await read_program(uow)).refund_shortfall == "BLOCK":
        parts = [LotRefund(p.lot, p.taken, 0, p.expired + p.debt) for p in parts]
    taken, debt = sum(p.taken for p in parts), sum(p.debt for p in parts)
    referrer = reward.member_id
    legs: list[Leg] = []
    for part in parts:
        legs += [
            (member_account(part.lot.state), referrer, -part.taken),
            (Account.MEMBER_AVAILABLE, referrer, -part.debt),
            (Account.ISSUED, funder_of(part.lot), part.taken + part.debt),
        ]
    tx = PointsTransaction(
        member_id=referrer,
        kind=TxKind.REWARD_REVERSAL.value,
        source=reward.source,
        rule="refund:referral",
        business_unit_id=reward.business_unit_id,  # like the reward: no order of the referrer's
        points=-(taken + debt),
        reverses_id=reward.id,
        reason=f"member {order.member_id}'s first purchase {order.order_ref} was refunded",
        detail=_refund_detail(parts)
        | {
            "referred_member_id": order.member_id,
            "order_ref": order.order_ref,
            "refund_transaction_id": refund.id,
        },
        caller=caller,
        created_at=uow.now,
    )
    movement = Movement(
        tx,
        legs,
        taken=[Taken(p.lot, p.taken, AllocationKind.REFUND) for p in parts if p.taken],
        new_debt=debt,
        repay_from=await open_lots(uow, referrer, LotState.AVAILABLE) if debt else (),
    )
    await write(uow, movement, balance)
    await forget_referral(uow, event)
    return tx


def _refund_detail(parts: list[LotRefund]) -> dict:
    """Totals taken, charged as debt and expired; per lot too when the order has several."""
    detail: dict = {
        "taken": sum(part.taken for part in parts),
        "debt": sum(part.debt for part in parts),
        "expired": sum(part.expired for part in parts),
    }
    if len(parts) > 1:
        detail["lots"] = {str(p.lot.id): [p.taken, p.debt, p.expired] for p in parts}
    return detail


async def _take_back(
    uow: UnitOfWork, lots: list[PointsLot], previous: list[PointsTransaction], share: Decimal
) -> list[LotRefund]:
    """Per lot, the cumulative target floor(lot points x share refunded so far) less what
    earlier refunds took: exact over partial refunds, never more than a lot gave, and all of
    it once the whole order is refunded. A shortfall becomes debt as far as the lot's points
    were spent (and not already charged as debt); the rest had expired."""
    if not lots:
        return []
    already: dict[int, int] = defaultdict(int)
    debt_before: dict[int, int] = defaultdict(int)
    for tx in previous:
        legacy = [tx.detail.get(key, 0) for key in ("taken", "debt", "expired")]
        # an order with one lot: the totals are that lot's
        per_lot = tx.detail.get("lots") or {str(lots[0].id): legacy}
        for lot_id, (taken, debt, expired) in per_lot.items():
            already[int(lot_id)] += taken + debt + expired
            debt_before[int(lot_id)] += debt
    spent = await _spent_from(uow, lots)
    parts = []
    for lot in lots:
        assert lot.id is not None
        target = int((lot.points * share).to_integral_value(ROUND_DOWN))
        due = max(0, target - already[lot.id])
        taken = min(due, lot.remaining)
        short = due - taken
        debt = max(0, min(short, spent.get(lot.id, 0) - debt_before[lot.id])) if short else 0
        parts.append(LotRefund(lot, taken, debt, short - debt))
    return parts


async def _spent_from(uow: UnitOfWork, lots: list[PointsLot]) -> dict[int, int]:
    """Points of each lot used up and not given back: spends net of restorations, and points
    that paid off debt (they settled earlier spending, so they count as spent too)."""
    rows = await uow.session.execute(
        select(LotAllocation.lot_id, func.sum(LotAllocation.points))
        .where(
            LotAllocation.lot_id.in_([lot.id for lot in lots]),  # type: ignore[attr-defined]
            LotAllocation.kind.in_(  # type: ignore[attr-defined]
                [
                    AllocationKind.SPEND.value,
                    AllocationKind.RESTORE.value,
                    AllocationKind.DEBT.value,
                ]
            ),
        )
        .group_by(LotAllocation.lot_id)
    )
    return {lot_id: int(points or 0) for lot_id, points in rows}


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
    points = -original.points
    tx = PointsTransaction(
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
    )
    return await restore(uow, original, tx, balance)
