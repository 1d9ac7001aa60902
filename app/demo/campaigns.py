"""The demo group's campaigns, seeded after its history so they run from the seed's day on:
a double points week in the mall, the hotel's Wednesday member day, +10 % on orders from
500 CNY paid by the group's marketing budget, and double points in the birthday month."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from app.domain.campaigns.admin import CampaignSpec, create_campaign
from app.platform.uow import UnitOfWork

ACTOR = "seed:demo"


def demo_campaigns(today_start: datetime) -> list[CampaignSpec]:
    """The four demo campaigns, starting at the local midnight `today_start`."""
    return [
        CampaignSpec(
            code="MALL-DOUBLE-WEEK",
            name="Double points week at Grand Plaza Mall",
            kind="MULTIPLIER",
            rate=Decimal(2),
            starts_at=today_start,
            ends_at=today_start + timedelta(days=7),
            business_units=["MALL"],
            budget=500_000,
            per_member_cap=5_000,
            exclusive_group="DOUBLE",
            funder="MALL",
        ),
        CampaignSpec(
            code="HOTEL-MEMBER-DAY",
            name="Hotel member day: double points every Wednesday",
            kind="MULTIPLIER",
            rate=Decimal(2),
            starts_at=today_start,
            business_units=["HOTEL"],
            weekdays=[3],
            per_member_cap=20_000,
            exclusive_group="DOUBLE",
            funder="HOTEL",
        ),
        CampaignSpec(
            code="BIG-BASKET",
            name="+10 % points on orders from 500 CNY",
            kind="THRESHOLD",
            rate=Decimal("0.1"),
            min_amount=Decimal(500),
            starts_at=today_start,
            ends_at=today_start + timedelta(days=90),
            budget=1_000_000,
        ),
        CampaignSpec(
            code="BIRTHDAY-MONTH",
            name="Double points in your birthday month",
            kind="MULTIPLIER",
            rate=Decimal(2),
            starts_at=today_start,
            birthday_month=True,
            per_member_cap=10_000,
            exclusive_group="DOUBLE",  # the x2 campaigns never stack into x3
        ),
    ]


async def seed_demo_campaigns(uow: UnitOfWork) -> int:
    """Create the demo campaigns (logged as the seed's operator actions); returns how many."""
    today = uow.local_date()
    start = datetime.combine(today, time.min, tzinfo=uow.tz)
    specs = demo_campaigns(start)
    for spec in specs:
        await create_campaign(uow, spec=spec, actor=ACTOR, reason="demo seed")
    return len(specs)
