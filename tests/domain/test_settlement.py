"""Settlement from the ledger: lines per funder and redeemer, the period's terms, the
statement's invariants, closing and late reversals as adjustments, breakage by policy."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.domain.access.principals import Principal
from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.lifecycle import refund_right
from app.domain.rights.wallet import buy_right
from app.domain.settlement.closing import close_as, close_settlement_period
from app.domain.settlement.periods import Period
from app.domain.settlement.statement import Statement
from app.domain.settlement.statements import compute_open, settlement_statement
from app.domain.settlement.terms import set_group_terms, set_unit_terms
from app.domain.shared.errors import ErrorCode, PermissionDenied
from app.domain.shared.units import find_unit
from tests.conftest import TZ
from tests.helpers import cancel, earn, new_member, raises_code, run_expire_job, spend

JUNE = Period(2026, 6)
FINANCE = Principal(kind="operator", subject="finance-1", roles=frozenset({"finance"}))
OPS = Principal(kind="operator", subject="ops-1", roles=frozenset({"ops"}))


def party(statement: Statement, code: str):
    return next(p for p in statement.parties if p.party == code)


def assert_balanced(statement: Statement) -> None:
    """The invariants every statement keeps."""
    assert sum(p.net_amount for p in statement.parties) == 0
    assert sum(p.receivable_amount for p in statement.parties) == sum(
        p.payable_amount for p in statement.parties
    )
    every = statement.lines + statement.adjustments
    for cell in statement.matrix:
        mine = [x for x in every if (x.funder, x.redeemer) == (cell.funder, cell.redeemer)]
        assert cell.points == sum(x.points for x in mine)
        assert cell.amount == sum(x.amount for x in mine)
    for p in statement.parties:
        for value in (p.payable_amount, p.receivable_amount, p.net_amount, p.breakage_amount):
            assert value == value.quantize(Decimal("0.01"))
        received = sum(x.amount for x in every if x.redeemer == p.party and x.funder != p.party)
        assert p.receivable_amount == received


async def statement_of(uow_factory, period: Period = JUNE) -> Statement:
    async with uow_factory() as uow:
        return await settlement_statement(uow, principal=FINANCE, period=str(period))


async def hotel_member_spends_at(uow_factory, unit: str, points: int, **extra):
    """A member earns 5,000 points at HOTEL (HOTEL funds them) and spends `points` at `unit`."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "2500", unit="HOTEL")
        spent = await spend(uow, member, points, "100000", unit=unit, **extra)
    return member, spent


async def test_points_of_one_unit_redeemed_at_another_are_its_payable_and_the_others_receivable(
    units, uow_factory
):
    await hotel_member_spends_at(uow_factory, "OFFICE", 1000)
    statement = await statement_of(uow_factory)
    hotel, office, group = (party(statement, c) for c in ("HOTEL", "OFFICE", "GROUP"))
    assert (hotel.payable_points, hotel.payable_amount) == (1000, Decimal("10.00"))
    assert (office.receivable_points, office.receivable_amount) == (1000, Decimal("10.00"))
    assert (hotel.net_amount, office.net_amount, group.net_amount) == (
        Decimal("-10.00"),
        Decimal("10.00"),
        Decimal("0.00"),
    )
    assert hotel.issued_points == 5000 and hotel.issued_cost == Decimal("50.00")
    assert hotel.liability_points == 4000 and hotel.liability_amount == Decimal("40.00")
    [line] = statement.lines
    assert (line.funder, line.issuer, line.redeemer, line.kind, line.points) == (
        "HOTEL",
        "HOTEL",
        "OFFICE",
        "REDEMPTION",
        1000,
    )
    assert [(c.funder, c.redeemer, c.points, c.amount) for c in statement.matrix] == [
        ("HOTEL", "OFFICE", 1000, Decimal("10.00"))
    ]
    assert_balanced(statement)


async def test_points_redeemed_in_house_move_no_money(units, uow_factory):
    await hotel_member_spends_at(uow_factory, "HOTEL", 700)
    statement = await statement_of(uow_factory)
    hotel = party(statement, "HOTEL")
    assert hotel.redeemed_in_house_points == 700
    assert (hotel.payable_amount, hotel.receivable_amount, hotel.net_amount) == (0, 0, 0)
    assert statement.matrix[0].amount == 0
    assert_balanced(statement)


