"""The demo group's rights: something from every format, some for sale, some only by tier; the
tiers' recurring rights (GOLD: two parking hours a month; DIAMOND: four parking hours a month
and four lounge passes a year), granted to the members who hold those tiers today as the
tier-rights job would."""

from __future__ import annotations

from itertools import groupby

from app.domain.rights.catalogue import RightSpec, create_right, get_right_by_code
from app.domain.rights.tier_grants import grant_member_tier_rights, members_due, set_tier_right
from app.platform.uow import UnitOfWork

ACTOR = "seed:demo"

DEMO_RIGHTS = (
    RightSpec("HOTEL", "Executive lounge pass", "LOUNGE_PASS", 90, code="HOTEL-LOUNGE",
              points_price=3000, stock=200, per_member_limit=4, limit_period="YEAR",
              face_value="198.00", provider_cost="60.00", eligible_tier_codes=("GOLD", "DIAMOND"),
              refundable=True),
    RightSpec("MALL", "Two free parking hours", "PARKING_HOURS", 30, code="MALL-PARKING-2H",
              points_price=400, per_member_limit=4, limit_period="MONTH", face_value="20.00",
              provider_cost="8.00", redeemable_at_unit_ids=("OFFICE",)),
    RightSpec("PROPERTY", "Home cleaning session", "SERVICE", 60, code="PROPERTY-CLEANING",
              face_value="150.00", provider_cost="90.00", eligible_tier_codes=("DIAMOND",)),
    RightSpec("CONVENIENCE", "10 CNY off at the store", "VOUCHER", 30, code="STORE-10-OFF",
              points_price=800, stock=500, per_member_limit=2, limit_period="MONTH",
              face_value="10.00", provider_cost="10.00"),
    RightSpec("TOURISM", "Museum exhibition ticket", "TICKET", 180, code="MUSEUM-TICKET",
              points_price=1500, stock=100, per_member_limit=1, face_value="80.00",
              provider_cost="25.00", refundable=True),
    RightSpec("MALL", "20% off at the food court", "DISCOUNT", 14, code="MALL-FOOD-20",
              points_price=300, per_member_limit=1, limit_period="MONTH", face_value="15.00",
              provider_cost="6.00"),
)  # fmt: skip


async def seed_demo_rights(uow: UnitOfWork) -> None:
    """The demo catalogue of rights, audited as an operator's additions would be."""
    for spec in DEMO_RIGHTS:
        await create_right(uow, spec=spec, actor=ACTOR, reason="demo catalogue")


# (tier, right code, quantity, period)
DEMO_TIER_RIGHTS = (
    ("GOLD", "MALL-PARKING-2H", 1, "MONTH"),
    ("DIAMOND", "MALL-PARKING-2H", 2, "MONTH"),
    ("DIAMOND", "HOTEL-LOUNGE", 4, "YEAR"),
)


async def seed_demo_tier_rights(uow: UnitOfWork) -> int:
    """The tiers' recurring rights, and this period's grants; how many vouchers were issued."""
    for tier, code, quantity, period in DEMO_TIER_RIGHTS:
        right = await get_right_by_code(uow, code)
        await set_tier_right(
            uow,
            tier_code=tier,
            right_id=right.id or 0,
            quantity=quantity,
            period=period,
            actor=ACTOR,
            reason="demo tier benefits",
        )
    issued = 0
    due = await members_due(uow, after_member_id=0, limit=1_000_000)
    for member_id, pairs in groupby(due, key=lambda pair: pair[0]):
        wanted = {term_id for _, term_id in pairs}
        for tier in {tier for tier, *_ in DEMO_TIER_RIGHTS}:
            issued += len(await grant_member_tier_rights(uow, member_id, tier, only=wanted))
    return issued
