"""Ledger primitives without a database: balanced postings, debt repayment, references."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ledger.accounts import (
    GROUP,
    Account,
    LotState,
    balanced,
    debt_payments,
    funder_account,
    member_account,
)
from app.domain.shared.errors import ErrorCode
from app.domain.till.orders import order_reference
from tests.rules.builders import lot, refused, untimed

accounts = st.sampled_from(list(Account))
legs = st.lists(st.tuples(accounts, st.integers(0, 5), st.integers(-10_000, 10_000)), max_size=12)


def _zero_sum(drawn: list[tuple[Account, int, int]]) -> list[tuple[Account, int, int]]:
    """`drawn` plus one leg that brings the total back to zero."""
    return [*drawn, (Account.ISSUED, GROUP, -sum(points for _, _, points in drawn))]


@untimed
@given(legs)
def test_balanced_merges_legs_per_account(drawn):
    legs_ = _zero_sum(drawn)
    expected: dict[tuple[Account, int], int] = defaultdict(int)
    for account, owner, points in legs_:
        expected[(account, owner)] += points
    merged = balanced(legs_)
    assert merged == dict(expected)
    assert sum(merged.values()) == 0


@untimed
@given(legs, st.integers(-10_000, 10_000).filter(lambda n: n != 0))
def test_balanced_refuses_legs_that_do_not_sum_to_zero(drawn, off):
    legs_ = [*_zero_sum(drawn), (Account.BREAKAGE, 1, off)]
    with pytest.raises(AssertionError, match="unbalanced"):
        balanced(legs_)


def test_balanced_examples():
    member, unit = 7, 1
    earn = [(Account.MEMBER_AVAILABLE, member, 120), (Account.ISSUED, unit, -120)]
    assert balanced(earn) == {(Account.MEMBER_AVAILABLE, member): 120, (Account.ISSUED, unit): -120}
    # two legs on one account merge; the same kind for another owner stays apart
    split = [
        (Account.MEMBER_AVAILABLE, member, 100),
        (Account.MEMBER_AVAILABLE, member, 20),
        (Account.ISSUED, unit, -100),
        (Account.ISSUED, GROUP, -20),
    ]
    assert balanced(split) == {
        (Account.MEMBER_AVAILABLE, member): 120,
        (Account.ISSUED, unit): -100,
        (Account.ISSUED, GROUP): -20,
    }
    assert balanced([]) == {}
    with pytest.raises(AssertionError):
        balanced([(Account.MEMBER_AVAILABLE, member, 1)])


lot_specs = st.lists(
    st.tuples(st.integers(0, 500), st.sampled_from([LotState.AVAILABLE, LotState.PENDING])),
    max_size=10,
)


@untimed
@given(st.integers(0, 3_000), lot_specs)
def test_debt_payments_take_available_points_in_order_until_paid(debt, specs):
    lots = [lot(i, remaining, state) for i, (remaining, state) in enumerate(specs, start=1)]
    payments = debt_payments(debt, lots)

    # a simple model: walk the lots in order, paying from each available one with points left
    expected, left = [], debt
    for candidate in lots:
        if left and candidate.state == LotState.AVAILABLE and candidate.remaining:
            expected.append((candidate.id, min(left, candidate.remaining)))
            left -= expected[-1][1]
    assert [(paying.id, paid) for paying, paid in payments] == expected

    available = sum(x.remaining for x in lots if x.state == LotState.AVAILABLE)
    assert sum(paid for _, paid in payments) == min(debt, available)
    for paying, paid in payments:
        assert paying.state == LotState.AVAILABLE
        assert 0 < paid <= paying.remaining
    # every lot but the last one paying is emptied
    assert all(paid == paying.remaining for paying, paid in payments[:-1])


def test_debt_payments_leave_the_lots_untouched():
    lots = [lot(1, 30), lot(2, 50)]
    assert [(x.id, paid) for x, paid in debt_payments(60, lots)] == [(1, 30), (2, 30)]
    assert [x.remaining for x in lots] == [30, 50]


def test_debt_payments_examples():
    lots = [lot(1, 0), lot(2, 40, LotState.PENDING), lot(3, 25), lot(4, 100)]
    assert [(x.id, paid) for x, paid in debt_payments(50, lots)] == [(3, 25), (4, 25)]
    assert debt_payments(0, lots) == []
    assert debt_payments(10, []) == []
    # a debt larger than the available points takes them all and leaves the rest owed
    assert [(x.id, paid) for x, paid in debt_payments(500, lots)] == [(3, 25), (4, 100)]


@pytest.mark.parametrize("debt", [-1, -50, True, 1.5, None])
def test_debt_payments_refuse_a_debt_that_is_not_a_whole_number_of_points(debt):
    # a negative debt would "pay" negative points, i.e. add them to the lots
    with pytest.raises(AssertionError, match="debt"):
        debt_payments(debt, [lot(1, 30), lot(2, 50)])


def test_member_account_by_lot_state():
    assert member_account(LotState.PENDING) == Account.MEMBER_PENDING
    assert member_account(LotState.AVAILABLE) == Account.MEMBER_AVAILABLE


def test_funder_account_is_the_unit_or_the_group():
    assert funder_account(None) == GROUP
    assert funder_account(3) == 3


@pytest.mark.parametrize(
    ("raw", "expected"), [("A-1", "A-1"), ("  A-1 \t", "A-1"), ("x" * 64,) * 2]
)
def test_order_reference_is_trimmed(raw, expected):
    assert order_reference(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", None, "x" * 65])
def test_order_reference_refuses_empty_or_long(raw):
    with refused(ErrorCode.INVALID_INPUT, "orderRef"):
        order_reference(raw)
