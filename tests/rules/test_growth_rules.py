"""Growth value without a database: the 12-month window and the value on each basis."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.ledger.expiry import add_months
from app.domain.tiers.growth import WINDOW_MONTHS, growth_of, window_start
from tests.rules.builders import TZ, untimed

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2080, 1, 1), timezones=st.just(UTC)
)


@untimed
@given(instants)
def test_the_window_is_twelve_months_on_the_group_calendar(at):
    start = window_start(at, TZ)
    assert start == add_months(at.astimezone(TZ), -WINDOW_MONTHS)
    assert start < at
    local_start, local_end = start.astimezone(TZ), at.astimezone(TZ)
    assert (local_start.year, local_start.month) == (local_end.year - 1, local_end.month)
    assert local_start.time() == local_end.time()


def test_window_examples():
    # noon on Jun 15 2026 in Shanghai: the window opens (exclusive) at noon on Jun 15 2025
    at = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
    assert window_start(at, TZ) == datetime(2025, 6, 15, 12, 0, tzinfo=TZ)
    # 01:00 on Mar 1 in Shanghai is still Feb 28 in UTC: the group's calendar counts
    at = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
    assert window_start(at, TZ) == datetime(2025, 3, 1, 1, 0, tzinfo=TZ)
    # a leap day's window opens on Feb 28 of the year before
    assert window_start(datetime(2028, 2, 29, tzinfo=TZ), TZ) == datetime(2027, 2, 28, tzinfo=TZ)


cny = st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False)


@untimed
@given(cny, st.integers(0, 10**9), st.integers(0, 10**5))
def test_growth_on_each_basis(weighted, points, visits):
    row = (1, weighted, points, visits)
    spend = growth_of(row, "SPEND")
    assert spend == spend.quantize(Decimal("0.01"))
    assert spend <= weighted < spend + Decimal("0.01")  # rounded down to the cent
    assert growth_of(row, "POINTS") == points
    assert growth_of(row, "VISITS") == visits


def test_no_orders_is_zero_growth():
    assert str(growth_of(None, "SPEND")) == "0.00"
    assert growth_of(None, "POINTS") == 0
    assert growth_of(None, "VISITS") == 0
    # weighted CNY from the database: 100.005 CNY at weight 1.2 is 120.006, counted as 120.00
    assert growth_of((1, Decimal("120.006"), 0, 1), "SPEND") == Decimal("120.00")
