"""When points expire, without a database: calendar months with month-end clamping, rolling
N months after earning, or the annual clearing at the end of Dec 31 of Y+1 (group time)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain.ledger.expiry import add_months, expiry_for
from app.models import Program
from tests.rules.builders import TZ, untimed

# Shanghai has kept UTC+8 without daylight saving since 1991: every local time exists once
local_times = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(TZ)
)
instants = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)
months = st.integers(-120, 120)


@untimed
@given(local_times, months)
def test_add_months_moves_the_calendar_month_and_clamps_the_day(moment, n):
    moved = add_months(moment, n)
    year, month = divmod(moment.year * 12 + moment.month - 1 + n, 12)
    assert (moved.year, moved.month) == (year, month + 1)
    assert moved.day == min(moment.day, calendar.monthrange(moved.year, moved.month)[1])
    assert moved.timetz() == moment.timetz()  # same wall-clock time, same zone


@untimed
@given(local_times, months, months)
def test_add_months_composes_when_no_day_is_clamped(moment, a, b):
    moment = moment.replace(day=min(moment.day, 28))
    assert add_months(add_months(moment, a), b) == add_months(moment, a + b)
    assert add_months(moment, 0) == moment


@untimed
@given(local_times, local_times, months)
def test_add_months_keeps_the_order_of_instants(x, y, n):
    early, late = min(x, y), max(x, y)
    assert add_months(early, n) <= add_months(late, n)


def test_add_months_examples():
    at = datetime(2026, 1, 31, 9, 30, tzinfo=TZ)
    assert add_months(at, 1) == datetime(2026, 2, 28, 9, 30, tzinfo=TZ)
    assert add_months(at, 25) == datetime(2028, 2, 29, 9, 30, tzinfo=TZ)  # leap year
    assert add_months(at, -2) == datetime(2025, 11, 30, 9, 30, tzinfo=TZ)
    assert add_months(at, 11) == datetime(2026, 12, 31, 9, 30, tzinfo=TZ)
    assert add_months(datetime(2028, 2, 29, tzinfo=TZ), -12) == datetime(2027, 2, 28, tzinfo=TZ)


@untimed
@given(instants, st.integers(1, 36))
def test_rolling_expiry_is_n_calendar_months_after_earning_in_group_time(earned, n):
    expires = expiry_for(Program(expiry_mode="ROLLING", rolling_months=n), earned, TZ)
    assert expires == add_months(earned.astimezone(TZ), n)
    assert expires > earned
    # never more than N months of 31 days, never less than N months of 28
    assert timedelta(days=28 * n) <= expires - earned <= timedelta(days=31 * n)


@untimed
@given(instants)
def test_annual_expiry_is_the_end_of_dec_31_of_the_next_year_in_group_time(earned):
    expires = expiry_for(Program(expiry_mode="ANNUAL"), earned, TZ)
    year = earned.astimezone(TZ).year
    assert expires == datetime(year + 2, 1, 1, tzinfo=TZ)
    local = expires.astimezone(TZ)
    assert (local.month, local.day, local.hour, local.minute) == (1, 1, 0, 0)
    assert timedelta(days=365) < expires - earned <= timedelta(days=731)


@untimed
@given(st.sampled_from(["ROLLING", "ANNUAL"]), st.integers(1, 24), instants, instants)
def test_a_later_earning_never_expires_earlier(mode, n, x, y):
    program = Program(expiry_mode=mode, rolling_months=n)
    assert expiry_for(program, min(x, y), TZ) <= expiry_for(program, max(x, y), TZ)


def test_annual_clearing_follows_the_group_calendar_not_utc():
    annual = Program(expiry_mode="ANNUAL")
    # 23:59 on Dec 31 2026 in Shanghai is still 2026: cleared at the start of 2028
    assert expiry_for(annual, datetime(2026, 12, 31, 15, 59, tzinfo=UTC), TZ) == datetime(
        2028, 1, 1, tzinfo=TZ
    )
    # 00:00 on Jan 1 2027 in Shanghai (16:00 UTC on Dec 31) is 2027: cleared a year later
    assert expiry_for(annual, datetime(2026, 12, 31, 16, 0, tzinfo=UTC), TZ) == datetime(
        2029, 1, 1, tzinfo=TZ
    )


def test_rolling_expiry_counts_months_on_the_group_calendar():
    six = Program(expiry_mode="ROLLING", rolling_months=6)
    # 20:00 UTC on Jan 31 is 04:00 on Feb 1 in Shanghai: six months on is Aug 1, 04:00
    earned = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    assert expiry_for(six, earned, TZ) == datetime(2026, 8, 1, 4, 0, tzinfo=TZ)
    # earned on Aug 31 (local): due on the last day of February
    earned = datetime(2026, 8, 31, 2, 0, tzinfo=UTC)
    assert expiry_for(six, earned, TZ) == datetime(2027, 2, 28, 10, 0, tzinfo=TZ)
    # the default programme: rolling 12 months
    assert expiry_for(Program(), earned, TZ) == datetime(2027, 8, 31, 10, 0, tzinfo=TZ)