async def test_a_billing_percentage_leaves_the_difference_with_the_group(units, uow_factory):
    async with uow_factory() as uow:
        hotel = await find_unit(uow, "HOTEL")
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=hotel.id,
            effective_from=date(2026, 6, 1),
            billing_percentage=Decimal(80),
        )
        # a later percentage is not in effect for June
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=hotel.id,
            effective_from=date(2026, 7, 1),
            billing_percentage=Decimal(50),
        )
    await hotel_member_spends_at(uow_factory, "OFFICE", 1000)
    statement = await statement_of(uow_factory)
    assert party(statement, "HOTEL").payable_amount == Decimal("8.00")
    assert party(statement, "GROUP").payable_amount == Decimal("2.00")
    assert party(statement, "OFFICE").receivable_amount == Decimal("10.00")
    assert_balanced(statement)


async def test_a_redeemer_price_override_and_cents_that_add_up(units, uow_factory):
    async with uow_factory() as uow:
        office = await find_unit(uow, "OFFICE")
        await set_group_terms(
            uow,
            actor="finance:test",
            effective_from=date(2026, 1, 1),
            clearing_price=Decimal("0.0133"),
            breakage_policy="GROUP",
        )
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=office.id,
            effective_from=date(2026, 1, 1),
            clearing_price=Decimal("0.011111"),
        )
    for unit in ("OFFICE", "PROPERTY", "OFFICE"):
        await hotel_member_spends_at(uow_factory, unit, 300)
    async with uow_factory() as uow:
        member = await new_member(uow, "OFFICE")
        await earn(uow, member, "1000", unit="OFFICE")
        await spend(uow, member, 500, "100000", unit="PROPERTY")
    statement = await statement_of(uow_factory)
    # OFFICE: 600 points x 0.011111 = 6.6666 -> 6.67; PROPERTY: 800 x 0.0133 = 10.64
    assert party(statement, "OFFICE").receivable_amount == Decimal("6.67")
    assert party(statement, "PROPERTY").receivable_amount == Decimal("10.64")
    assert_balanced(statement)


async def test_a_cancelled_spend_is_the_opposite_line(units, uow_factory):
    _, spent = await hotel_member_spends_at(uow_factory, "OFFICE", 1000)
    async with uow_factory() as uow:
        await cancel(uow, spent.id)
    statement = await statement_of(uow_factory)
    kinds = sorted((x.kind, x.points, x.amount) for x in statement.lines)
    assert kinds == [("REDEMPTION", 1000, Decimal("10.00")), ("REVERSAL", -1000, Decimal("-10.00"))]
    assert all(p.net_amount == 0 for p in statement.parties)
    assert party(statement, "HOTEL").liability_points == 5000
    assert_balanced(statement)


async def test_a_closed_period_never_changes_and_a_late_cancel_is_next_periods_adjustment(
    units, uow_factory, clock
):
    _, spent = await hotel_member_spends_at(uow_factory, "OFFICE", 1000)
    clock.advance(days=20)  # July 5th
    async with uow_factory() as uow:
        closed = await close_as(uow, principal=FINANCE, period="2026-06")
    assert closed.status == "CLOSED" and closed.closed_at == clock.now
    async with uow_factory() as uow:
        await cancel(uow, spent.id)
        again = await close_settlement_period(uow, period="2026-06", actor="finance:2")
    assert again == closed
    june = await statement_of(uow_factory)
    assert june == closed
    assert party(june, "OFFICE").receivable_amount == Decimal("10.00")
    july = await statement_of(uow_factory, Period(2026, 7))
    assert july.status == "OPEN" and july.lines == []
    [adjustment] = july.adjustments
    assert (adjustment.kind, adjustment.points, adjustment.amount) == (
        "ADJUSTMENT",
        -1000,
        Decimal("-10.00"),
    )
    assert adjustment.original_transaction_id == spent.id
    assert adjustment.original_period == "2026-06"
    assert party(july, "OFFICE").net_amount == Decimal("-10.00")
    assert_balanced(july)


