"""The journal for the general ledger keeps the contract liability whole under a redeemer's
price override: what was deferred less what was released, taken back and broken is, to the
cent, the liability the statement says is outstanding; the override is an intercompany price
difference, and every entry balances."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from app.domain.settlement.exports import (
    LIABILITY,
    PAYABLE,
    PRICE_DIFFERENCE,
    statement_journal,
)
from app.domain.settlement.periods import Period
from app.domain.settlement.statement import Statement
from app.domain.settlement.terms import set_group_terms, set_unit_terms
from app.domain.shared.units import find_unit
from tests.conftest import TZ
from tests.domain.test_settlement import FINANCE, assert_balanced, party
from tests.helpers import cancel, earn, new_member, refund, run_expire_job, spend

JUNE = Period(2026, 6)


def liability_booked(statements: list[Statement]) -> dict[str, Decimal]:
    """Per party, the contract liability the journals leave: credits less debits."""
    booked: dict[str, Decimal] = defaultdict(Decimal)
    for statement in statements:
        for entry in statement_journal(statement):
            if entry.account == LIABILITY:
                booked[entry.party] += entry.credit - entry.debit
    return booked


def assert_entries_balance(statement: Statement) -> None:
    journal = statement_journal(statement)
    assert sum(e.debit for e in journal) == sum(e.credit for e in journal)
    for e in journal:
        assert e.debit >= 0 and e.credit >= 0 and (e.debit == 0) != (e.credit == 0)
        assert e.debit == e.debit.quantize(Decimal("0.01"))


async def statement_of(uow_factory, period: Period) -> Statement:
    from app.domain.settlement.statements import settlement_statement

    async with uow_factory() as uow:
        return await settlement_statement(uow, principal=FINANCE, period=str(period))


@pytest.mark.parametrize("policy", ["FUNDERS", "GROUP"])
async def test_deferred_less_released_taken_back_and_breakage_is_the_outstanding_liability(
    units, uow_factory, clock, policy
):
    async with uow_factory() as uow:
        await set_group_terms(
            uow,
            actor="finance:test",
            effective_from=date(2020, 1, 1),
            clearing_price=Decimal("0.01"),
            breakage_policy=policy,
        )
        office = await find_unit(uow, "OFFICE")
        hotel = await find_unit(uow, "HOTEL")
        # OFFICE gives more per point than the group's price; HOTEL is billed 90%
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=office.id,
            effective_from=date(2020, 1, 1),
            clearing_price=Decimal("0.0133"),
        )
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=hotel.id,
            effective_from=date(2020, 1, 1),
            billing_percentage=Decimal(90),
        )
        member = await new_member(uow, "HOTEL")
        kept = await earn(uow, member, "2500", unit="HOTEL")  # 5,000 HOTEL points
        refunded = await earn(uow, member, "400", unit="OFFICE")  # OFFICE points
        await spend(uow, member, 1100, "100000", unit="OFFICE")  # at 0.0133: 14.63
        in_house = await spend(uow, member, 300, "100000", unit="HOTEL")
        await spend(uow, member, 200, "100000", unit="MALL")
    async with uow_factory() as uow:
        await cancel(uow, in_house.id)
        await refund(uow, refunded.id, "100")  # part of OFFICE's points taken back
    june = await statement_of(uow_factory, JUNE)
    assert kept.points == 5000
    hotel_june = party(june, "HOTEL")
    assert hotel_june.payable_points > 0 and party(june, "OFFICE").taken_back_points > 0
    journal = statement_journal(june)
    difference = [e for e in journal if e.account == PRICE_DIFFERENCE]
    # the override: 1,100 points cleared at 14.63 against 11.00 deferred, borne by their funder
    assert sum(e.debit - e.credit for e in difference) == Decimal("3.63")
    payable = sum(e.credit - e.debit for e in journal if e.account == PAYABLE)
    assert payable == sum(p.payable_amount for p in june.parties)

    clock.advance(days=400)  # the rest expires: breakage, by the policy
    await run_expire_job(uow_factory)
    later = await statement_of(uow_factory, Period.of(clock.now, TZ))
    assert sum(p.breakage_points for p in later.parties) > 0
    for statement in (june, later):
        assert_balanced(statement)
        assert_entries_balance(statement)
    # nothing happened in the months between: June's and the expiry month's journals are all
    booked = liability_booked([june, later])
    outstanding = {p.party: p.liability_amount for p in later.parties}
    assert sum(booked.values()) == sum(outstanding.values())  # the group's books
    at_june = liability_booked([june])
    assert sum(at_june.values()) == sum(p.liability_amount for p in june.parties)
    if policy == "FUNDERS":  # each keeps its own breakage: each party's books too
        assert {k: v for k, v in booked.items() if v} == {k: v for k, v in outstanding.items() if v}
    assert {k: v for k, v in at_june.items() if v} == {
        p.party: p.liability_amount for p in june.parties if p.liability_amount
    }
