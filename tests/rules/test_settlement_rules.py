"""Settlement's pure rules: cents that add up (largest remainder over signed exact amounts),
periods in the group's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.settlement.periods import Period
from app.domain.settlement.rounding import CENT, share_cents, to_cents
from app.domain.shared.errors import DomainError
from tests.conftest import TZ

exact_amounts = st.lists(
    st.decimals(min_value=-10_000, max_value=10_000, places=6, allow_nan=False), max_size=30
)


@given(exact_amounts)
def test_shares_are_whole_cents_adding_up_to_the_rounded_total(exact):
    shares = share_cents(exact)
    assert len(shares) == len(exact)
    assert sum(shares, Decimal(0)) == to_cents(sum(exact, Decimal(0)))
    for share, value in zip(shares, exact, strict=True):
        assert share == share.quantize(CENT)
        assert abs(share - value) < CENT


def test_the_cents_left_go_to_the_largest_remainders_first():
    # 3 x 3.333.. = 10.00: the first part (ties: the earlier) gets the cent left
    assert share_cents([Decimal(10) / 3] * 3) == [Decimal("3.34"), Decimal("3.33"), Decimal("3.33")]
    assert share_cents([Decimal("0.004"), Decimal("0.006")]) == [Decimal("0.00"), Decimal("0.01")]


def test_periods_are_months_of_the_group_time_zone():
    may = Period.parse("2026-05")
    assert str(may) == "2026-05" and str(may.next()) == "2026-06"
    assert str(Period.parse("2026-01").previous()) == "2025-12"
    assert str(Period.parse("2026-12").next()) == "2027-01"
    assert may.end(TZ) == datetime(2026, 5, 31, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    assert not may.is_over(datetime(2026, 5, 31, 15, 59, 59, tzinfo=UTC), TZ)
    assert may.is_over(datetime(2026, 5, 31, 16, 0, tzinfo=UTC), TZ)
    assert Period.of(datetime(2026, 5, 31, 16, 30, tzinfo=UTC), TZ) == Period(2026, 6)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "abc", "2026-1", "26-01", "", "3000-01"])
def test_a_malformed_period_is_refused(text):
    with pytest.raises(DomainError) as refused:
        Period.parse(text)
    assert refused.value.code.value == "INVALID_INPUT" and refused.value.field == "period"
