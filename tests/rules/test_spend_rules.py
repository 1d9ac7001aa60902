"""Spending rules without a database: what points are worth, minimum, step, maximum share."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.till.spending import MAX_POINTS, check_spend_rules, points_value
from tests.rules.builders import refused, unit, untimed

CENT = Decimal("0.01")

units = st.builds(
    lambda value, minimum, step, share: unit(
        point_value_cny=Decimal(value).scaleb(-6),
        spend_min_points=minimum,
        spend_step=step,
        spend_max_share=Decimal(share).scaleb(-4),
    ),
    value=st.integers(1, 1_000_000),  # 0.000001 .. 1 CNY per point
    minimum=st.integers(1, 1_000),
    step=st.sampled_from([1, 10, 50, 100, 500]),
    share=st.integers(1, 10_000),  # 0.01% .. 100% of the order
)
bonuses = st.sampled_from([Decimal(0), Decimal("0.05"), Decimal("0.10"), Decimal("0.125")])
amounts = st.integers(1, 10**9).map(lambda cents: Decimal(cents) * CENT)


def _down(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


@untimed
@given(units, st.integers(0, 10**7), bonuses)
def test_points_value_is_points_times_value_times_bonus_rounded_down(bu, points, bonus):
    value = points_value(bu, points, bonus)
    exact = bu.point_value_cny * points * (1 + bonus)
    assert value == value.quantize(CENT)
    assert value <= exact < value + CENT


@untimed
@given(units, st.integers(0, 10**6), st.integers(0, 10**6), bonuses, bonuses)
def test_points_value_never_falls_with_more_points_or_a_larger_bonus(bu, a, b, x, y):
    assert points_value(bu, min(a, b), min(x, y)) <= points_value(bu, max(a, b), max(x, y))


@untimed
@given(units, st.integers(1, MAX_POINTS), amounts, bonuses)
def test_check_spend_rules_against_the_rules_as_stated(bu, points, amount, bonus):
    """Whole positive points, at least the minimum, a multiple of the step, and a value (tier
    bonus included) within the maximum share of the order: then the value is what they pay."""
    if points < bu.spend_min_points or points % bu.spend_step:
        with refused(ErrorCode.INVALID_INPUT, "points"):
            check_spend_rules(bu, points, amount, bonus)
        return
    value = _down(bu.point_value_cny * points * (1 + bonus))
    if value > _down(amount * bu.spend_max_share):
        with refused(ErrorCode.LIMIT_REACHED, "points"):
            check_spend_rules(bu, points, amount, bonus)
    else:
        assert check_spend_rules(bu, points, amount, bonus) == value


@untimed
@given(units, st.integers(1, 10**5), amounts, bonuses)
def test_a_tier_bonus_can_only_refuse_more(bu, multiple, amount, bonus):
    """The maximum share is checked on the raised value: what a bonus lets through, the plain
    value lets through too, and for no more CNY."""
    points = bu.spend_step * multiple
    assume(bu.spend_min_points <= points <= MAX_POINTS)
    try:
        raised = check_spend_rules(bu, points, amount, bonus)
    except DomainError as refusal:
        assert refusal.code == ErrorCode.LIMIT_REACHED
        return
    assert check_spend_rules(bu, points, amount) <= raised


@pytest.mark.parametrize("points", [0, -100, MAX_POINTS + 100, 100.0, "100", None])
def test_points_must_be_a_positive_whole_number(points):
    with refused(ErrorCode.INVALID_INPUT, "points"):
        check_spend_rules(unit("MALL"), points, Decimal("1000.00"))


@pytest.mark.parametrize("points", [True, False])
def test_a_bool_is_not_a_number_of_points(points):
    # a unit that takes a single point, so True (== 1 to Python) would otherwise pass
    bu = unit("MALL", spend_min_points=1, spend_step=1, spend_max_share=Decimal(1))
    with refused(ErrorCode.INVALID_INPUT, "points"):
        check_spend_rules(bu, points, Decimal("1000.00"))


def test_minimum_is_checked_before_the_step():
    bu = unit("MALL", spend_min_points=200, spend_step=100)
    with refused(ErrorCode.INVALID_INPUT, "points") as caught:
        check_spend_rules(bu, 150, Decimal("1000.00"))
    assert "at least 200" in caught.value.message
    with refused(ErrorCode.INVALID_INPUT, "points") as caught:
        check_spend_rules(bu, 250, Decimal("1000.00"))
    assert "multiple of 100" in caught.value.message


def test_spec_examples():
    # mall: 1 pt = 0.02 CNY; 500 pts (10 CNY) + 90 CNY buys a 100 CNY item
    assert check_spend_rules(unit("MALL"), 500, Decimal("100.00")) == Decimal("10.00")
    # convenience store: 100 pts = 5 CNY off
    assert check_spend_rules(unit("CONVENIENCE"), 100, Decimal("20.00")) == Decimal("5.00")
    # at most 50% of a 100 CNY order at the mall: 2500 pts pay 50 CNY, 2600 are too many
    assert check_spend_rules(unit("MALL"), 2500, Decimal("100.00")) == Decimal("50.00")
    with refused(ErrorCode.LIMIT_REACHED, "points"):
        check_spend_rules(unit("MALL"), 2600, Decimal("100.00"))
    # steps of 100 and at least 100 per use
    with refused(ErrorCode.INVALID_INPUT, "points"):
        check_spend_rules(unit("MALL"), 550, Decimal("100.00"))
    with refused(ErrorCode.INVALID_INPUT, "points"):
        check_spend_rules(unit("MALL"), 50, Decimal("100.00"))


def test_tier_bonus_raises_the_value_and_counts_against_the_share():
    gold = Decimal("0.05")
    assert check_spend_rules(unit("MALL"), 1000, Decimal("100.00"), gold) == Decimal("21.00")
    # 2500 pts are exactly half of 100 CNY, but worth 52.50 to a gold member: over the share
    with refused(ErrorCode.LIMIT_REACHED, "points"):
        check_spend_rules(unit("MALL"), 2500, Decimal("100.00"), gold)


def test_values_and_ceilings_round_down_to_the_cent():
    bu = unit("MALL", point_value_cny=Decimal("0.013"), spend_min_points=1, spend_step=1)
    assert points_value(bu, 100) == Decimal("1.30")
    assert points_value(bu, 100, Decimal("0.05")) == Decimal("1.36")  # 1.365
    assert points_value(bu, 1) == Decimal("0.01")  # 0.013
    assert points_value(bu, 0) == Decimal("0.00")
    # a 0.03 CNY order at 50%: the ceiling is 0.01 (0.015 rounded down)
    assert check_spend_rules(bu, 1, Decimal("0.03")) == Decimal("0.01")
    with refused(ErrorCode.LIMIT_REACHED):
        check_spend_rules(bu, 2, Decimal("0.03"))  # 0.02 > 0.01
