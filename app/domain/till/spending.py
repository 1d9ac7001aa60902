"""Spending: points pay part of an order at a unit's point value; the rest is cash.

A member's tier may raise what points are worth (`spend_value_bonus`, e.g. gold +5%): the CNY
value is points x the unit's point value x (1 + bonus), rounded down to the cent, and the
maximum share of the order is checked on that raised value.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from app.domain.ledger.accounts import TxKind
from app.domain.ledger.redemption import redeem
from app.domain.ledger.writer import lock_member
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.money import cents_down, parse_amount
from app.domain.shared.units import find_unit, get_merchant
from app.domain.tiers.standing import plain, read_ladder, settle_standing
from app.domain.till.orders import ensure_new_order, order_reference
from app.models import BusinessUnit, PointsTransaction
from app.platform.driver import entity
from app.platform.uow import UnitOfWork

MAX_POINTS = 100_000_000

# Points the member spent at a unit since an instant, net of cancelled spends.
_SPENT_SINCE = """SELECT coalesce(sum(-spend.points), 0) FROM points_transactions spend
LEFT JOIN points_transactions reversal
    ON reversal.reverses_id = spend.id AND reversal.kind = 'SPEND_REVERSAL'
WHERE spend.member_id = $1 AND spend.business_unit_id = $2 AND spend.kind = 'SPEND'
    AND spend.created_at >= $3 AND reversal.id IS NULL"""


def points_value(unit: BusinessUnit, points: int, bonus: Decimal = Decimal(0)) -> Decimal:
    """CNY that `points` are worth at `unit` (raised by a tier's `bonus`), rounded down to the
    cent."""
    return cents_down(unit.point_value_cny * points * (1 + bonus))


def check_spend_rules(
    unit: BusinessUnit, points: int, order_amount: Decimal, bonus: Decimal = Decimal(0)
) -> Decimal:
    """Minimum, step and maximum share of the order; returns the CNY the points pay."""
    # bool is an int to Python, but True is no number of points a till can mean
    if (
        isinstance(points, bool)
        or not isinstance(points, int)
        or points <= 0
        or points > MAX_POINTS
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "points must be a positive whole number", "points"
        )
    if points < unit.spend_min_points:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"at least {unit.spend_min_points} points per use at {unit.code}",
            "points",
        )
    if points % unit.spend_step:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"points must be a multiple of {unit.spend_step}", "points"
        )
    value = points_value(unit, points, bonus)
    ceiling = cents_down(order_amount * unit.spend_max_share)
    if value > ceiling:
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"points may pay at most {unit.spend_max_share:%} of the order ({ceiling} CNY)",
            "points",
        )
    return value


async def spent_today(uow: UnitOfWork, member_id: int, unit_id: int) -> int:
    """Points the member spent at this unit today (group time zone), net of cancellations."""
    start = datetime.combine(uow.local_date(), time.min, tzinfo=uow.tz)
    driver = await uow.driver()
    return int(await driver.fetchval(_SPENT_SINCE, member_id, unit_id, start) or 0)


async def spend_points(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    business_unit: str | int | BusinessUnit,
    order_ref: str,
    order_amount: Decimal | str,
    points: int,
    caller: str,
    merchant: str | int | None = None,
    caller_ref: str | None = None,
) -> PointsTransaction:
    """Spend points on an order, earliest-expiring lots first; `cny_value` is the CNY deducted."""
    amount = parse_amount(order_amount, "orderAmount")
    ref = order_reference(order_ref)
    unit = await find_unit(uow, business_unit)
    shop = await get_merchant(uow.session, unit, merchant) if merchant not in (None, "") else None
    value = check_spend_rules(unit, points, amount)
    member, balance = await lock_member(uow, member_id)
    # under the member's lock: a concurrent retry of this order waits, then sees it as DUPLICATE
    await ensure_new_order(uow, unit.id, TxKind.SPEND, ref)
    tiers, program = await read_ladder(uow)
    standing = await settle_standing(uow, member.id, actor=caller, tiers=tiers, program=program)
    tier = standing.tier
    rule = f"spend:{unit.code}@{unit.point_value_cny.normalize()}CNY/pt"
    if tier.spend_value_bonus:
        value = check_spend_rules(unit, points, amount, tier.spend_value_bonus)
        rule += f"+tier:{tier.code} +{plain(tier.spend_value_bonus * 100)}%"
    if unit.spend_daily_cap is not None:
        used = await spent_today(uow, member.id, unit.id)
        if used + points > unit.spend_daily_cap:
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"daily cap of {unit.spend_daily_cap} points at {unit.code} "
                f"({unit.spend_daily_cap - used} left today)",
                "points",
            )
    tx = entity(
        PointsTransaction,
        {
            "id": None,
            "member_id": member.id,
            "kind": TxKind.SPEND.value,
            "source": "ORDER",
            "rule": rule,
            "business_unit_id": unit.id,
            "merchant_id": shop.id if shop else None,
            "order_ref": ref,
            "category": None,
            "order_amount": amount,
            "cny_value": value,
            "points": -points,
            "reverses_id": None,
            "reason": None,
            "debt_change": 0,
            "detail": {},
            "caller": caller,
            "caller_ref": caller_ref,
            "created_at": uow.now,
        },
    )
    return await redeem(uow, tx, balance, redeemer_unit_id=unit.id)
