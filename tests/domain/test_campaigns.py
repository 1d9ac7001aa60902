"""Campaigns in the earning engine: each kind, each filter, the limits and the stacking rule.

NOW is Monday 2026-06-15, 12:00 in Shanghai. HOTEL earns 2 pts / CNY with no pending window.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain.ledger.accounts import GROUP
from app.domain.tiers.standing import grant_tier
from app.domain.till.earning import quote_earn
from app.models import Merchant
from tests.campaign_helpers import add_campaign, lines, lots_of_tx, spent_of, usage
from tests.conftest import NOW, TZ
from tests.helpers import (
    assert_clean,
    earn,
    ledger_snapshot,
    new_member,
    points_of,
    postings_of,
)


def local(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


async def earn_at(uow_factory, member, amount="100", unit="HOTEL", at=None, **extra):
    async with uow_factory(at) as uow:
        return await earn(uow, member, amount, unit, **extra)


async def a_member(uow_factory, **extra) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, **extra)


# --- kinds ----------------------------------------------------------------------------------


async def test_double_points_goes_into_a_lot_of_its_own_for_its_funder(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="DOUBLE", business_units=["HOTEL"], funder="HOTEL")
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100")
    assert tx.points == 400
    assert lines(tx) == [("BASE", "base:HOTEL", 200), ("CAMPAIGN", "campaign:DOUBLE x2", 200)]
    line = tx.detail["breakdown"][1]
    assert (line["campaign_id"], line["funder"]) == (cid, "HOTEL")
    assert "200 pts (base + tier) x (2 - 1) = 200, rounded down" == line["detail"]
    assert tx.rule == "base:HOTEL+campaign:DOUBLE x2"
    lots = await lots_of_tx(uow_factory, tx.id)
    assert [(lot.campaign_id, lot.funder_unit_id, lot.points) for lot in lots] == [
        (None, units["HOTEL"], 200),
        (cid, units["HOTEL"], 200),
    ]
    async with uow_factory() as uow:
        assert await postings_of(uow, tx.id) == {
            ("MEMBER_AVAILABLE", member): 400,
            ("ISSUED", units["HOTEL"]): -400,
        }
    assert await points_of(uow_factory, member) == (400, 0, 0)
    assert await spent_of(uow_factory, cid) == 200
    assert await usage(uow_factory, cid, member) == 200
    await assert_clean(uow_factory)


async def test_group_marketing_funds_a_threshold_bonus_from_500_cny(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(
            uow, code="BIG", kind="THRESHOLD", rate=Decimal("0.1"), min_amount="500"
        )
        member = await new_member(uow)
    below = await earn_at(uow_factory, member, "499.99")
    assert lines(below) == [("BASE", "base:HOTEL", 999)]
    at = await earn_at(uow_factory, member, "500")
    assert lines(at) == [
        ("BASE", "base:HOTEL", 1000),
        ("CAMPAIGN", "campaign:BIG +10% >= 500.00 CNY", 100),
    ]
    assert at.detail["breakdown"][1]["funder"] == "GROUP"
    lots = await lots_of_tx(uow_factory, at.id)
    assert [(lot.funder_unit_id, lot.points) for lot in lots] == [
        (units["HOTEL"], 1000),
        (None, 100),
    ]
    async with uow_factory() as uow:
        assert await postings_of(uow, at.id) == {
            ("MEMBER_AVAILABLE", member): 1100,
            ("ISSUED", units["HOTEL"]): -1000,
            ("ISSUED", GROUP): -100,
        }
    assert await spent_of(uow_factory, cid) == 100
    await assert_clean(uow_factory)


async def test_fixed_bonus_is_pending_with_the_order(units, uow_factory):
    async with uow_factory() as uow:
        await add_campaign(uow, code="GIFT", kind="FIXED", points=50, business_units=["MALL"])
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100", "MALL")
    assert lines(tx) == [("BASE", "base:MALL", 100), ("CAMPAIGN", "campaign:GIFT +50", 50)]
    lots = await lots_of_tx(uow_factory, tx.id)
    assert {lot.state for lot in lots} == {"PENDING"}
    assert len({lot.pending_until for lot in lots}) == 1
    assert await points_of(uow_factory, member) == (0, 150, 0)
    await assert_clean(uow_factory)


async def test_campaigns_multiply_base_plus_tier_and_round_down(units, uow_factory, clock):
    async with uow_factory() as uow:
        await add_campaign(uow, code="X15", rate=Decimal("1.5"))
        member = await new_member(uow)
        await grant_tier(
            uow,
            member_id=member,
            tier="SILVER",
            until=NOW + timedelta(days=90),
            reason="test",
            actor="operator:test",
        )
    tx = await earn_at(uow_factory, member, "10.55")  # base 21, silver x1.2 -> 25
    assert lines(tx) == [
        ("BASE", "base:HOTEL", 21),
        ("TIER", "tier:SILVER x1.2", 4),
        ("CAMPAIGN", "campaign:X15 x1.5", 12),  # floor(25 x 0.5)
    ]
    assert tx.points == 37
    await assert_clean(uow_factory)


# --- filters --------------------------------------------------------------------------------


async def test_unit_merchant_and_category_filters(units, uow_factory):
    async with uow_factory() as uow:
        ids = {
            code: mid
            for code, mid in (await uow.session.execute(select(Merchant.code, Merchant.id))).all()
        }
        await add_campaign(uow, code="HOTELX", business_units=["HOTEL"])
        await add_campaign(uow, code="CINEMA", kind="FIXED", points=7, merchants=[str(ids["M003"])])
        await add_campaign(uow, code="FOOD", kind="FIXED", points=9, categories=["dining"])
        member = await new_member(uow)
    mall = await earn_at(uow_factory, member, "10", "MALL")
    assert lines(mall) == [("BASE", "base:MALL", 10)]
    cinema = await earn_at(uow_factory, member, "10", "MALL", merchant="M003")
    assert [line[1] for line in lines(cinema)] == ["merchant:M003", "campaign:CINEMA +7"]
    noodles = await earn_at(uow_factory, member, "10", "MALL", merchant="M004")  # its category
    assert [line[1] for line in lines(noodles)] == ["category:MALL/DINING", "campaign:FOOD +9"]
    dining = await earn_at(uow_factory, member, "10", "MALL", category="Dining")
    assert dining.points == 15 + 9
    hotel = await earn_at(uow_factory, member, "10", "HOTEL")
    assert [line[1] for line in lines(hotel)] == ["base:HOTEL", "campaign:HOTELX x2"]
    await assert_clean(uow_factory)


async def test_tier_filter_uses_the_tier_that_prices_the_order(units, uow_factory):
    async with uow_factory() as uow:
        await add_campaign(uow, code="GOLDONLY", kind="FIXED", points=100, tiers=["gold"])
        normal = await new_member(uow)
        gold = await new_member(uow)
        await grant_tier(
            uow,
            member_id=gold,
            tier="GOLD",
            until=NOW + timedelta(days=30),
            reason="vip",
            actor="operator:test",
        )
    assert (await earn_at(uow_factory, normal, "10")).points == 20
    assert (await earn_at(uow_factory, gold, "10")).points == 30 + 100


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        ("2026-06-16T23:59:59", False),  # Tuesday night in Shanghai (Wednesday in no zone yet)
        ("2026-06-17T00:00:00", True),  # Wednesday 00:00 Shanghai = Tuesday 16:00 UTC
        ("2026-06-17T23:59:59", True),
        ("2026-06-18T00:00:00", False),  # Thursday in Shanghai, still Wednesday in UTC
    ],
)
async def test_member_day_is_a_weekday_in_group_time(units, uow_factory, at, applies):
    async with uow_factory() as uow:
        await add_campaign(uow, code="WED", weekdays=[3], business_units=["HOTEL"])
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100", at=local(at))
    assert tx.points == (400 if applies else 200)
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        ("2026-06-30T23:59:59", False),
        ("2026-07-01T00:00:00", True),
        ("2026-07-07T23:59:59", True),
        ("2026-07-08T00:00:00", False),  # ends_at is exclusive
    ],
)
async def test_time_window_edges_at_midnight_shanghai(units, uow_factory, at, applies):
    async with uow_factory() as uow:
        await add_campaign(
            uow,
            code="WEEK",
            starts_at=local("2026-07-01T00:00:00"),
            ends_at=local("2026-07-08T00:00:00"),
        )
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100", at=local(at))
    assert tx.points == (400 if applies else 200)


@pytest.mark.parametrize(
    ("birthday", "at", "applies"),
    [
        (date(1990, 6, 20), "2026-06-01T00:00:00", True),
        (date(1990, 6, 20), "2026-05-31T23:59:59", False),  # 15:59:59 UTC, still May locally
        (date(1990, 6, 20), "2026-07-01T00:00:00", False),  # June 30 16:00 UTC, July locally
        (date(2000, 2, 29), "2027-02-10T12:00:00", True),  # no Feb 29 in 2027: all February
        (date(2000, 2, 29), "2027-02-28T23:59:59", True),
        (date(2000, 2, 29), "2027-03-01T00:00:00", False),
        (None, "2026-06-15T12:00:00", False),  # no birthday known
    ],
)
async def test_birthday_month_in_group_time(units, uow_factory, birthday, at, applies):
    async with uow_factory() as uow:
        await add_campaign(
            uow, code="BDAY", birthday_month=True, starts_at=local("2026-01-01T00:00:00")
        )
        member = await new_member(uow, birthday=birthday)
    tx = await earn_at(uow_factory, member, "100", at=local(at))
    assert tx.points == (400 if applies else 200)


async def test_a_campaign_that_ended_or_has_not_started_gives_nothing(units, uow_factory):
    from app.domain.campaigns.admin import end_campaign

    async with uow_factory() as uow:
        ended = await add_campaign(uow, code="OLD")
        await end_campaign(uow, campaign_id=ended, actor="operator:test")
        await add_campaign(uow, code="SOON", starts_at=NOW + timedelta(seconds=1))
        member = await new_member(uow)
    assert (await earn_at(uow_factory, member, "100")).points == 200


# --- limits ---------------------------------------------------------------------------------


async def test_per_member_cap_cuts_then_gives_nothing(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="CAPPED", per_member_cap=500)
        member, other = await new_member(uow), await new_member(uow)
    first = await earn_at(uow_factory, member, "150")  # +300
    second = await earn_at(uow_factory, member, "150")  # +300, cut to 200
    third = await earn_at(uow_factory, member, "150")  # nothing left for this member
    assert [t.points for t in (first, second, third)] == [600, 500, 300]
    assert lines(second)[-1] == ("CAP", "cap:CAPPED member", -100)
    assert second.detail["breakdown"][-1]["detail"] == "per-member cap 500 pts, 300 already given"
    assert lines(third)[1:] == [
        ("CAMPAIGN", "campaign:CAPPED x2", 300),
        ("CAP", "cap:CAPPED member", -300),
    ]
    assert len(await lots_of_tx(uow_factory, third.id)) == 1  # no empty bonus lot
    assert await usage(uow_factory, cid, member) == 500
    assert (await earn_at(uow_factory, other, "150")).points == 600  # the cap is per member
    await assert_clean(uow_factory)


async def test_budget_exhausted_mid_order_gives_what_is_left_then_nothing(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="B400", budget=400, funder="HOTEL")
        members = [await new_member(uow) for _ in range(3)]
    results = [await earn_at(uow_factory, m, "150") for m in members]  # each wants +300
    assert [t.points for t in results] == [600, 400, 300]
    assert lines(results[1])[-1] == ("CAP", "cap:B400 budget", -200)
    assert results[1].detail["breakdown"][-1]["detail"] == "budget 400 pts, 100 left"
    assert lines(results[2])[-1] == ("CAP", "cap:B400 budget", -300)
    assert await spent_of(uow_factory, cid) == 400
    await assert_clean(uow_factory)


# --- stacking -------------------------------------------------------------------------------


async def test_campaigns_without_a_group_stack_on_the_same_basis(units, uow_factory):
    async with uow_factory() as uow:
        await add_campaign(uow, code="A")
        await add_campaign(uow, code="B")
        await add_campaign(uow, code="F", kind="FIXED", points=10)
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100")
    assert lines(tx) == [
        ("BASE", "base:HOTEL", 200),
        ("CAMPAIGN", "campaign:A x2", 200),
        ("CAMPAIGN", "campaign:B x2", 200),  # on base + tier, not on A's bonus
        ("CAMPAIGN", "campaign:F +10", 10),
    ]
    assert len(await lots_of_tx(uow_factory, tx.id)) == 4
    await assert_clean(uow_factory)


async def test_an_exclusive_group_applies_only_its_best_campaign(units, uow_factory):
    async with uow_factory() as uow:
        await add_campaign(uow, code="X2", exclusive_group="BIRTHDAY")
        await add_campaign(uow, code="X3", rate=Decimal(3), exclusive_group="BIRTHDAY")
        await add_campaign(uow, code="TIE", rate=Decimal(3), exclusive_group="BIRTHDAY")
        await add_campaign(uow, code="PLUS", kind="FIXED", points=5)  # no group: stacks
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100")
    assert [line[1] for line in lines(tx)] == ["base:HOTEL", "campaign:X3 x3", "campaign:PLUS +5"]
    assert tx.points == 200 + 400 + 5


async def test_an_exhausted_campaign_loses_its_group_to_one_that_still_gives(units, uow_factory):
    async with uow_factory() as uow:
        await add_campaign(uow, code="BIG", rate=Decimal(3), budget=50, exclusive_group="G")
        await add_campaign(uow, code="SMALL", rate=Decimal("1.5"), exclusive_group="G")
        member = await new_member(uow)
    tx = await earn_at(uow_factory, member, "100")  # BIG: 400 capped to 50; SMALL: 100
    assert lines(tx)[1:] == [("CAMPAIGN", "campaign:SMALL x1.5", 100)]


# --- preview ----------------------------------------------------------------------------------


async def test_preview_shows_campaign_and_cap_lines_and_takes_nothing(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="P", budget=100)
        member = await new_member(uow)
    before = await ledger_snapshot(uow_factory)
    async with uow_factory() as uow:
        quote = await quote_earn(uow, business_unit="HOTEL", amount="100", member_id=member)
    assert quote.points == 300
    assert [(line.kind, line.points, line.campaign_id) for line in quote.lines] == [
        ("BASE", 200, None),
        ("CAMPAIGN", 200, cid),
        ("CAP", -100, cid),
    ]
    assert await ledger_snapshot(uow_factory) == before
    assert await spent_of(uow_factory, cid) == 0
    assert NOW.tzinfo == UTC
