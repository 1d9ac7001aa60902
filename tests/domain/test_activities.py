"""Activities: check-ins and their streak, shares, reviews, surveys, registration, referral,
birthday gifts; caps (also under concurrency), rules edited by operators, a clean ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.domain.engagement.birthdays import celebrates_on, grant_birthday_gift
from app.domain.engagement.progress import activity_progress
from app.domain.engagement.rewards import grant_registration_bonus, record_activity, reward_referral
from app.domain.engagement.rule_book import list_rules, seed_activity_rules, update_rule
from app.domain.ledger.accounts import GROUP
from app.domain.ledger.audit import verify_ledger
from app.domain.members.identity import get_member
from app.domain.shared.errors import DomainError, ErrorCode
from app.jobs.engagement import grant_birthday_gifts
from app.models import ActivityEvent, Member, OperatorAction
from app.platform.uow import unit_of_work
from tests.conftest import TZ
from tests.helpers import (
    assert_clean,
    earn,
    ledger_snapshot,
    lots_of,
    new_member,
    points_of,
    postings_of,
    raises_code,
    refund,
    run_expire_job,
    spend,
    transactions_of,
)


@pytest.fixture
async def rules(units, uow_factory) -> dict[str, int]:
    """The organisation plus the demo activity rules; returns the unit ids."""
    async with uow_factory() as uow:
        await seed_activity_rules(uow)
    return units


def local(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


async def act(uow_factory, member: int, kind: str, at: datetime | None = None, **extra):
    async with uow_factory(at) as uow:
        return await record_activity(uow, member_id=member, kind=kind, caller="test", **extra)


async def member_in(uow_factory, unit: str = "MALL", **extra) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, unit, **extra)


async def test_each_kind_earns_its_points_at_once_funded_by_the_group(rules, uow_factory):
    member = await member_in(uow_factory, "MALL")  # +100 for registering
    earned = {}
    for kind in ("CHECK_IN", "SHARE", "REVIEW", "SURVEY"):
        result = await act(uow_factory, member, kind, reference=f"{kind.lower()}-1")
        earned[kind] = result.points
        assert result.transaction.kind == "ACTIVITY"
        assert result.transaction.source == "ACTIVITY"
        assert result.transaction.rule == f"activity:{kind}"
        assert result.transaction.caller_ref == f"{kind.lower()}-1"
        assert result.transaction.detail["breakdown"][0]["points"] == result.points
    assert earned == {"CHECK_IN": 10, "SHARE": 50, "REVIEW": 30, "SURVEY": 20}
    assert await points_of(uow_factory, member) == (210, 0, 0)
    async with uow_factory() as uow:
        lots = await lots_of(uow, member)
        tx = (await transactions_of(uow, member, "ACTIVITY"))[-1]
        postings = await postings_of(uow, tx.id)
    assert [lot.points for lot in lots] == [100, 10, 50, 30, 20]
    assert {(lot.state, lot.funder_unit_id, lot.issuer_unit_id) for lot in lots} == {
        ("AVAILABLE", None, rules["MALL"])
    }
    assert postings == {("MEMBER_AVAILABLE", member): 20, ("ISSUED", GROUP): -20}
    await assert_clean(uow_factory)


async def test_registration_earns_once_and_nothing_without_a_rule(units, uow_factory):
    bare = await member_in(uow_factory)
    assert await points_of(uow_factory, bare) == (0, 0, 0)
    async with uow_factory() as uow:
        await seed_activity_rules(uow)
    member = await member_in(uow_factory, "HOTEL")
    async with uow_factory() as uow:
        assert await grant_registration_bonus(uow, member_id=member) is None  # already given
        [tx] = await transactions_of(uow, member)
    assert (tx.kind, tx.source, tx.points, tx.business_unit_id) == (
        "ACTIVITY",
        "REGISTRATION",
        100,
        units["HOTEL"],
    )
    assert await points_of(uow_factory, member) == (100, 0, 0)
    await assert_clean(uow_factory)


async def test_seven_days_in_a_row_pay_the_streak_bonus_and_the_streak_continues(
    rules, uow_factory
):
    member = await member_in(uow_factory)
    streaks, points = [], []
    for day in range(14):
        # alternate late and early in the local day: 23:59 and 00:01 are different days
        at = local(2026, 6, 1, 23, 59) if day == 0 else local(2026, 6, 1 + day, 0, 1)
        if day % 2:
            at = local(2026, 6, 1 + day, 23, 59)
        result = await act(uow_factory, member, "CHECK_IN", at)
        streaks.append(result.streak)
        points.append(result.points)
    assert streaks == list(range(1, 15))
    assert points == [10] * 6 + [210] + [10] * 6 + [210]
    async with uow_factory() as uow:
        day7 = next(t for t in await transactions_of(uow, member, "ACTIVITY") if t.points == 210)
    assert [(line["kind"], line["points"]) for line in day7.detail["breakdown"]] == [
        ("ACTIVITY", 10),
        ("STREAK", 200),
    ]
    assert day7.rule == "activity:CHECK_IN+streak:7d"
    assert day7.detail["streak"] == 7
    await assert_clean(uow_factory)


async def test_local_midnight_decides_the_day(rules, uow_factory):
    member = await member_in(uow_factory)
    # 15:59 UTC is 23:59 in Shanghai; two minutes later it is the next local day
    first = await act(uow_factory, member, "CHECK_IN", datetime(2026, 6, 1, 15, 59, tzinfo=UTC))
    second = await act(uow_factory, member, "CHECK_IN", datetime(2026, 6, 1, 16, 1, tzinfo=UTC))
    assert (first.streak, second.streak) == (1, 2)
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.LIMIT_REACHED, "kind"):  # 23:59 the same local day
        await act(uow_factory, member, "CHECK_IN", datetime(2026, 6, 2, 15, 59, tzinfo=UTC))
    assert await ledger_snapshot(uow_factory) == before


async def test_a_missed_day_starts_the_streak_again(rules, uow_factory):
    member = await member_in(uow_factory)
    for day in (1, 2, 3, 4, 5, 6):
        await act(uow_factory, member, "CHECK_IN", local(2026, 6, day))
    again = await act(uow_factory, member, "CHECK_IN", local(2026, 6, 8))  # June 7 missed
    assert (again.streak, again.points) == (1, 10)
    async with uow_factory(local(2026, 6, 9)) as uow:
        progress = await activity_progress(uow, member_id=member)
    assert (progress.checked_in_today, progress.streak, progress.check_ins_to_bonus) == (
        False,
        1,
        6,
    )
    async with uow_factory(local(2026, 6, 10)) as uow:
        progress = await activity_progress(uow, member_id=member)
    assert (progress.streak, progress.check_ins_to_bonus) == (0, 7)
    await assert_clean(uow_factory)


async def test_daily_cap_refuses_with_nothing_recorded_and_resets_next_day(rules, uow_factory):
    member = await member_in(uow_factory)
    await act(uow_factory, member, "SHARE", local(2026, 6, 1, 9))
    await act(uow_factory, member, "SHARE", local(2026, 6, 1, 10))
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.LIMIT_REACHED, "kind"):
        await act(uow_factory, member, "SHARE", local(2026, 6, 1, 23, 59))
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory(local(2026, 6, 1, 23, 59)) as uow:
        progress = await activity_progress(uow, member_id=member)
    share = next(a for a in progress.allowances if a.kind == "SHARE")
    assert (share.used_today, share.remaining_today, share.used_total) == (2, 0, 2)
    assert (await act(uow_factory, member, "SHARE", local(2026, 6, 2, 0, 1))).points == 50
    await assert_clean(uow_factory)


async def test_lifetime_cap_refuses_with_nothing_recorded(rules, uow_factory):
    async with uow_factory() as uow:
        await update_rule(
            uow, kind="SURVEY", changes={"lifetime_cap": 2}, actor="operator:t", reason="pilot"
        )
    member = await member_in(uow_factory)
    await act(uow_factory, member, "SURVEY", local(2026, 6, 1))
    await act(uow_factory, member, "SURVEY", local(2026, 6, 2))
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.LIMIT_REACHED, "kind"):
        await act(uow_factory, member, "SURVEY", local(2026, 6, 3))
    assert await ledger_snapshot(uow_factory) == before


async def test_a_reference_is_rewarded_once_and_engine_kinds_are_not_recordable(rules, uow_factory):
    member = await member_in(uow_factory)
    await act(uow_factory, member, "REVIEW", reference="order-77")
    with raises_code(ErrorCode.DUPLICATE, "reference"):
        await act(uow_factory, member, "REVIEW", reference=" order-77 ")
    for kind in ("BIRTHDAY", "REFERRAL", "REGISTRATION", "DANCE"):
        with raises_code(ErrorCode.INVALID_INPUT):
            await act(uow_factory, member, kind)
    with raises_code(ErrorCode.NOT_FOUND, "memberId"):
        await act(uow_factory, 9999, "SHARE")
    async with uow_factory() as uow:
        await update_rule(
            uow, kind="SHARE", changes={"active": False}, actor="operator:t", reason="paused"
        )
    with raises_code(ErrorCode.INVALID_INPUT, "kind"):
        await act(uow_factory, member, "SHARE")


async def test_activity_points_pay_off_debt_first(rules, uow_factory):
    member = await member_in(uow_factory, "HOTEL")  # 100
    async with uow_factory() as uow:
        order = await earn(uow, member, "100", "HOTEL")  # 200
    async with uow_factory() as uow:
        await spend(uow, member, 300, "1000", "HOTEL")
    async with uow_factory() as uow:
        await refund(uow, order.id)  # 200 owed
    assert await points_of(uow_factory, member) == (-200, 0, 200)
    result = await act(uow_factory, member, "SHARE")
    assert result.transaction.debt_change == -50
    assert await points_of(uow_factory, member) == (-150, 0, 150)
    await assert_clean(uow_factory)


async def test_operators_edit_rules_in_the_audit_trail_and_bad_values_are_refused(
    rules, uow_factory
):
    async with uow_factory() as uow:
        rule = await update_rule(
            uow,
            kind="check_in",
            changes={"points": 5, "streak_days": 3, "streak_bonus": 30},
            actor="operator:ops-1",
            reason="summer",
        )
    assert (rule.points, rule.streak_days, rule.streak_bonus) == (5, 3, 30)
    async with uow_factory() as uow:
        [logged] = list(await uow.session.scalars(select(OperatorAction)))
    assert (logged.action, logged.target_id, logged.reason) == (
        "activity_rule.update",
        "CHECK_IN",
        "summer",
    )
    assert logged.detail == {
        "from": {"points": 10, "streak_days": 7, "streak_bonus": 200},
        "to": {"points": 5, "streak_days": 3, "streak_bonus": 30},
    }
    member = await member_in(uow_factory)
    points = [
        (await act(uow_factory, member, "CHECK_IN", local(2026, 6, d))).points for d in (1, 2, 3)
    ]
    assert points == [5, 5, 35]
    bad = [
        ("CHECK_IN", {"daily_cap": 2}, "dailyCap"),
        ("CHECK_IN", {"streak_bonus": None}, "streakBonus"),
        ("SHARE", {"streak_days": 3, "streak_bonus": 1}, "streakDays"),
        ("SHARE", {"points": -1}, "points"),
        ("SHARE", {"lifetime_cap": 0}, "lifetimeCap"),
        ("REGISTRATION", {"lifetime_cap": None}, "lifetimeCap"),
    ]
    for kind, changes, field in bad:
        with raises_code(ErrorCode.INVALID_INPUT, field):
            async with uow_factory() as uow:
                await update_rule(uow, kind=kind, changes=changes, actor="o", reason="x")
    with raises_code(ErrorCode.INVALID_INPUT, "reason"):
        async with uow_factory() as uow:
            await update_rule(uow, kind="SHARE", changes={"points": 1}, actor="o", reason=" ")
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(OperatorAction)) == 1


async def test_activity_points_expire_by_the_programme_with_breakage_to_the_group(
    rules, uow_factory, clock
):
    member = await member_in(uow_factory)
    await act(uow_factory, member, "SURVEY")
    async with uow_factory() as uow:
        [_, survey] = await lots_of(uow, member)
    assert survey.expires_at == datetime(2027, 6, 15, 12, 0, tzinfo=TZ)  # rolling 12 months
    [expiry] = await run_expire_job(uow_factory, clock.now + timedelta(days=366))
    async with uow_factory() as uow:
        postings = await postings_of(uow, expiry.id)
    assert postings == {("MEMBER_AVAILABLE", member): -120, ("BREAKAGE", GROUP): 120}
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


# --- referral -------------------------------------------------------------------------------


async def referred_pair(uow_factory) -> tuple[int, int]:
    referrer = await member_in(uow_factory, "MALL")
    async with uow_factory() as uow:
        code = (await get_member(uow, referrer)).referral_code
        referred = await new_member(uow, "HOTEL", referral_code=code.lower())
        assert (await get_member(uow, referred)).referred_by_id == referrer
    return referrer, referred


async def referral_txs(uow_factory, member: int) -> list:
    async with uow_factory() as uow:
        return [t for t in await transactions_of(uow, member) if t.source == "REFERRAL"]


async def test_referrer_earns_on_the_first_real_purchase_only(rules, uow_factory):
    referrer, referred = await referred_pair(uow_factory)
    with raises_code(ErrorCode.INVALID_INPUT, "amount"):  # a zero-amount order is refused
        async with uow_factory() as uow:
            await earn(uow, referred, "0", "HOTEL")
    async with uow_factory() as uow:
        await earn(uow, referred, "0.40", "HOTEL")  # an order that earns nothing is no purchase
    assert await referral_txs(uow_factory, referrer) == []
    async with uow_factory() as uow:
        first = await earn(uow, referred, "100", "HOTEL", ref="FIRST")
    [reward] = await referral_txs(uow_factory, referrer)
    assert (reward.points, reward.kind, reward.caller_ref) == (200, "ACTIVITY", "FIRST")
    assert reward.detail["referred_member_id"] == referred
    assert await points_of(uow_factory, referrer) == (300, 0, 0)
    async with uow_factory() as uow:
        await refund(uow, first.id, "40")  # a partial refund: it is still a purchase
    async with uow_factory() as uow:
        again = await earn(uow, referred, "50", "HOTEL")  # a second purchase after a refund
        assert await reward_referral(uow, member_id=referred, order_tx=again) is None
        await earn(uow, referred, "80", "MALL")
    assert len(await referral_txs(uow_factory, referrer)) == 1
    async with uow_factory() as uow:
        [event] = list(
            await uow.session.scalars(select(ActivityEvent).where(ActivityEvent.kind == "REFERRAL"))
        )
    assert (event.member_id, event.subject_member_id) == (referrer, referred)
    await assert_clean(uow_factory)


async def test_a_wholly_refunded_first_purchase_takes_the_referral_back(rules, uow_factory):
    """Buying to pay a referrer and returning the goods pays nothing: the reward is taken back
    through the ledger writer as a refund takes back earned points (spent: as debt), and the
    referral counts as never made, so the next purchase that is kept pays it."""
    referrer, referred = await referred_pair(uow_factory)
    async with uow_factory() as uow:
        first = await earn(uow, referred, "100", "HOTEL", ref="FIRST")
    [reward] = await referral_txs(uow_factory, referrer)
    assert await points_of(uow_factory, referrer) == (300, 0, 0)  # 100 registration + 200
    async with uow_factory() as uow:
        await refund(uow, first.id)
    assert await points_of(uow_factory, referrer) == (100, 0, 0)
    [_, taken_back] = await referral_txs(uow_factory, referrer)
    assert (taken_back.kind, taken_back.points, taken_back.reverses_id) == (
        "REWARD_REVERSAL",
        -200,
        reward.id,
    )
    assert taken_back.detail["referred_member_id"] == referred
    async with uow_factory() as uow:
        postings = await postings_of(uow, taken_back.id)
    assert postings == {("MEMBER_AVAILABLE", referrer): -200, ("ISSUED", GROUP): 200}

    async with uow_factory() as uow:  # the next purchase is kept: now it pays the referrer
        second = await earn(uow, referred, "50", "HOTEL", ref="SECOND")
    assert await points_of(uow_factory, referrer) == (300, 0, 0)
    async with uow_factory() as uow:
        await spend(uow, referrer, 200)  # the referrer spends what the reward gave
        await refund(uow, second.id, "20")  # partly refunded: still a purchase
    assert await points_of(uow_factory, referrer) == (100, 0, 0)
    async with uow_factory() as uow:
        await refund(uow, second.id)  # now wholly: what was spent becomes the referrer's debt
    assert await points_of(uow_factory, referrer) == (-100, 0, 100)  # available net of debt
    kinds = [t.kind for t in await referral_txs(uow_factory, referrer)]
    assert sorted(kinds) == ["ACTIVITY", "ACTIVITY", "REWARD_REVERSAL", "REWARD_REVERSAL"]
    async with uow_factory() as uow:
        events = await uow.session.scalar(
            select(func.count()).select_from(ActivityEvent).where(ActivityEvent.kind == "REFERRAL")
        )
    assert events == 0  # no referral stands: its place under the referrer's cap is free again
    await assert_clean(uow_factory)


async def test_referral_rewards_stop_at_the_referrers_cap(rules, uow_factory):
    async with uow_factory() as uow:
        await update_rule(
            uow, kind="REFERRAL", changes={"lifetime_cap": 1}, actor="operator:t", reason="cap"
        )
    referrer, first = await referred_pair(uow_factory)
    async with uow_factory() as uow:
        code = (await get_member(uow, referrer)).referral_code
        second = await new_member(uow, "MALL", referral_code=code)
    async with uow_factory() as uow:
        await earn(uow, first, "100", "HOTEL")
        await earn(uow, second, "100", "MALL")  # pending in the mall: the purchase still counts
    assert len(await referral_txs(uow_factory, referrer)) == 1
    assert await points_of(uow_factory, second) == (100, 100, 0)
    await assert_clean(uow_factory)


async def test_unknown_referral_code_registers_nobody(rules, uow_factory):
    async with uow_factory() as uow:
        with raises_code(ErrorCode.NOT_FOUND, "referralCode"):
            await new_member(uow, "MALL", referral_code="NOPE0000")


# --- birthday -------------------------------------------------------------------------------


def test_feb_29_birthdays_are_celebrated_on_feb_28_in_common_years():
    leapling = date(1992, 2, 29)
    assert celebrates_on(leapling, date(2027, 2, 28))
    assert not celebrates_on(leapling, date(2027, 3, 1))
    assert not celebrates_on(leapling, date(2028, 2, 28))
    assert celebrates_on(leapling, date(2028, 2, 29))
    assert not celebrates_on(date(1990, 2, 28), date(2028, 2, 29))
    assert celebrates_on(date(1990, 6, 15), date(2026, 6, 15))


async def birthday_points(uow_factory, member: int) -> list[int]:
    async with uow_factory() as uow:
        return [t.points for t in await transactions_of(uow, member) if t.source == "BIRTHDAY"]


async def test_birthday_job_gives_one_gift_a_year_even_run_twice_or_at_once(
    rules, uow_factory, sessions
):
    async with uow_factory(local(2026, 1, 5)) as uow:
        today = await new_member(uow, birthday=date(1990, 6, 15))
        tomorrow = await new_member(uow, birthday=date(1990, 6, 16))
        none = await new_member(uow)
    # 00:30 on June 15 in Shanghai is still June 14 in UTC
    now = datetime(2026, 6, 14, 16, 30, tzinfo=UTC)
    first = await grant_birthday_gifts(sessions, now=now, tz=TZ)
    again = await grant_birthday_gifts(sessions, now=now + timedelta(hours=20), tz=TZ)
    assert (first.members, first.points, again.members) == (1, 188, 0)
    assert await birthday_points(uow_factory, today) == [188]
    assert await birthday_points(uow_factory, tomorrow) == []
    assert await birthday_points(uow_factory, none) == []
    next_day = now + timedelta(days=1)
    reports = await asyncio.gather(
        *(grant_birthday_gifts(sessions, now=next_day, tz=TZ) for _ in range(3))
    )
    assert sum(r.members for r in reports) == 1
    assert await birthday_points(uow_factory, tomorrow) == [188]
    await grant_birthday_gifts(sessions, now=now + timedelta(days=365), tz=TZ)
    assert await birthday_points(uow_factory, today) == [188, 188]
    await assert_clean(uow_factory)


async def test_feb_29_birthday_gift_on_feb_28_in_a_common_year(rules, uow_factory, sessions):
    async with uow_factory(local(2026, 1, 5)) as uow:
        leapling = await new_member(uow, birthday=date(1992, 2, 29))
        ordinary = await new_member(uow, birthday=date(1990, 2, 28))
    report = await grant_birthday_gifts(sessions, now=local(2027, 2, 28, 8), tz=TZ)
    assert report.members == 2
    await grant_birthday_gifts(sessions, now=local(2027, 3, 1, 8), tz=TZ)
    await grant_birthday_gifts(sessions, now=local(2028, 2, 28, 8), tz=TZ)
    assert await birthday_points(uow_factory, leapling) == [188]
    assert await birthday_points(uow_factory, ordinary) == [188, 188]
    await grant_birthday_gifts(sessions, now=local(2028, 2, 29, 8), tz=TZ)
    assert await birthday_points(uow_factory, leapling) == [188, 188]
    async with uow_factory(local(2028, 2, 29, 9)) as uow:
        assert await grant_birthday_gift(uow, leapling) is None
    await assert_clean(uow_factory)


# --- caps under concurrency (real PostgreSQL: one connection per request) ------------------


async def attempt(uow_factory, member: int, kind: str, reference: str | None = None):
    try:
        return (await act(uow_factory, member, kind, reference=reference)).points
    except DomainError as error:
        return error.code


async def test_caps_hold_under_concurrent_requests(rules, uow_factory):
    member = await member_in(uow_factory)
    shares = await asyncio.gather(*(attempt(uow_factory, member, "SHARE") for _ in range(8)))
    check_ins = await asyncio.gather(*(attempt(uow_factory, member, "CHECK_IN") for _ in range(6)))
    same_ref = await asyncio.gather(
        *(attempt(uow_factory, member, "REVIEW", reference="r-1") for _ in range(4))
    )
    assert sorted(shares, key=str) == [50, 50] + [ErrorCode.LIMIT_REACHED] * 6
    assert sorted(check_ins, key=str) == [10] + [ErrorCode.LIMIT_REACHED] * 5
    assert sorted(same_ref, key=str) == [30] + [ErrorCode.DUPLICATE] * 3
    assert await points_of(uow_factory, member) == (100 + 100 + 10 + 30, 0, 0)
    await assert_clean(uow_factory)


async def test_the_demo_seed_has_the_rules_and_a_streak_one_day_from_its_bonus(clean_db, sessions):
    from app.demo.seed import seed_demo

    now = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
    await seed_demo(sessions, tz=TZ, now=now, members=6)
    async with unit_of_work(sessions, now=now, tz=TZ) as uow:
        rules = await list_rules(uow)
        registered = await uow.session.scalar(
            select(func.count()).where(ActivityEvent.kind == "REGISTRATION")
        )
        showcase = await uow.session.scalar(select(func.min(Member.id)))
        progress = await activity_progress(uow, member_id=showcase)
        assert await verify_ledger(uow) == []
    assert len(rules) == 7 and registered == 6
    assert (progress.streak, progress.checked_in_today, progress.check_ins_to_bonus) == (
        6,
        False,
        1,
    )


async def test_concurrent_first_purchases_pay_the_referrer_within_the_cap(rules, uow_factory):
    async with uow_factory() as uow:
        await update_rule(
            uow, kind="REFERRAL", changes={"lifetime_cap": 2}, actor="operator:t", reason="cap"
        )
    referrer, first = await referred_pair(uow_factory)
    async with uow_factory() as uow:
        code = (await get_member(uow, referrer)).referral_code
        others = [await new_member(uow, "HOTEL", referral_code=code) for _ in range(3)]

    async def buy(member: int) -> None:
        async with uow_factory() as uow:
            await earn(uow, member, "100", "HOTEL")

    # two orders of one member at once, and three other referred members' first orders
    await asyncio.gather(buy(first), buy(first), *(buy(m) for m in others))
    rewards = await referral_txs(uow_factory, referrer)
    assert len(rewards) == 2
    assert len({t.detail["referred_member_id"] for t in rewards}) == 2
    assert await points_of(uow_factory, referrer) == (100 + 400, 0, 0)
    await assert_clean(uow_factory)
