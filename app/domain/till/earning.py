"""Earning: price an order in points (preview) and record it on the ledger.

The price is a list of breakdown lines stored on the transaction (`detail["breakdown"]`): the
base rate, the member's tier multiplier, then each campaign that applies and each cap that cut
one (app.domain.campaigns.rules states the campaign rules). The tier that multiplies an order is the
member's tier *before* that order: an order that lifts the member to a higher tier earns at
the old tier's rate, and the new multiplier applies from the next order on.

One earn records one lot for the order's own points (base + tier, funded by the unit) and one
lot per campaign bonus (funded by the campaign's funder), all in one journal transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from app.domain.abuse.screening import EarnScreen, Screening, screen_earn, screen_velocity
from app.domain.campaigns import rules as campaigns
from app.domain.engagement.rewards import reward_referral
from app.domain.ledger.accounts import Account, LotState, TxKind, funder_account, member_account
from app.domain.ledger.expiry import expiry_for
from app.domain.ledger.writer import lock_member, post
from app.domain.members.identity import get_member
from app.domain.rights.tier_grants import grant_member_tier_rights
from app.domain.settlement.funding import draw_funding, record_draws
from app.domain.shared.ids import parse_id
from app.domain.shared.money import parse_amount
from app.domain.shared.units import earn_rate, find_unit, get_merchant
from app.domain.tiers.standing import (
    current_standing,
    evaluate_upgrade,
    plain,
    read_ladder,
    settle_standing,
)
from app.domain.till.breakdown import Bonus, BreakdownLine
from app.domain.till.orders import ensure_new_order, order_reference
from app.models import (
    BusinessUnit,
    Member,
    MemberBalance,
    Merchant,
    PointsLot,
    PointsTransaction,
    Program,
    Tier,
)
from app.platform.driver import entity
from app.platform.uow import UnitOfWork

__all__ = [
    "BreakdownLine",
    "EarnQuote",
    "apply_campaigns",
    "apply_tier",
    "earn_points",
    "quote_earn",
]


@dataclass(frozen=True)
class EarnQuote:
    """What an order earns, line by line; nothing recorded."""

    unit: BusinessUnit
    merchant: Merchant | None
    amount: Decimal
    category: str | None
    points: int
    lines: list[BreakdownLine] = field(default_factory=list)
    bonuses: list[Bonus] = field(default_factory=list)

    @property
    def rule(self) -> str:
        return "+".join(line.rule for line in self.lines if line.kind != "CAP")

    @property
    def effective_category(self) -> str | None:
        """The order's category, else its merchant's (as the earn rate reads it)."""
        return self.category or (self.merchant.category if self.merchant else None)


async def quote_earn(
    uow: UnitOfWork,
    *,
    business_unit: str | int | BusinessUnit,
    amount: Decimal | str,
    merchant: str | int | None = None,
    category: str | None = None,
    member_id: int | str | None = None,
) -> EarnQuote:
    """Price an order in points: base rate (merchant > category > unit), rounded down; with a
    member, times their current tier's multiplier (its own line) and the campaigns that apply
    now (without taking anything from their budgets). Nothing is recorded."""
    value = parse_amount(amount, "amount")
    unit = await find_unit(uow, business_unit)
    shop = await get_merchant(uow.session, unit, merchant) if merchant not in (None, "") else None
    category = (category or "").strip().upper() or None
    rate = await earn_rate(uow, unit, shop, category)
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
    tier = (await current_standing(uow, member.id)).tier
    return await apply_campaigns(uow, apply_tier(quote, tier), member=member, tier=tier)


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


async def apply_campaigns(
    uow: UnitOfWork, quote: EarnQuote, *, member: Member, tier: Tier, reserve: bool = False
) -> EarnQuote:
    """Add a line per campaign that applies (and per cap that cut one) on the base + tier
    points. With `reserve` (earning, under the member's balance lock) the bonuses are taken
    from the campaigns' budgets and the member's caps."""
    assert quote.unit.id is not None and member.id is not None
    facts = campaigns.OrderFacts(
        at=uow.now,
        unit_id=quote.unit.id,
        merchant_id=quote.merchant.id if quote.merchant else None,
        category=quote.effective_category,
        amount=quote.amount,
        tier_code=tier.code,
        birthday=member.birthday,
        basis=quote.points,
    )
    awards = await campaigns.award_campaigns(uow, facts, member_id=member.id, reserve=reserve)
    if not awards:
        return quote
    extra = [line for award in awards for line in award.lines]
    return replace(
        quote,
        points=quote.points + sum(award.granted for award in awards),
        lines=[*quote.lines, *extra],
        bonuses=campaigns.bonuses(awards),
    )


async def earn_points(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    business_unit: str | int | BusinessUnit,
    order_ref: str,
    amount: Decimal | str,
    caller: str,
    merchant: str | int | None = None,
    category: str | None = None,
    caller_ref: str | None = None,
    device_id: str | None = None,
    screen: EarnScreen | None = None,
) -> PointsTransaction:
    """Record the points an order earns (pending for the unit's return window), at the
    member's tier before this order, with the campaigns that apply now; then upgrade the
    member if the order crossed a tier's threshold, in the same transaction. `screen` (the
    anti-abuse velocity limits) may refuse the order or hold its points; a first purchase
    pays the member's referrer."""
    order_ref = order_reference(order_ref)
    quote = await quote_earn(
        uow, business_unit=business_unit, amount=amount, merchant=merchant, category=category
    )
    unit = quote.unit
    wanted = parse_id(str(member_id).strip())
    if wanted is not None:  # Redis before the lock: a hung Redis must not hold the member's row
        await screen_velocity(uow, screen, member_id=wanted, unit_id=unit.id, device_id=device_id)
    member, balance = await lock_member(uow, member_id)
    # under the member's lock: a concurrent retry of this order waits, then sees it as DUPLICATE
    await ensure_new_order(uow, unit.id, TxKind.EARN, order_ref)
    tiers, program = await read_ladder(uow)
    standing = await settle_standing(uow, member.id, actor=caller, tiers=tiers, program=program)
    quote = apply_tier(quote, standing.tier)
    screening = await screen_earn(
        uow, screen, member_id=member.id, unit_id=unit.id, device_id=device_id
    )
    quote = await apply_campaigns(uow, quote, member=member, tier=standing.tier, reserve=True)
    tx = entity(
        PointsTransaction,
        {
            "id": None,
            "member_id": member.id,
            "kind": TxKind.EARN.value,
            "source": "ORDER",
            "rule": quote.rule[:200],
            "business_unit_id": unit.id,
            "merchant_id": quote.merchant.id if quote.merchant else None,
            "order_ref": order_ref,
            "category": quote.category,
            "order_amount": quote.amount,
            "cny_value": None,
            "points": quote.points,
            "reverses_id": None,
            "reason": None,
            "debt_change": 0,
            "detail": {"breakdown": [line.as_dict() for line in quote.lines], **screening.detail},
            "caller": caller,
            "caller_ref": caller_ref,
            "created_at": uow.now,
        },
    )
    await _record_lots(uow, tx, quote, balance, program, screening)
    if tx.points > 0 and member.referred_by_id is not None:
        await reward_referral(uow, member_id=member.id, order_tx=tx)
    upgrade = await evaluate_upgrade(
        uow, member.id, actor=caller, standing=standing, tiers=tiers, program=program
    )
    if upgrade is not None:  # the new tier's rights for this period, at once
        await grant_member_tier_rights(uow, member.id, upgrade.standing.tier.code)
    return tx


async def _record_lots(
    uow: UnitOfWork,
    tx: PointsTransaction,
    quote: EarnQuote,
    balance: MemberBalance,
    program: Program,
    screening: Screening,
) -> None:
    """Record `tx` with its postings and lots: the order's own points in a lot funded by the
    unit, each campaign bonus in a lot funded by its funder; pending for the unit's return
    window (or longer, when the screening holds them); available points pay off debt first."""
    unit: BusinessUnit = quote.unit
    own = quote.points - sum(bonus.points for bonus in quote.bonuses)
    parts = [Bonus(None, unit.id, own), *quote.bonuses]  # None: the order's own points
    parts = [part for part in parts if part.points > 0]
    pending_until = uow.now + timedelta(days=unit.pending_days) if unit.pending_days > 0 else None
    pending_until = screening.pending_until(pending_until)  # a refund loop may hold the points
    state = LotState.PENDING if pending_until else LotState.AVAILABLE
    legs = [(member_account(state), tx.member_id, quote.points)] if parts else []
    legs += [(Account.ISSUED, funder_account(part.funder_unit_id), -part.points) for part in parts]
    expires_at = expiry_for(program, uow.now, uow.tz)
    lots = [
        entity(
            PointsLot,
            {
                "id": None,
                "member_id": tx.member_id,
                "transaction_id": None,
                "issuer_unit_id": unit.id,
                "funder_unit_id": part.funder_unit_id,
                "cost_per_point": unit.cost_per_point,
                "points": part.points,
                "remaining": part.points,
                "state": state.value,
                "earned_at": uow.now,
                "expires_at": expires_at,
                "pending_until": pending_until,
                "origin_lot_id": None,
                "campaign_id": part.campaign_id,
            },
        )
        for part in parts
    ]
    # a pre-paid funder's blocks cover its points, or the earning is refused before anything
    # is written (no statement for a post-paid unit: its model came with the units'
    # configuration); the draws are recorded once the earning has its id
    draws = await draw_funding(uow, unit, [(part.funder_unit_id, part.points) for part in parts])
    await post(uow, tx, legs, lots, balance)
    if draws:
        assert tx.id is not None
        await record_draws(uow, tx.id, draws)
