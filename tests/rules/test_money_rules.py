"""Money properties tests/unit/test_money.py (already database-free) does not state: every
amount in cents parses to itself, and allocations are fair between weights."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.shared.errors import ErrorCode
from app.domain.shared.money import CENT, MAX_AMOUNT, allocate_largest_remainder, parse_amount
from tests.rules.builders import refused, untimed

cents = st.integers(1, int(MAX_AMOUNT / CENT) - 1)


@untimed
@given(cents, st.sampled_from(["{}", "{:.2f}", "{:.3f}", " {} "]))
def test_every_amount_in_cents_parses_to_itself(n, form):
    amount = Decimal(n) * CENT
    assert parse_amount(form.format(amount), "amount") == amount


@untimed
@given(cents, st.integers(1, 9))
def test_a_fraction_of_a_cent_is_refused(n, mills):
    with refused(ErrorCode.INVALID_INPUT, "amount"):
        parse_amount(f"{Decimal(n) * CENT}{mills}", "amount")


weights = st.lists(st.integers(0, 1_000), min_size=1, max_size=12).filter(lambda ws: sum(ws) > 0)


@untimed
@given(st.integers(0, 10**8), weights)
def test_a_larger_weight_never_gets_a_smaller_share(n, ws):
    parts = allocate_largest_remainder(Decimal(n) * CENT, ws)
    for i, wi in enumerate(ws):
        for j, wj in enumerate(ws):
            if wi > wj:
                assert parts[i] >= parts[j]
            if wi == wj:
                assert abs(parts[i] - parts[j]) <= CENT
