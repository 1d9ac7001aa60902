"""Decimal CNY: what an amount may be, and allocations that add up to the cent."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.shared.errors import ErrorCode
from app.domain.shared.money import CENT, allocate_largest_remainder, cents_down, parse_amount
from tests.helpers import raises_code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100", "100.00"),
        ("0.01", "0.01"),
        ("123.4", "123.40"),
        ("1.500", "1.50"),  # trailing zeros are not extra precision
        (Decimal("880.50"), "880.50"),
        (7, "7.00"),
        (" 12.30 ", "12.30"),
        ("99999999.99", "99999999.99"),
    ],
)
def test_parse_amount_accepts_positive_cents(raw, expected):
    amount = parse_amount(raw, "amount")
    assert amount == Decimal(expected)
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "0.00",
        "-0.01",
        "-5",
        Decimal("-1"),
        0,
        "1.001",
        "0.005",
        "1e-3",
        "abc",
        "",
        "1,000",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        None,
        "100000000",
        "1e9",
        "99999999999999999999999999999.001",  # more digits than the context can quantise
    ],
)
def test_parse_amount_rejects_with_invalid_input(raw):
    with raises_code(ErrorCode.INVALID_INPUT, field="orderAmount"):
        parse_amount(raw, "orderAmount")


def test_cents_down_truncates():
    assert cents_down(Decimal("4.999")) == Decimal("4.99")
    assert cents_down(Decimal("0.02") * 333) == Decimal("6.66")


def test_allocation_examples():
    assert allocate_largest_remainder(Decimal("0.10"), [1, 1, 1]) == [
        Decimal("0.04"),
        Decimal("0.03"),
        Decimal("0.03"),
    ]
    assert allocate_largest_remainder(Decimal("5.00"), [33, 33, 34]) == [
        Decimal("1.65"),
        Decimal("1.65"),
        Decimal("1.70"),
    ]
    # exact shares 2.5, 1.75, 0.75 cents: the two .75 remainders get the spare cents
    assert allocate_largest_remainder(Decimal("0.05"), [10, 7, 3]) == [
        Decimal("0.02"),
        Decimal("0.02"),
        Decimal("0.01"),
    ]
    assert allocate_largest_remainder(Decimal("1.00"), [0, 5]) == [Decimal("0"), Decimal("1.00")]
    assert allocate_largest_remainder(Decimal("1.00"), []) == []
    with pytest.raises(ValueError):
        allocate_largest_remainder(Decimal("1.00"), [0, 0])


@given(
    cents=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=25).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_allocation_always_sums_exactly(cents, weights):
    total = Decimal(cents) * CENT
    parts = allocate_largest_remainder(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts, Decimal(0)) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert part >= 0
        assert part == part.quantize(CENT)
        exact = total * weight / weight_sum
        # each share is its exact value rounded down or up by less than one cent
        assert abs(part - exact) < CENT
        if weight == 0:
            assert part == 0
