"""Campaign simulation in the domain: the filters see each past order as the till did, the
period replaces the campaign's window, limits cut in order, and nothing is recorded."""

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.domain.campaigns.admin import CampaignSpec, build_campaign
from app.domain.campaigns.simulation import simulate_campaign
from app.domain.shared.errors import ErrorCode
from app.domain.tiers.standing import grant_tier
from app.models import Campaign, CampaignMemberUsage
from tests.campaign_helpers import add_campaign
from tests.conftest import NOW
from tests.helpers import earn, ledger_snapshot, new_member, raises_code


def spec(**fields) -> CampaignSpec:
    values = {
        "code": "SIM",
        "name": "Simulated",
        "kind": "FIXED",
        "points": 10,
        "starts_at": NOW + timedelta(days=100),  # the window is ignored by the simulation
    }
    return CampaignSpec(**{**values, **fields})


async def run(uow_factory, clock, **fields):
    async with uow_factory() as uow:
        campaign = await build_campaign(uow, spec(**fields))
        return await simulate_campaign(
            uow, campaign=campaign, since=NOW - timedelta(days=1), until=clock.now
        )


async def test_filters_see_the_order_as_it_was(units, uow_factory, clock):
    async with uow_factory() as uow:
        june = await new_member(uow, birthday=date(1991, 6, 30))
        may = await new_member(uow, birthday=date(1991, 5, 1))
        await grant_tier(
            uow,
            member_id=may,
            tier="GOLD",
            until=NOW + timedelta(days=30),
            reason="vip",
            actor="operator:test",
        )
        await earn(uow, june, "100", "MALL", merchant="M004")  # dining by its merchant
        await earn(uow, may, "100", "MALL", category="DINING")
        await earn(uow, may, "100", "HOTEL")  # gold: 200 + 100 tier
    clock.advance(hours=1)
    assert (await run(uow_factory, clock, categories=["DINING"])).orders_matched == 2
    assert (await run(uow_factory, clock, birthday_month=True)).members == {june}
    gold = await run(
        uow_factory, clock, tiers=["GOLD"], kind="MULTIPLIER", rate=Decimal(2), points=None
    )
    assert (gold.orders_matched, gold.points) == (2, 225 + 300)  # on base + tier points
    assert (await run(uow_factory, clock, weekdays=[2])).orders_matched == 0  # NOW is a Monday


async def test_limits_cut_in_order_and_nothing_is_recorded(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        for _ in range(4):
            await earn(uow, member, "10", "HOTEL")
        saved = await add_campaign(uow, code="SAVED", kind="FIXED", points=30, budget=100)
    clock.advance(hours=1)
    before = await ledger_snapshot(uow_factory)
    async with uow_factory() as uow:
        campaign = await uow.session.get(Campaign, saved)
        report = await simulate_campaign(
            uow, campaign=campaign, since=NOW - timedelta(days=1), until=clock.now
        )
        usage_rows = await uow.session.scalar(select(func.count()).select_from(CampaignMemberUsage))
    assert (report.points, report.cut_by_budget, report.orders_matched) == (100, 20, 4)
    assert report.budget_exhausted_at == NOW
    capped = await run(uow_factory, clock, per_member_cap=25)
    assert (capped.points, capped.cut_by_member_cap) == (25, 15)
    assert await ledger_snapshot(uow_factory) == before
    assert usage_rows == 0
    async with uow_factory() as uow:
        assert (await uow.session.get(Campaign, saved)).spent == 0


async def test_a_period_must_be_ordered_and_bounded(units, uow_factory):
    async with uow_factory() as uow:
        campaign = await build_campaign(uow, spec())
        for since, until in ((NOW, NOW), (NOW, NOW + timedelta(days=401))):
            with raises_code(ErrorCode.INVALID_INPUT, field="until"):
                await simulate_campaign(uow, campaign=campaign, since=since, until=until)
