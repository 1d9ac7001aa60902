"""Engagement rules without a database: birthdays (Feb 29 on Feb 28 in common years), what the
daily and lifetime caps leave, activity kinds."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.engagement.birthdays import celebrates_on
from app.domain.engagement.progress import Allowance
from app.domain.engagement.rule_book import ActivityKind, parse_kind
from app.domain.shared.errors import ErrorCode
from tests.rules.builders import refused, untimed

birthdays = st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31))


@untimed
@given(birthdays, st.integers(2021, 2100))
def test_a_member_celebrates_exactly_once_a_year(birthday, year):
    days = [
        date(year, 1, 1) + timedelta(days=n) for n in range(366 if calendar.isleap(year) else 365)
    ]
    celebrated = [day for day in days if celebrates_on(birthday, day)]
    if (birthday.month, birthday.day) == (2, 29) and not calendar.isleap(year):
        assert celebrated == [date(year, 2, 28)]
    else:
        assert celebrated == [birthday.replace(year=year)]


def test_leap_day_birthdays():
    leapling = date(2000, 2, 29)
    assert celebrates_on(leapling, date(2027, 2, 28))
    assert not celebrates_on(leapling, date(2027, 3, 1))
    assert not celebrates_on(leapling, date(2028, 2, 28))  # a leap year has the day itself
    assert celebrates_on(leapling, date(2028, 2, 29))
    # members born on Feb 28 keep their own day
    assert celebrates_on(date(2001, 2, 28), date(2028, 2, 28))
    assert not celebrates_on(date(2001, 2, 28), date(2028, 2, 29))


caps = st.none() | st.integers(1, 50)


@untimed
@given(caps, st.integers(0, 60), caps, st.integers(0, 200))
def test_rewards_left_today_respect_both_caps(daily, today, lifetime, total):
    allowance = Allowance("SHARE", 50, True, today, daily, max(total, today), lifetime)
    left = allowance.remaining_today
    if daily is None and lifetime is None:
        assert left is None
        return
    assert left is not None and left >= 0
    if daily is not None:
        assert left <= max(0, daily - today)
    if lifetime is not None:
        assert left <= max(0, lifetime - allowance.used_total)
    # the tighter of the two, not less
    assert left == min(
        max(0, cap - used)
        for cap, used in ((daily, today), (lifetime, allowance.used_total))
        if cap is not None
    )


def test_rewards_left_examples():
    share = Allowance("SHARE", 50, True, used_today=1, daily_cap=2, used_total=99, lifetime_cap=100)
    assert share.remaining_today == 1
    done = Allowance("SHARE", 50, True, used_today=2, daily_cap=2, used_total=2, lifetime_cap=100)
    assert done.remaining_today == 0
    review = Allowance(
        "REVIEW", 30, True, used_today=5, daily_cap=None, used_total=5, lifetime_cap=None
    )
    assert review.remaining_today is None
    # past a cap (lowered by an operator) nothing is left, never a negative count
    lowered = Allowance(
        "SURVEY", 20, True, used_today=3, daily_cap=1, used_total=3, lifetime_cap=50
    )
    assert lowered.remaining_today == 0


@untimed
@given(st.sampled_from(list(ActivityKind)), st.sampled_from([str.lower, str.upper, str.title]))
def test_activity_kinds_by_name_in_any_case(kind, case):
    assert parse_kind(f"  {case(kind.value)} ") is kind


@pytest.mark.parametrize("raw", ["", "CHECKIN", "check in", "PURCHASE", None])
def test_unknown_activity_kinds_are_refused(raw):
    with refused(ErrorCode.INVALID_INPUT, "activity"):
        parse_kind(raw, "activity")
