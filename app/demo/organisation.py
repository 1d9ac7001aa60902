"""The demo group's organisation: six units with the SPEC's rates, mall merchants, policies,
and the tier ladder (Normal / Silver / Gold / Diamond)."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy.dialects.postgresql import insert

from app.models import BusinessUnit, CategoryRate, Merchant, Program, Tier
from app.platform.uow import UnitOfWork

# code, name, kind, pts/CNY, pending days, CNY/pt, cost/pt, min, step, max share, daily cap
UNITS = [
    (
        "MALL",
        "Grand Plaza Mall",
        "MALL",
        D("1"),
        7,
        D("0.02"),
        D("0.02"),
        100,
        100,
        D("0.5"),
        20000,
    ),
    (
        "HOTEL",
        "Grand Plaza Hotel",
        "HOTEL",
        D("2"),
        0,
        D("0.01"),
        D("0.01"),
        100,
        100,
        D("0.3"),
        None,
    ),
    (
        "OFFICE",
        "Plaza Office Tower",
        "OFFICE",
        D("1"),
        0,
        D("0.01"),
        D("0.01"),
        100,
        100,
        D("0.5"),
        None,
    ),
    (
        "PROPERTY",
        "Plaza Property Services",
        "PROPERTY",
        D("1"),
        0,
        D("0.01"),
        D("0.01"),
        100,
        100,
        D("1"),
        None,
    ),
    (
        "CONVENIENCE",
        "Plaza Express Stores",
        "CONVENIENCE",
        D("1"),
        0,
        D("0.05"),
        D("0.03"),
        100,
        100,
        D("0.5"),
        2000,
    ),
    (
        "TOURISM",
        "Plaza Culture & Tourism",
        "TOURISM",
        D("1.5"),
        3,
        D("0.02"),
        D("0.015"),
        100,
        100,
        D("0.5"),
        None,
    ),
]

# code, name, category, own rate (pts/CNY) or None
MALL_MERCHANTS = [
    ("M001", "Luxe Jewelry", "JEWELRY", None),
    ("M002", "Fresh Market", "SUPERMARKET", None),
    ("M003", "Star Cinema", "ENTERTAINMENT", D("2")),
    ("M004", "Noodle House", "DINING", None),
    ("M005", "Urban Fashion", "FASHION", None),
    ("M006", "Kids Planet", "KIDS", None),
]

CATEGORY_RATES = [("MALL", "JEWELRY", D("0.5")), ("MALL", "DINING", D("1.5"))]

# Weight of one CNY spent at a unit in tier growth value (units not named: 1).
GROWTH_WEIGHTS = {"HOTEL": D("1.2"), "CONVENIENCE": D("0.8")}

DISCOUNT_UNITS = ("HOTEL", "TOURISM", "OFFICE", "CONVENIENCE")  # tier discounts at these tills


def _discounts(rate: str) -> dict[str, str]:
    return {unit: rate for unit in DISCOUNT_UNITS}


# code, name, rank, qualify (CNY in 12 months), retain, earn multiplier, spend value bonus,
# discounts by unit, benefits
TIERS = [
    ("NORMAL", "Normal", 0, D(0), D(0), D(1), D(0), {}, ["1 pt per CNY at the mall"]),
    (
        "SILVER",
        "Silver",
        1,
        D(5000),
        D(3000),
        D("1.2"),
        D(0),
        _discounts("0.10"),
        ["1.2x points", "10% off at the hotel, tourism, office and convenience stores"],
    ),
    (
        "GOLD",
        "Gold",
        2,
        D(20000),
        D(12000),
        D("1.5"),
        D("0.05"),
        _discounts("0.20"),
        [
            "1.5x points",
            "points worth 5% more when spending",
            "20% off at the hotel, tourism, office and convenience stores",
            "2 free parking hours a month",
            "gold zone of the points mall",
        ],
    ),
    (
        "DIAMOND",
        "Diamond",
        3,
        D(60000),
        D(40000),
        D(2),
        D("0.10"),
        _discounts("0.30"),
        [
            "2x points",
            "points worth 10% more when spending",
            "30% off at the hotel, tourism, office and convenience stores",
            "4 free parking hours a month",
            "4 hotel lounge passes a year",
            "diamond zone of the points mall",
        ],
    ),
]


async def seed_organisation(uow: UnitOfWork) -> dict[str, int]:
    """Insert units, merchants, category rates, tiers and programme policies; returns unit ids
    by code."""
    ids: dict[str, int] = {}
    for code, name, kind, rate, pending, value, cost, minimum, step, share, cap in UNITS:
        inserted = await uow.session.execute(
            insert(BusinessUnit)
            .values(
                code=code,
                name=name,
                kind=kind,
                earn_points_per_cny=rate,
                pending_days=pending,
                point_value_cny=value,
                cost_per_point=cost,
                spend_min_points=minimum,
                spend_step=step,
                spend_max_share=share,
                spend_daily_cap=cap,
                growth_weight=GROWTH_WEIGHTS.get(code, D(1)),
            )
            .on_conflict_do_update(index_elements=["code"], set_={"name": name})
            .returning(BusinessUnit.id)
        )
        ids[code] = inserted.scalar_one()
    for code, name, category, own_rate in MALL_MERCHANTS:
        await uow.session.execute(
            insert(Merchant)
            .values(
                business_unit_id=ids["MALL"],
                code=code,
                name=name,
                category=category,
                earn_points_per_cny=own_rate,
            )
            .on_conflict_do_nothing()
        )
    for unit, category, rate in CATEGORY_RATES:
        await uow.session.execute(
            insert(CategoryRate)
            .values(business_unit_id=ids[unit], category=category, earn_points_per_cny=rate)
            .on_conflict_do_nothing()
        )
    for code, name, rank, qualify, retain, multiplier, bonus, discounts, benefits in TIERS:
        await uow.session.execute(
            insert(Tier)
            .values(
                code=code,
                name=name,
                rank=rank,
                qualify_threshold=qualify,
                retain_threshold=retain,
                earn_multiplier=multiplier,
                spend_value_bonus=bonus,
                discounts=discounts,
                benefits=benefits,
            )
            .on_conflict_do_nothing()
        )
    await uow.session.execute(insert(Program).values(id=1).on_conflict_do_nothing())
    return ids
