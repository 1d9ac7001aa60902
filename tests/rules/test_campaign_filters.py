"""Which orders a campaign meets, without a database: the time window and the filters, weekdays
and birthday months on the group's calendar (Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.campaigns.rules import matches
from tests.rules.builders import TZ, campaign, untimed
from tests.rules.builders import order_facts as facts

START = datetime(2026, 3, 1, tzinfo=TZ)

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
subsets = st.lists  # an empty list is no filter at all


@untimed
@given(
    instants,
    st.integers(1, 3),
    st.none() | st.integers(1, 3),
    st.none() | st.sampled_from(["DINING", "JEWELRY"]),
    st.sampled_from(["NORMAL", "SILVER", "GOLD"]),
    st.none() | st.dates(min_value=date(1960, 1, 1), max_value=date(2008, 12, 31)),
    st.integers(1, 100_000).map(lambda cents: Decimal(cents).scaleb(-2)),
    st.data(),
)
def test_an_order_meets_a_campaign_when_it_passes_every_filter(
    at, unit_id, merchant_id, category, tier_code, birthday, amount, data
):
    offered = campaign(
        starts_at=START,
        ends_at=data.draw(st.none() | st.just(datetime(2027, 3, 1, tzinfo=TZ))),
        ended_at=data.draw(st.none() | st.just(datetime(2026, 12, 1, tzinfo=TZ))),
        unit_ids=data.draw(subsets(st.integers(1, 3), unique=True, max_size=2)),
        merchant_ids=data.draw(subsets(st.integers(1, 3), unique=True, max_size=2)),
        categories=data.draw(subsets(st.sampled_from(["DINING", "JEWELRY"]), unique=True)),
        tier_codes=data.draw(subsets(st.sampled_from(["SILVER", "GOLD"]), unique=True)),
        weekdays=data.draw(subsets(st.integers(1, 7), unique=True, max_size=3)),
        birthday_month=data.draw(st.booleans()),
        min_amount=data.draw(st.none() | st.sampled_from([Decimal(100), Decimal(500)])),
    )
    order = facts(
        at=at,
        unit_id=unit_id,
        merchant_id=merchant_id,
        category=category,
        amount=amount,
        tier_code=tier_code,
        birthday=birthday,
    )
    local = at.astimezone(TZ)
    filters = [
        not offered.unit_ids or unit_id in offered.unit_ids,
        not offered.merchant_ids or merchant_id in offered.merchant_ids,
        not offered.categories or category in offered.categories,
        not offered.tier_codes or tier_code in offered.tier_codes,
        not offered.weekdays or local.isoweekday() in offered.weekdays,
        not offered.birthday_month or (birthday is not None and birthday.month == local.month),
        offered.min_amount is None or amount >= offered.min_amount,
    ]
    running = (
        START <= at
        and (offered.ends_at is None or at < offered.ends_at)
        and (offered.ended_at is None or at < offered.ended_at)
    )
    assert matches(offered, order, TZ, window=False) == all(filters)
    assert matches(offered, order, TZ) == (running and all(filters))


def test_the_window_starts_inclusive_and_ends_exclusive():
    end = datetime(2026, 4, 1, tzinfo=TZ)
    offered = campaign(starts_at=START, ends_at=end)
    tick = timedelta(microseconds=1)
    assert not matches(offered, facts(at=START - tick), TZ)
    assert matches(offered, facts(at=START), TZ)
    assert matches(offered, facts(at=end - tick), TZ)
    assert not matches(offered, facts(at=end), TZ)
    # an operator ending it early closes it at that instant
    stopped = campaign(starts_at=START, ends_at=end, ended_at=datetime(2026, 3, 10, tzinfo=TZ))
    assert not matches(stopped, facts(at=datetime(2026, 3, 10, tzinfo=TZ)), TZ)
    # a simulation over past orders ignores the window but keeps the filters
    assert matches(stopped, facts(at=end), TZ, window=False)


def test_member_day_is_a_weekday_in_group_time():
    monday = campaign(starts_at=START, weekdays=[1])
    sunday_late_utc = datetime(2026, 6, 14, 16, 30, tzinfo=UTC)  # Mon 00:30 in Shanghai
    assert matches(monday, facts(at=sunday_late_utc), TZ)
    assert not matches(monday, facts(at=sunday_late_utc - timedelta(hours=1)), TZ)


def test_birthday_month_in_group_time_and_leap_day_birthdays():
    birthday_double = campaign(starts_at=START, birthday_month=True)
    march_first_local = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)  # Mar 1, 01:00 in Shanghai
    assert matches(birthday_double, facts(at=march_first_local, birthday=date(1990, 3, 20)), TZ)
    assert not matches(birthday_double, facts(at=march_first_local, birthday=date(1990, 2, 3)), TZ)
    assert not matches(birthday_double, facts(at=march_first_local, birthday=None), TZ)
    # a Feb 29 birthday is in February, leap year or not
    feb_2027 = datetime(2027, 2, 10, tzinfo=TZ)
    assert matches(birthday_double, facts(at=feb_2027, birthday=date(2000, 2, 29)), TZ)


def test_categories_and_minimum_amount():
    dining = campaign(starts_at=START, categories=["DINING"], min_amount=Decimal(500))
    at = datetime(2026, 5, 1, tzinfo=TZ)
    assert matches(dining, facts(at=at, category="DINING", amount=Decimal("500.00")), TZ)
    assert not matches(dining, facts(at=at, category="DINING", amount=Decimal("499.99")), TZ)
    assert not matches(dining, facts(at=at, category=None, amount=Decimal(800)), TZ)
