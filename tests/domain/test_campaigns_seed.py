"""The demo campaigns: four of them, audited, and they price orders as docs/campaigns.md says."""

from datetime import date, datetime

from sqlalchemy import select

from app.demo.campaigns import seed_demo_campaigns
from app.models import Campaign, OperatorAction
from tests.campaign_helpers import lines
from tests.conftest import TZ
from tests.helpers import assert_clean, earn, new_member


async def test_demo_campaigns_price_orders(units, uow_factory):
    async with uow_factory() as uow:
        assert await seed_demo_campaigns(uow) == 4
        codes = list(await uow.session.scalars(select(Campaign.code).order_by(Campaign.id)))
        trail = list(await uow.session.scalars(select(OperatorAction.action)))
        member = await new_member(uow, birthday=date(1990, 6, 3))  # June: birthday month
    assert codes == ["MALL-DOUBLE-WEEK", "HOTEL-MEMBER-DAY", "BIG-BASKET", "BIRTHDAY-MONTH"]
    assert trail == ["campaign.create"] * 4
    wednesday = datetime(2026, 6, 17, 10, 0, tzinfo=TZ)
    async with uow_factory(wednesday) as uow:
        stay = await earn(uow, member, "600", "HOTEL")  # member day and birthday: one x2
        shop = await earn(uow, member, "100", "MALL")
    assert lines(stay) == [
        ("BASE", "base:HOTEL", 1200),
        ("CAMPAIGN", "campaign:HOTEL-MEMBER-DAY x2", 1200),  # ties go to the lower id
        ("CAMPAIGN", "campaign:BIG-BASKET +10% >= 500.00 CNY", 120),
    ]
    assert lines(shop) == [
        ("BASE", "base:MALL", 100),
        ("CAMPAIGN", "campaign:MALL-DOUBLE-WEEK x2", 100),
    ]
    await assert_clean(uow_factory)