async def test_closing_needs_a_period_that_is_over_and_finance(units, uow_factory, clock):
    async with uow_factory() as uow:
        with raises_code(ErrorCode.INVALID_INPUT, "period"):
            await close_settlement_period(uow, period="2026-06", actor="finance:1")
        with pytest.raises(PermissionDenied):
            await close_as(uow, principal=OPS, period="2026-05")
    clock.now = JUNE.end(TZ) - timedelta(seconds=1)
    async with uow_factory() as uow:
        with raises_code(ErrorCode.INVALID_INPUT, "period"):
            await close_settlement_period(uow, period="2026-06", actor="finance:1")


@pytest.mark.parametrize("text", ["2026-13", "abc", "2026-6", "", "1999-12", "2026-00"])
async def test_a_malformed_period_is_invalid_input(units, uow_factory, text):
    async with uow_factory() as uow:
        with raises_code(ErrorCode.INVALID_INPUT, "period"):
            await settlement_statement(uow, principal=FINANCE, period=text)


@pytest.mark.parametrize(("policy", "hotel", "group"), [("GROUP", 0, 1000), ("FUNDERS", 1000, 0)])
async def test_breakage_stays_with_the_group_or_goes_back_to_the_funders(
    units, uow_factory, clock, policy, hotel, group
):
    async with uow_factory() as uow:
        await set_group_terms(
            uow,
            actor="finance:test",
            effective_from=date(2020, 1, 1),
            clearing_price=Decimal("0.01"),
            breakage_policy=policy,
        )
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "500", unit="HOTEL")
    clock.advance(days=400)  # the points (12 months) have expired by then
    await run_expire_job(uow_factory)
    statement = await statement_of(uow_factory, Period.of(clock.now, TZ))
    assert party(statement, "HOTEL").breakage_points == hotel
    assert party(statement, "GROUP").breakage_points == group
    keeper = "GROUP" if policy == "GROUP" else "HOTEL"
    assert party(statement, keeper).breakage_amount == Decimal("10.00")
    assert party(statement, "HOTEL").liability_points == 0
    assert_balanced(statement)


async def test_a_unit_key_sees_its_own_party_only(units, uow_factory):
    await hotel_member_spends_at(uow_factory, "OFFICE", 1000)
    async with uow_factory() as uow:
        office = await find_unit(uow, "OFFICE")
        key = Principal(
            kind="partner", subject="k", unit_id=office.id, scopes=frozenset({"settlement"})
        )
        own = await settlement_statement(uow, principal=key, period="2026-06")
        assert [p.party for p in own.parties] == ["OFFICE"]
        assert [(c.funder, c.redeemer) for c in own.matrix] == [("HOTEL", "OFFICE")]
        with pytest.raises(PermissionDenied):
            await settlement_statement(uow, principal=key, period="2026-06", business_unit="HOTEL")
        unscoped = Principal(kind="partner", subject="k", unit_id=office.id, scopes=frozenset())
        with pytest.raises(PermissionDenied):
            await settlement_statement(uow, principal=unscoped, period="2026-06")


async def test_an_open_statement_is_the_live_one_and_round_trips_through_json(units, uow_factory):
    await hotel_member_spends_at(uow_factory, "OFFICE", 1000, merchant=None)
    async with uow_factory() as uow:
        live = await compute_open(uow, JUNE)
    assert Statement.from_json(live.to_json()) == live


