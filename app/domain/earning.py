"""Earning: price an order in points (preview) and record it as a lot on the ledger.

The price is a list of breakdown lines stored on the transaction (`detail["breakdown"]`): the
base rate, then the member's tier multiplier as its own line. The tier that multiplies an order
is the member's tier *before* that order: an order that lifts the member to a higher tier earns
at the old tier's rate, and the new multiplier applies from the next order on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from app.domain.abuse import EarnScreen, screen_earn
from app.domain.activities import reward_referral
from app.domain.expiry import expiry_for
from app.domain.ledger import (
    Account,
    LotState,
    TxKind,
    ensure_new_order,
    lock_balance,
    member_account,
    order_reference,
    record,
    repay_debt,
)
from app.domain.members import get_member
from app.domain.money import parse_amount
from app.domain.tiers import (
    current_standing,
    evaluate_upgrade,
    load_tiers,
    plain,
    settle_standing,
)
from app.domain.units import earn_rate, get_merchant, get_program, get_unit
from app.domain.uow import UnitOfWork
from app.models import BusinessUnit, Merchant, PointsLot, PointsTransaction, Tier


@dataclass(frozen=True)
class BreakdownLine:
    kind: str
    rule: str
    points: int
    detail: str = ""


@dataclass(frozen=True)
class EarnQuote:
    """What an order earns, line by line; nothing recorded."""

    unit: BusinessUnit
    merchant: Merchant | None
    amount: Decimal
    category: str | None
    points: int
    lines: list[BreakdownLine] = field(default_factory=list)

    @property
    def rule(self) -> str:
        return "+".join(line.rule for line in self.lines)


async def quote_earn(
    uow: UnitOfWork,
    *,
    business_unit: str | int,
    amount: Decimal | str,
    merchant: str | int | None = None,
    category: str | None = None,
    member_id: int | str | None = None,
) -> EarnQuote:
    """Price an order in points: base rate (merchant > category > unit), rounded down; with a
    member, times their current tier's multiplier (its own line). Nothing is recorded."""
    value = parse_amount(amount, "amount")
    unit = await get_unit(uow.session, business_unit)
    shop = await get_merchant(uow.session, unit, merchant) if merchant not in (None, "") else None
    category = (category or "").strip().upper() or None
    rate = await earn_rate(uow.session, unit, shop, category)
    points = int((value * rate.points_per_cny).to_integral_value(rounding=ROUND_DOWN))
    line = BreakdownLine(
        kind="BASE",
        rule=rate.rule,
        points=points,
        detail=f"{value} CNY x {rate.points_per_cny.normalize()} pt/CNY, rounded down",
    )
    quote = EarnQuote(unit, shop, value, category, points, [line])
    if member_id is None:
        return quote
    member = await get_member(uow, member_id)
    assert member.id is not None
    return apply_tier(quote, (await current_standing(uow, member.id)).tier)


def apply_tier(quote: EarnQuote, tier: Tier) -> EarnQuote:
    """Add the tier line: floor(base x multiplier) - base points, on the rounded-down base."""
    multiplier = tier.earn_multiplier
    if multiplier == 1:
        return quote
    base = quote.lines[0].points
    total = int((base * multiplier).to_integral_value(rounding=ROUND_DOWN))
    line = BreakdownLine(
        kind="TIER",
        rule=f"tier:{tier.code} x{plain(multiplier)}",
        points=total - base,
        detail=f"{base} base pts x {plain(multiplier)} = {plain(base * multiplier)}, rounded down",
    )
    return replace(quote, points=quote.points + line.points, lines=[*quote.lines, line])


async def earn_points(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    business_unit: str | int,
    order_ref: str,
    amount: Decimal | str,
    caller: str,
    merchant: str | int | None = None,
    category: str | None = None,
    caller_ref: str | None = None,
    device_id: str | None = None,
    screen: EarnScreen | None = None,
) -> PointsTransaction:
    """Record the points an order earns as one lot (pending for the unit's return window), at
    the member's tier before this order; then upgrade the member if the order crossed a tier's
    threshold, in the same transaction."""
    order_ref = order_reference(order_ref)
    quote = await quote_earn(
        uow, business_unit=business_unit, amount=amount, merchant=merchant, category=category
    )
    member = await get_member(uow, member_id)
    unit = quote.unit
    balance = await lock_balance(uow, member.id)
    # under the member's lock: a concurrent retry of this order waits, then sees it as DUPLICATE
    await ensure_new_order(uow, unit.id, TxKind.EARN, order_ref)
    program = await get_program(uow.session)
    tiers = await load_tiers(uow.session)
    standing = await settle_standing(uow, member.id, actor=caller, tiers=tiers, program=program)
    quote = apply_tier(quote, standing.tier)
    pending_until = uow.now + timedelta(days=unit.pending_days) if unit.pending_days > 0 else None
    screening = await screen_earn(
        uow, screen, member_id=member.id, unit_id=unit.id, device_id=device_id
    )
    pending_until = screening.pending_until(pending_until)  # a refund loop may hold the points
    state = LotState.PENDING if pending_until else LotState.AVAILABLE
    tx = PointsTransaction(
        member_id=member.id,
        kind=TxKind.EARN.value,
        source="ORDER",
        rule=quote.rule[:200],
        business_unit_id=unit.id,
        merchant_id=quote.merchant.id if quote.merchant else None,
        order_ref=order_ref,
        category=quote.category,
        order_amount=quote.amount,
        points=quote.points,
        detail={"breakdown": [line.__dict__ for line in quote.lines], **screening.detail},
        caller=caller,
        caller_ref=caller_ref,
        created_at=uow.now,
    )
    if quote.points == 0:
        await record(uow, tx, [])
        await evaluate_upgrade(
            uow, member.id, actor=caller, standing=standing, tiers=tiers, program=program
        )
        return tx
    funder = unit.id
    await record(
        uow,
        tx,
        [(member_account(state), member.id, quote.points), (Account.ISSUED, funder, -quote.points)],
    )
    lot = PointsLot(
        member_id=member.id,
        transaction_id=tx.id,
        issuer_unit_id=unit.id,
        funder_unit_id=funder,
        cost_per_point=unit.cost_per_point,
        points=quote.points,
        remaining=quote.points,
        state=state.value,
        earned_at=uow.now,
        expires_at=expiry_for(program, uow.now, uow.tz),
        pending_until=pending_until,
    )
    uow.session.add(lot)
    await uow.session.flush()
    if state == LotState.PENDING:
        balance.pending += quote.points
    else:
        balance.available += quote.points
        repay_debt(uow, balance, tx, [lot])
    await uow.session.flush()
    await reward_referral(uow, member_id=member.id, order_tx=tx)
    await evaluate_upgrade(
        uow, member.id, actor=caller, standing=standing, tiers=tiers, program=program
    )
    return tx
