"""Tiers: growth value, upgrades on the crossing order, the end of validity per policy,
retention, manual grants, history, weights, refunds, time zones, and the job run twice or at once.

Demo ladder (seed_org): Normal 0 | Silver qualify 5,000 retain 3,000 x1.2 | Gold 20,000 / 12,000
x1.5 +5% spend value | Diamond 60,000 / 40,000 x2 +10%. OFFICE has growth weight 1 and no
pending window, so most orders here are OFFICE orders: 1 CNY = 1 growth = 1 point.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from app.demo.organisation import seed_organisation
from app.domain.ledger.expiry import add_months
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.tiers.growth import growth_value
from app.domain.tiers.standing import grant_tier
from app.domain.till.earning import quote_earn
from app.jobs.tiers import evaluate_tiers
from app.models import BusinessUnit, LotAllocation, MemberTier, Program, Tier, TierHistory
from app.platform.db import make_engine, make_sessionmaker
from app.platform.uow import unit_of_work
from tests.conftest import NOW, TZ
from tests.domain.test_ledger_stateful import DatabaseThread
from tests.helpers import (
    assert_clean,
    balance,
    earn,
    ledger_snapshot,
    lots_of,
    new_member,
    raises_code,
    refund,
    set_program,
    spend,
)

YEAR = 12


async def standing(uow_factory, member: int) -> tuple[str, datetime | None, bool]:
    """(tier code, valid until, manual) as stored; no row means NORMAL."""
    async with uow_factory() as uow:
        row = await uow.session.get(MemberTier, member, populate_existing=True)
    return (row.tier_code, row.valid_until, row.manual) if row else ("NORMAL", None, False)


async def history(uow_factory, member: int) -> list[tuple]:
    """(from, to, source, actor, reason, at) oldest first."""
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(TierHistory).where(TierHistory.member_id == member).order_by(TierHistory.id)
        )
        return [(r.from_tier, r.to_tier, r.source, r.actor, r.reason, r.at) for r in rows]


async def growth(uow_factory, member: int, at: datetime | None = None) -> Decimal:
    async with uow_factory(at) as uow:
        return await growth_value(uow, member)


async def run_job(sessions, now: datetime):
    return await evaluate_tiers(sessions, now=now, tz=TZ)


async def tier_snapshot(uow_factory) -> tuple:
    async with uow_factory() as uow:
        tiers = (
            await uow.session.execute(
                select(MemberTier.member_id, MemberTier.tier_code, MemberTier.valid_until)
            )
        ).all()
        changes = await uow.session.scalar(select(func.count()).select_from(TierHistory))
    return sorted(tiers), changes


def in_months(months: int, moment: datetime = NOW) -> datetime:
    return add_months(moment.astimezone(TZ), months)


# --- upgrades ---------------------------------------------------------------------------------


async def test_upgrade_on_the_crossing_order_and_the_multiplier_from_the_next(
    units, uow_factory, clock
):
    async with uow_factory() as uow:
        member = await new_member(uow)
        first = await earn(uow, member, "4999.99", "OFFICE")
    assert first.points == 4999
    assert await standing(uow_factory, member) == ("NORMAL", None, False)

    clock.advance(hours=1)
    async with uow_factory() as uow:
        crossing = await earn(uow, member, "0.01", "OFFICE")
        # inside the order's own transaction the member is already Silver
        assert (await uow.session.get(MemberTier, member)).tier_code == "SILVER"
    assert crossing.points == 0  # earned at the tier before this order: Normal, no tier line
    assert [line["kind"] for line in crossing.detail["breakdown"]] == ["BASE"]
    assert await standing(uow_factory, member) == ("SILVER", in_months(YEAR, clock.now), False)
    [change] = await history(uow_factory, member)
    assert change == (
        "NORMAL",
        "SILVER",
        "AUTO",
        "test",
        "growth 5000.00 >= 5000.00 (SILVER qualification)",
        clock.now,
    )

    async with uow_factory() as uow:
        nxt = await earn(uow, member, "100", "OFFICE")
    assert nxt.points == 120
    assert nxt.rule == "base:OFFICE+tier:SILVER x1.2"
    assert nxt.detail["breakdown"] == [
        {
            "kind": "BASE",
            "rule": "base:OFFICE",
            "points": 100,
            "detail": "100.00 CNY x 1 pt/CNY, rounded down",
        },
        {
            "kind": "TIER",
            "rule": "tier:SILVER x1.2",
            "points": 20,
            "detail": "100 base pts x 1.2 = 120, rounded down",
        },
    ]
    async with uow_factory() as uow:
        assert (await lots_of(uow, member))[-1].points == 120  # the lot holds the total
        assert (await balance(uow, member)).available == 4999 + 0 + 120
    await assert_clean(uow_factory)


async def test_one_big_order_skips_levels(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")
    assert (await standing(uow_factory, member))[0] == "GOLD"
    assert [(h[0], h[1]) for h in await history(uow_factory, member)] == [("NORMAL", "GOLD")]


@pytest.mark.parametrize(
    ("tier", "amount", "base", "extra"),
    [
        ("SILVER", "10.99", 21, 4),  # 21 x 1.2 = 25.2 -> 25
        ("GOLD", "10.99", 21, 10),  # 21 x 1.5 = 31.5 -> 31
        ("DIAMOND", "10.99", 21, 21),
        ("GOLD", "0.49", 0, 0),  # nothing to multiply
    ],
)
async def test_multiplier_applies_to_the_rounded_down_base(
    units, uow_factory, clock, tier, amount, base, extra
):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await grant_tier(
            uow, member_id=member, tier=tier, until=in_months(3), reason="test", actor="ops:t"
        )
        tx = await earn(uow, member, amount, "HOTEL")  # 2 pt/CNY
    lines = {line["kind"]: line["points"] for line in tx.detail["breakdown"]}
    assert lines == {"BASE": base, "TIER": extra}
    assert tx.points == base + extra
    await assert_clean(uow_factory)


async def test_preview_shows_the_tier_line_and_records_nothing(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")  # Gold
    before = await ledger_snapshot(uow_factory), await tier_snapshot(uow_factory)
    async with uow_factory() as uow:
        anonymous = await quote_earn(uow, business_unit="HOTEL", amount="100")
        priced = await quote_earn(uow, business_unit="HOTEL", amount="100", member_id=member)
    assert anonymous.points == 200 and len(anonymous.lines) == 1
    assert priced.points == 300
    assert [(line.kind, line.rule, line.points) for line in priced.lines] == [
        ("BASE", "base:HOTEL", 200),
        ("TIER", "tier:GOLD x1.5", 100),
    ]
    assert (await ledger_snapshot(uow_factory), await tier_snapshot(uow_factory)) == before
    with raises_code(ErrorCode.NOT_FOUND, "memberId"):
        async with uow_factory() as uow:
            await quote_earn(uow, business_unit="HOTEL", amount="100", member_id=999999)


# --- growth value -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "amount", "growth_cny"),
    [
        ("OFFICE", "1000", "1000.00"),
        ("HOTEL", "1000", "1200.00"),  # weight 1.2
        ("CONVENIENCE", "99.99", "79.99"),  # 0.8 x 99.99 = 79.992, rounded down
        ("MALL", "300", "300.00"),  # pending points count: growth is about the order
    ],
)
async def test_growth_is_weighted_per_unit(units, uow_factory, unit, amount, growth_cny):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, amount, unit)
    assert await growth(uow_factory, member) == Decimal(growth_cny)


async def test_weights_decide_the_crossing(units, uow_factory):
    async with uow_factory() as uow:
        short = await new_member(uow)
        enough = await new_member(uow)
        await earn(uow, short, "4166.66", "HOTEL")  # 4999.992 -> 4999.99
        await earn(uow, enough, "4166.67", "HOTEL")  # 5000.004 -> 5000.00
    assert (await standing(uow_factory, short))[0] == "NORMAL"
    assert (await standing(uow_factory, enough))[0] == "SILVER"
    async with uow_factory() as uow:  # a weight is configuration: changing it changes growth
        await uow.session.execute(
            update(BusinessUnit).where(BusinessUnit.code == "HOTEL").values(growth_weight=2)
        )
    assert await growth(uow_factory, short) == Decimal("8333.32")


async def test_refunds_lower_growth(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        order = await earn(uow, member, "4000", "OFFICE")
    clock.advance(days=1)
    async with uow_factory() as uow:
        await refund(uow, order.id, "1000")
    assert await growth(uow_factory, member) == Decimal("3000.00")
    clock.advance(days=1)
    async with uow_factory() as uow:
        await earn(uow, member, "1500", "OFFICE")  # 4,500: without the refund, 5,500
    assert (await standing(uow_factory, member))[0] == "NORMAL"
    # as of a moment before the refund, the order counted in full
    assert await growth(uow_factory, member, NOW + timedelta(hours=1)) == Decimal("4000.00")
    clock.advance(days=1)
    async with uow_factory() as uow:
        await refund(uow, order.id)  # the rest of the first order
        await earn(uow, member, "4000", "OFFICE")
    assert await growth(uow_factory, member) == Decimal("5500.00")
    assert (await standing(uow_factory, member))[0] == "SILVER"
    await assert_clean(uow_factory)


async def test_a_refund_does_not_downgrade_at_once(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        order = await earn(uow, member, "6000", "OFFICE")
    clock.advance(days=2)
    async with uow_factory() as uow:
        await refund(uow, order.id)
    assert await growth(uow_factory, member) == Decimal("0.00")
    assert (await standing(uow_factory, member))[0] == "SILVER"  # until the end of validity


async def test_spending_points_never_costs_the_tier(units, uow_factory, sessions, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "6000", "OFFICE")  # Silver, 6,000 points
    for months in (3, 6, 9):
        async with uow_factory(in_months(months)) as uow:
            await earn(uow, member, "1200", "OFFICE")  # 3,600 in the Silver year
    async with uow_factory(in_months(10)) as uow:
        before = await growth_value(uow, member)
        available = (await balance(uow, member)).available
        await spend(uow, member, available // 100 * 100, str(available), "PROPERTY")
        assert (await balance(uow, member)).available < 100
        assert await growth_value(uow, member) == before == Decimal("9600.00")
    end = in_months(YEAR)
    report = await run_job(sessions, end + timedelta(hours=1))
    assert (report.members, report.changes) == (1, 1)
    assert await standing(uow_factory, member) == ("SILVER", in_months(2 * YEAR), False)
    last = (await history(uow_factory, member))[-1]
    assert last[:3] == ("SILVER", "SILVER", "JOB")
    assert last[4] == "validity ended; kept: growth 3600.00 >= retention 3000.00"
    assert last[5] == end
    await assert_clean(uow_factory)


# --- the end of validity ----------------------------------------------------------------------


async def test_one_level_down_then_down_again(units, uow_factory, sessions):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")  # Gold
    async with uow_factory(in_months(6)) as uow:
        await earn(uow, member, "1000", "OFFICE")
    first_end = in_months(YEAR)
    assert (await run_job(sessions, first_end - timedelta(seconds=1))).changes == 0
    assert (await standing(uow_factory, member))[0] == "GOLD"  # not yet
    await run_job(sessions, first_end)
    assert await standing(uow_factory, member) == ("SILVER", in_months(2 * YEAR), False)
    await run_job(sessions, in_months(2 * YEAR) + timedelta(days=3))
    assert await standing(uow_factory, member) == ("NORMAL", None, False)
    assert [(h[0], h[1], h[2], h[4], h[5]) for h in await history(uow_factory, member)] == [
        ("NORMAL", "GOLD", "AUTO", "growth 20000.00 >= 20000.00 (GOLD qualification)", NOW),
        (
            "GOLD",
            "SILVER",
            "JOB",
            "validity ended; growth 1000.00 < retention 12000.00, one level down",
            first_end,
        ),
        (
            "SILVER",
            "NORMAL",
            "JOB",
            "validity ended; growth 0.00 < retention 3000.00, one level down",
            in_months(2 * YEAR),
        ),
    ]


async def test_a_late_job_catches_up_every_period_as_of_its_end(units, uow_factory, sessions):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "60000", "OFFICE")  # Diamond
    report = await run_job(sessions, in_months(3 * YEAR + 1))  # three periods late
    assert (report.members, report.changes) == (1, 3)
    assert [(h[1], h[5]) for h in await history(uow_factory, member)] == [
        ("DIAMOND", NOW),
        ("GOLD", in_months(YEAR)),
        ("SILVER", in_months(2 * YEAR)),
        ("NORMAL", in_months(3 * YEAR)),
    ]


async def test_to_window_drops_to_what_the_window_supports(units, uow_factory, sessions):
    await set_program(uow_factory, downgrade_policy="TO_WINDOW")
    async with uow_factory() as uow:
        silver_year = await new_member(uow)
        empty_year = await new_member(uow)
        await earn(uow, silver_year, "60000", "OFFICE")
        await earn(uow, empty_year, "60000", "OFFICE")
    async with uow_factory(in_months(4)) as uow:
        await earn(uow, silver_year, "5500", "OFFICE")  # Silver qualification only
    await run_job(sessions, in_months(YEAR))
    assert await standing(uow_factory, silver_year) == ("SILVER", in_months(2 * YEAR), False)
    assert await standing(uow_factory, empty_year) == ("NORMAL", None, False)
    reasons = [h[4] for h in await history(uow_factory, silver_year)]
    assert reasons[-1] == (
        "validity ended; growth 5500.00 < retention 40000.00, "
        "to the tier the window supports (SILVER)"
    )


async def test_retention_keeps_the_tier_for_another_period(units, uow_factory, sessions):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")
    async with uow_factory(in_months(11)) as uow:
        await earn(uow, member, "12000", "OFFICE")  # exactly the retention threshold
    await run_job(sessions, in_months(YEAR) + timedelta(minutes=5))
    async with uow_factory() as uow:
        row = await uow.session.get(MemberTier, member)
    assert (row.tier_code, row.valid_until, row.since) == ("GOLD", in_months(2 * YEAR), NOW)
    assert (await history(uow_factory, member))[-1][1:3] == ("GOLD", "JOB")


async def test_an_order_after_an_unprocessed_end_applies_it_first(units, uow_factory, clock):
    """The job has not run; the member's next order applies the end of validity as of its date,
    earns at the tier that leaves, then may upgrade again."""
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")  # Gold
    clock.now = in_months(YEAR) + timedelta(days=10)
    async with uow_factory() as uow:
        tx = await earn(uow, member, "100", "OFFICE")
    assert tx.rule == "base:OFFICE+tier:SILVER x1.2"  # one level down, not Gold's x1.5
    assert [(h[1], h[2], h[3], h[5]) for h in await history(uow_factory, member)] == [
        ("GOLD", "AUTO", "test", NOW),
        ("SILVER", "JOB", "test", in_months(YEAR)),
    ]
    async with uow_factory() as uow:
        await earn(uow, member, "19900", "OFFICE")  # 20,000 in the window: Gold again
    assert await standing(uow_factory, member) == ("GOLD", in_months(YEAR, clock.now), False)


# --- manual grants ----------------------------------------------------------------------------


async def test_manual_grant_and_its_end(units, uow_factory, sessions, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "6000", "OFFICE")  # Silver
    until = in_months(3)
    clock.advance(days=1)
    async with uow_factory() as uow:
        granted = await grant_tier(
            uow,
            member_id=str(member),
            tier="gold",
            until=until,
            reason="  complaint compensation  ",
            actor="operator:alice",
        )
        tx = await earn(uow, member, "100", "OFFICE")
    assert (granted.tier.code, granted.manual, granted.valid_until) == ("GOLD", True, until)
    assert tx.points == 150  # Gold's multiplier while granted
    async with uow_factory() as uow:
        row = await uow.session.get(MemberTier, member)
    assert (row.manual, row.manual_reason) == (True, "complaint compensation")
    assert (await history(uow_factory, member))[-1][:5] == (
        "SILVER",
        "GOLD",
        "MANUAL",
        "operator:alice",
        "complaint compensation",
    )
    await run_job(sessions, until - timedelta(minutes=1))
    assert await standing(uow_factory, member) == ("GOLD", until, True)
    await run_job(sessions, until)
    # 6,100 in the window: below Gold's retention, so the tier the window supports
    assert await standing(uow_factory, member) == ("SILVER", in_months(YEAR, until), False)
    assert (await history(uow_factory, member))[-1][4] == (
        "manual grant ended; growth 6100.00 < retention 12000.00, "
        "to the tier the window supports (SILVER)"
    )


async def test_a_grant_kept_by_retention_becomes_an_earned_tier(units, uow_factory, sessions):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await grant_tier(
            uow, member_id=member, tier="GOLD", until=in_months(2), reason="VIP", actor="ops"
        )
        await earn(uow, member, "12500", "OFFICE")  # Silver qualifies; Gold's retention too
    await run_job(sessions, in_months(2))
    assert await standing(uow_factory, member) == ("GOLD", in_months(YEAR + 2), False)


async def test_a_granted_member_still_upgrades_by_orders(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await grant_tier(
            uow, member_id=member, tier="SILVER", until=in_months(6), reason="trial", actor="ops"
        )
        await earn(uow, member, "20000", "OFFICE")
    assert await standing(uow_factory, member) == ("GOLD", in_months(YEAR), False)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"until": NOW - timedelta(seconds=1)}, ErrorCode.INVALID_INPUT, "until"),
        ({"until": NOW}, ErrorCode.INVALID_INPUT, "until"),
        ({"until": datetime(2026, 9, 1, 12, 0)}, ErrorCode.INVALID_INPUT, "until"),  # no offset
        ({"until": NOW + timedelta(days=366 * 6)}, ErrorCode.INVALID_INPUT, "until"),
        ({"reason": "   "}, ErrorCode.INVALID_INPUT, "reason"),
        ({"reason": "x" * 201}, ErrorCode.INVALID_INPUT, "reason"),
        ({"tier": "PLATINUM"}, ErrorCode.NOT_FOUND, "tierCode"),
        ({"member_id": 999999}, ErrorCode.NOT_FOUND, "memberId"),
        ({"member_id": "abc"}, ErrorCode.NOT_FOUND, "memberId"),
    ],
)
async def test_grant_refusals_record_nothing(units, uow_factory, changes, code, field):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "6000", "OFFICE")
    before = await tier_snapshot(uow_factory)
    args = {
        "member_id": member,
        "tier": "GOLD",
        "until": in_months(1),
        "reason": "because",
        "actor": "ops",
    }
    with raises_code(code, field):
        async with uow_factory() as uow:
            await grant_tier(uow, **(args | changes))
    assert await tier_snapshot(uow_factory) == before


# --- spending value ---------------------------------------------------------------------------


async def test_tier_raises_the_value_of_points_at_spend(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")  # Gold: +5%
        await uow.session.execute(  # a point value with more decimals, to see the rounding
            update(BusinessUnit)
            .where(BusinessUnit.code == "HOTEL")
            .values(point_value_cny=Decimal("0.0133"))
        )
        tx = await spend(uow, member, 300, "100", "HOTEL")
        allocations = await uow.session.scalars(
            select(LotAllocation.cny_value).where(LotAllocation.transaction_id == tx.id)
        )
        assert sum(allocations) == tx.cny_value
    assert tx.cny_value == Decimal("4.18")  # 300 x 0.0133 x 1.05 = 4.1895, rounded down
    assert tx.rule == "spend:HOTEL@0.0133CNY/pt+tier:GOLD +5%"
    await assert_clean(uow_factory)


async def test_max_share_is_checked_on_the_raised_value(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "20000", "OFFICE")
    before = await ledger_snapshot(uow_factory)
    # 1,000 points at HOTEL: 10.00 CNY for Normal, 10.50 for Gold; at most 30% of the order
    with raises_code(ErrorCode.LIMIT_REACHED, "points"):
        async with uow_factory() as uow:
            await spend(uow, member, 1000, "34.99", "HOTEL")  # ceiling 10.49
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:
        tx = await spend(uow, member, 1000, "35.00", "HOTEL")
    assert tx.cny_value == Decimal("10.50")


# --- other bases ------------------------------------------------------------------------------


async def test_points_basis_counts_points_earned_net_of_refunds(units, uow_factory, clock):
    await set_program(uow_factory, tier_basis="POINTS")
    async with uow_factory() as uow:
        member = await new_member(uow)
        order = await earn(uow, member, "2000", "HOTEL")  # 4,000 points
        await spend(uow, member, 4000, "20000", "HOTEL")  # spending does not count against it
    assert await growth(uow_factory, member) == 4000
    clock.advance(days=1)
    async with uow_factory() as uow:
        await refund(uow, order.id, "500")  # takes back 1,000 (as debt)
        await earn(uow, member, "1000", "HOTEL")  # 2,000 more: 5,000 net
    assert await growth(uow_factory, member) == 5000
    assert (await standing(uow_factory, member))[0] == "SILVER"
    await assert_clean(uow_factory)


async def test_visits_basis_counts_orders_not_wholly_refunded(units, uow_factory, clock):
    await set_program(uow_factory, tier_basis="VISITS")
    async with uow_factory() as uow:
        await uow.session.execute(
            update(Tier)
            .where(Tier.code == "SILVER")
            .values(qualify_threshold=3, retain_threshold=2)
        )
        member = await new_member(uow)
        first = await earn(uow, member, "10", "CONVENIENCE")
        await earn(uow, member, "0.50", "CONVENIENCE")  # a visit earning no points counts
        await refund(uow, first.id)
    assert await growth(uow_factory, member) == 1
    async with uow_factory() as uow:
        await earn(uow, member, "5", "MALL")
        await earn(uow, member, "5", "MALL", ref="same-order-other-unit")
    assert await growth(uow_factory, member) == 3
    assert (await standing(uow_factory, member))[0] == "SILVER"


# --- time -------------------------------------------------------------------------------------


async def test_the_window_is_twelve_months_of_group_time(units, uow_factory):
    placed = datetime(2025, 7, 1, 0, 30, tzinfo=TZ)  # 2025-06-30 16:30 UTC
    async with uow_factory(placed) as uow:
        member = await new_member(uow)
        await earn(uow, member, "1000", "OFFICE")
    year_later = datetime(2026, 7, 1, 0, 30, tzinfo=TZ)
    assert await growth(uow_factory, member, year_later - timedelta(minutes=1)) == 1000
    assert await growth(uow_factory, member, year_later) == 0  # window (t - 12 months, t]
    assert await growth(uow_factory, member, placed - timedelta(seconds=1)) == 0


async def test_validity_ends_on_the_same_local_day_clamped_to_month_end(units, uow_factory):
    leap_morning = datetime(2028, 2, 29, 7, 0, tzinfo=TZ)  # still Feb 28 in UTC
    async with uow_factory(leap_morning) as uow:
        member = await new_member(uow)
        await earn(uow, member, "5000", "OFFICE")
    _, valid_until, _ = await standing(uow_factory, member)
    assert valid_until == datetime(2029, 2, 28, 7, 0, tzinfo=TZ)  # not Mar 1, not Feb 28 UTC


# --- the job ----------------------------------------------------------------------------------


async def _members_at_the_end_of_validity(uow_factory, count: int) -> list[int]:
    members = []
    async with uow_factory() as uow:
        for i in range(count):
            member = await new_member(uow)
            await earn(uow, member, ("6000", "20000", "60000")[i % 3], "OFFICE")
            members.append(member)
    async with uow_factory(in_months(6)) as uow:
        for member in members[::2]:
            await earn(uow, member, "13000", "OFFICE")  # keeps Silver and Gold; not Diamond
    return members


async def test_the_job_twice_changes_nothing_the_second_time(units, uow_factory, sessions):
    members = await _members_at_the_end_of_validity(uow_factory, 6)
    at = in_months(YEAR) + timedelta(hours=2)
    first = await run_job(sessions, at)
    after_first = await tier_snapshot(uow_factory)
    second = await run_job(sessions, at)
    assert (first.members, first.changes) == (6, 6)
    assert first.outcomes == {"kept": 2, "changed": 4}
    assert (second.members, second.changes) == (0, 0)
    assert await tier_snapshot(uow_factory) == after_first
    tiers = [(await standing(uow_factory, m))[0] for m in members]
    # 13,000 in the year keeps Silver and Gold, not Diamond (40,000); nothing drops one level
    assert tiers == ["SILVER", "SILVER", "GOLD", "NORMAL", "GOLD", "GOLD"]
    await assert_clean(uow_factory)


async def test_concurrent_jobs_apply_each_end_once(units, uow_factory, database_url):
    members = await _members_at_the_end_of_validity(uow_factory, 9)
    engine = make_engine(database_url, pool_size=10)
    try:
        sessions = make_sessionmaker(engine)
        at = in_months(YEAR) + timedelta(hours=2)
        reports = await asyncio.gather(*(run_job(sessions, at) for _ in range(4)))
    finally:
        await engine.dispose()
    assert sum(r.changes for r in reports) == 9
    assert sum(r.members for r in reports) == 9
    async with uow_factory() as uow:
        per_member = dict(
            (
                await uow.session.execute(
                    select(TierHistory.member_id, func.count())
                    .where(TierHistory.source == "JOB")
                    .group_by(TierHistory.member_id)
                )
            ).all()
        )
    assert per_member == {m: 1 for m in members}


async def test_the_job_leaves_members_without_an_ended_period_alone(units, uow_factory, sessions):
    async with uow_factory() as uow:
        normal = await new_member(uow)
        await earn(uow, normal, "100", "OFFICE")
        silver = await new_member(uow)
        await earn(uow, silver, "5000", "OFFICE")
    report = await run_job(sessions, in_months(YEAR) - timedelta(seconds=1))
    assert (report.members, report.changes) == (0, 0)
    assert await standing(uow_factory, normal) == ("NORMAL", None, False)


# --- property: the stored tier is a pure function of the member's history ----------------------
#
# tier(history, t) folds over the member's orders in time order, starting at NORMAL:
#   1. before each order, and finally at t, apply every validity end V not after that instant:
#      growth(V) >= the tier's retention threshold -> keep it, valid V + 12 months; otherwise
#      ONE_LEVEL -> one rank down, TO_WINDOW -> the tier growth(V) qualifies for; the new tier is
#      valid V + 12 months (the lowest never ends);
#   2. after each order at time o: if growth(o) qualifies for a tier above the current one, move
#      to it, valid o + 12 months;
# where growth(x) = sum over orders in (x - 12 months, x] (group time) of (amount - refunded by x)
# x unit weight, rounded down to the cent. Spending points, and when the job runs, play no part.

LADDER = [  # code, qualify, retain (as seeded)
    ("NORMAL", Decimal(0), Decimal(0)),
    ("SILVER", Decimal(5000), Decimal(3000)),
    ("GOLD", Decimal(20000), Decimal(12000)),
    ("DIAMOND", Decimal(60000), Decimal(40000)),
]
WEIGHTS = {"OFFICE": Decimal(1), "HOTEL": Decimal("1.2"), "CONVENIENCE": Decimal("0.8")}
START = datetime(2024, 1, 1, 9, 0, tzinfo=TZ)


@dataclass
class ModelOrder:
    at: datetime
    unit: str
    amount: Decimal
    refunds: list[tuple[datetime, Decimal]] = field(default_factory=list)


def model_growth(orders: list[ModelOrder], at: datetime) -> Decimal:
    start = add_months(at.astimezone(TZ), -12)
    total = sum(
        (
            (o.amount - sum((a for when, a in o.refunds if when <= at), Decimal(0)))
            * WEIGHTS[o.unit]
            for o in orders
            if start < o.at <= at
        ),
        Decimal(0),
    )
    return total.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def qualifies(growth_cny: Decimal) -> int:
    return max(rank for rank, (_, qualify, _) in enumerate(LADDER) if growth_cny >= qualify)


def model_tier(orders: list[ModelOrder], at: datetime, policy: str) -> tuple[str, datetime | None]:
    rank, valid_until = 0, None

    def ends_until(moment: datetime) -> None:
        nonlocal rank, valid_until
        while valid_until is not None and valid_until <= moment:
            end, g = valid_until, model_growth(orders, valid_until)
            if g < LADDER[rank][2]:
                rank = rank - 1 if policy == "ONE_LEVEL" else qualifies(g)
            valid_until = add_months(end.astimezone(TZ), 12) if rank else None

    for order in sorted((o for o in orders if o.at <= at), key=lambda o: o.at):
        ends_until(order.at)
        reached = qualifies(model_growth(orders, order.at))
        if reached > rank:
            rank, valid_until = reached, add_months(order.at.astimezone(TZ), 12)
    ends_until(at)
    return LADDER[rank][0], valid_until


ORDER = st.tuples(
    st.integers(0, 1100),  # day after START
    st.integers(0, 24 * 60 - 1),  # minute of that day
    st.sampled_from(sorted(WEIGHTS)),
    st.sampled_from(["800", "3000", "5200", "9000", "14000", "21000", "45000", "65000"]),
    st.one_of(st.none(), st.tuples(st.integers(0, 90), st.sampled_from([None, "0.5"]))),
    st.booleans(),  # spend points right after
)


def test_tier_is_a_pure_function_of_the_history(database_url):
    db = DatabaseThread(database_url)
    db.run(_reset(db))

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        orders=st.lists(ORDER, min_size=1, max_size=10),
        job_days=st.lists(st.integers(0, 1500), max_size=4),
        final_days=st.integers(0, 800),
        policy=st.sampled_from(["ONE_LEVEL", "TO_WINDOW"]),
    )
    def check(orders, job_days, final_days, policy):
        final_tier, ended = db.run(_play(db, orders, job_days, final_days, policy))
        event(f"final tier {final_tier}")
        event("a validity end was applied" if ended else "no validity end")

    try:
        check()
    finally:
        db.close()


async def _reset(db) -> None:
    async with db.engine.begin() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    async with unit_of_work(db.sessions, now=START, tz=TZ) as uow:
        await seed_organisation(uow)


async def _play(db, raw_orders, job_days, final_days, policy) -> tuple[str, bool]:
    """Play the history on the database in time order, checking the tier at every job run;
    returns the final tier and whether a validity end was applied."""

    def uow(at: datetime):
        return unit_of_work(db.sessions, now=at, tz=TZ)

    async with uow(START) as u:
        await u.session.execute(update(Program).values(downgrade_policy=policy))
        member = await new_member(u)
    orders: list[ModelOrder] = []
    events: list[tuple[datetime, int, str, object]] = []
    for seq, (day, minute, unit, amount, refund_plan, spends) in enumerate(raw_orders):
        at = START + timedelta(days=day, minutes=minute + 1)
        order = ModelOrder(at, unit, Decimal(amount))
        orders.append(order)
        events.append((at, seq, "ORDER", (order, spends)))
        if refund_plan is not None:
            delay, share = refund_plan
            events.append((at + timedelta(days=delay, minutes=1), seq, "REFUND", (order, share)))
    for day in job_days:
        events.append((START + timedelta(days=day, hours=3), -1, "JOB", None))
    events.sort(key=lambda e: (e[0], e[1]))
    final = max(e[0] for e in events) + timedelta(days=final_days)
    events.append((final, -1, "JOB", None))
    earned: dict[int, int] = {}
    for at, _, kind, payload in events:
        if kind == "ORDER":
            order, spends = payload
            async with uow(at) as u:
                tx = await earn(u, member, str(order.amount), order.unit)
                earned[id(order)] = tx.id
            if spends:  # spend what the points allow: it must not matter to the tier
                try:
                    async with uow(at + timedelta(seconds=1)) as u:
                        points = (await balance(u, member)).available // 100 * 100
                        await spend(u, member, points, "10000000", "OFFICE")
                except DomainError:
                    pass
        elif kind == "REFUND":
            order, share = payload
            part = (order.amount * Decimal(share)).quantize(Decimal("0.01")) if share else None
            async with uow(at) as u:
                await refund(u, earned[id(order)], None if part is None else str(part))
            order.refunds.append((at, part if part is not None else order.amount))
        else:
            await evaluate_tiers(db.sessions, now=at, tz=TZ)
            async with uow(at) as u:
                row = await u.session.get(MemberTier, member)
                stored = (row.tier_code, row.valid_until) if row else ("NORMAL", None)
            assert stored == model_tier(orders, at, policy), (at, stored)
    async with uow(final) as u:
        sources = set(
            await u.session.scalars(
                select(TierHistory.source).where(TierHistory.member_id == member)
            )
        )
    return stored[0], "JOB" in sources