async def test_a_right_bought_with_points_is_a_line_to_its_provider_and_its_return_the_opposite(
    units, uow_factory
):
    """Another kind of redemption, the same line source: nothing in settlement names it."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "2500", unit="HOTEL")
        spec = RightSpec("TOURISM", "Ticket", "TICKET", 30, points_price=300, refundable=True)
        right = await create_right(uow, spec=spec, actor="ops:test")
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    statement = await statement_of(uow_factory)
    [line] = statement.lines
    assert (line.funder, line.redeemer, line.points, line.amount) == (
        "HOTEL",
        "TOURISM",
        300,
        Decimal("3.00"),
    )
    async with uow_factory() as uow:
        await refund_right(uow, member_right_id=held.id, caller="test", member_id=member)
    statement = await statement_of(uow_factory)
    assert sorted(x.points for x in statement.lines) == [-300, 300]
    assert party(statement, "TOURISM").receivable_amount == 0
    assert_balanced(statement)


async def test_a_tenants_redemption_is_the_malls_line_at_merchant_level(units, uow_factory):
    await hotel_member_spends_at(uow_factory, "MALL", 500, merchant="M001")
    await hotel_member_spends_at(uow_factory, "MALL", 300)
    statement = await statement_of(uow_factory)
    lines = sorted((x.redeemer, x.merchant or "", x.points) for x in statement.lines)
    assert lines == [("MALL", "", 300), ("MALL", "M001", 500)]
    assert party(statement, "MALL").receivable_amount == Decimal("8.00")
    assert [(c.redeemer, c.points) for c in statement.matrix] == [("MALL", 800)]
    assert_balanced(statement)


async def test_a_cancel_after_the_points_expired_is_the_opposite_line_from_the_lot_made_again(
    units, uow_factory, clock
):
    _, spent = await hotel_member_spends_at(uow_factory, "OFFICE", 1000)
    clock.advance(days=400)  # the spent lot has expired meanwhile
    async with uow_factory() as uow:
        await cancel(uow, spent.id)
    later = await statement_of(uow_factory, Period.of(clock.now, TZ))
    [line] = later.lines
    assert (line.funder, line.redeemer, line.kind, line.points, line.amount) == (
        "HOTEL",
        "OFFICE",
        "REVERSAL",
        -1000,
        Decimal("-10.00"),
    )
    assert (line.original_transaction_id, line.original_period) == (spent.id, "2026-06")
    assert_balanced(later)


async def test_points_the_marketing_budget_funded_are_paid_by_the_group_in_full(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        earned = await earn(uow, member, "2500", unit="HOTEL")
        # as a campaign funded by the group would have made the lot
        await uow.session.execute(
            text("UPDATE points_lots SET funder_unit_id = NULL WHERE transaction_id = :tx"),
            {"tx": earned.id},
        )
        hotel = await find_unit(uow, "HOTEL")
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=hotel.id,
            effective_from=date(2026, 1, 1),
            billing_percentage=Decimal(50),
        )
        await spend(uow, member, 1000, "100000", unit="HOTEL")
    statement = await statement_of(uow_factory)
    group, hotel_row = party(statement, "GROUP"), party(statement, "HOTEL")
    assert (group.payable_points, group.payable_amount) == (1000, Decimal("10.00"))
    assert (hotel_row.receivable_amount, hotel_row.net_amount) == (Decimal("10.00"),) * 2
    assert group.issued_points == 5000 and hotel_row.issued_points == 0
    assert_balanced(statement)


async def test_the_points_outstanding_are_carried_from_the_closed_previous_period(
    units, uow_factory, clock
):
    """With May closed, June's outstanding points are May's stored ones plus June's movements:
    the same as summed over all history, party by party."""
    from app.domain.settlement.lines import read_figures
    from tests.helpers import refund

    june_now = clock.now
    clock.now = june_now - timedelta(days=30)  # May 16th
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        earned = await earn(uow, member, "2500", unit="HOTEL")
        may_spend = await spend(uow, member, 1000, "100000", unit="OFFICE")
        await earn(uow, member, "300", unit="OFFICE")
    clock.now = june_now
    async with uow_factory() as uow:
        await close_settlement_period(uow, period="2026-05", actor="finance:1")
    async with uow_factory() as uow:
        await cancel(uow, may_spend.id)  # an adjustment of May, booked in June
        await refund(uow, earned.id, "500")
        await spend(uow, member, 700, "100000", unit="MALL")
    async with uow_factory() as uow:
        start, end = JUNE.start(TZ), JUNE.end(TZ)
        may = await compute_open(uow, Period(2026, 5))
        opening = {p.business_unit_id or 0: p.liability_points for p in may.parties}
        carried = await read_figures(uow, start, end, opening)
        summed = await read_figures(uow, start, end)
        assert {k: v for k, v in carried.outstanding.items() if v} == {
            k: v for k, v in summed.outstanding.items() if v
        }
        june = await compute_open(uow, JUNE)
        balance = await uow.session.scalar(
            text("SELECT available + pending + debt FROM member_balances WHERE member_id = :m"),
            {"m": member},
        )
    assert sum(p.liability_points for p in june.parties) == balance
    assert len(june.adjustments) == 1 and party(june, "HOTEL").taken_back_points == 1000
