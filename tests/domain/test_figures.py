"""The figures against a small history computed by hand (docs/figures.md has the definitions).

The history (group time Asia/Shanghai; settlement's clearing price 0.01 CNY a point from
2025-01-01, 0.015 from 2026-06-01; HOTEL earns 2 points per CNY at 0.01 CNY a point,
OFFICE 1 at 0.01, CONVENIENCE 1 at 0.03):
- 2025-05-20: C earns 50 CNY at HOTEL: 100 points (cost 1.00);
- 2026-06-02: the expiry job expires C's 100 points;
- 2026-06-15: A earns 1000 CNY at HOTEL (2000 points, cost 20.00) and spends 500 points there,
  and earns 200 CNY at OFFICE (200, cost 2.00); B earns 300 CNY at OFFICE (300, cost 3.00),
  has 150 CNY of it refunded (150 points taken back, cost 1.50), and earns 100 CNY at
  CONVENIENCE (100, cost 3.00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from app.domain.access.principals import Principal
from app.domain.figures import audience, expiring, referrals
from app.domain.figures.audience import Segment, segment_of, shares
from app.domain.figures.periods import parse_period
from app.domain.figures.programme import CostBand, programme_figures
from app.domain.figures.summary import refresh_figures, verify_figures
from app.domain.settlement.closing import close_settlement_period
from app.domain.settlement.periods import Period as SettlementPeriod
from app.domain.settlement.statements import compute_open, settlement_statement
from app.domain.settlement.terms import set_group_terms, set_unit_terms
from app.domain.shared.errors import ErrorCode
from app.models import Member
from tests.helpers import earn, new_member, raises_code, refund, run_expire_job, spend

D = Decimal
BAND = CostBand(low=D("0.03"), high=D("0.05"))
JUNE = parse_period("2026-06")
JUNE_S = SettlementPeriod(2026, 6)
FINANCE = Principal(kind="operator", subject="finance-1", roles=frozenset({"finance"}))


async def _price_from(uow_factory, day: date, price: str, rate: str | None = None) -> None:
    async with uow_factory() as uow:
        await set_group_terms(
            uow,
            actor="finance:test",
            effective_from=day,
            clearing_price=D(price),
            breakage_policy="GROUP",
            breakage_rate=None if rate is None else D(rate),
        )


async def _history(uow_factory, clock, units) -> dict[str, int]:
    clock.now = datetime(2025, 5, 20, 4, 0, tzinfo=UTC)
    await _price_from(uow_factory, date(2025, 1, 1), "0.01")
    await _price_from(uow_factory, date(2026, 6, 1), "0.015")
    async with uow_factory() as uow:
        c = await new_member(uow, "HOTEL")
        await earn(uow, c, "50", "HOTEL")
    clock.now = datetime(2026, 6, 2, 4, 0, tzinfo=UTC)
    assert len(await run_expire_job(uow_factory)) == 1
    clock.now = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
    async with uow_factory() as uow:
        a = await new_member(uow, "HOTEL")
        b = await new_member(uow, "OFFICE")
        await earn(uow, a, "1000", "HOTEL")
        await spend(uow, a, 500, "100", "HOTEL")
        await earn(uow, a, "200", "OFFICE")
        bought = await earn(uow, b, "300", "OFFICE")
        await earn(uow, b, "100", "CONVENIENCE")
    async with uow_factory() as uow:
        await refund(uow, bought.id, "150")
    clock.now = datetime(2026, 6, 15, 4, 1, tzinfo=UTC)
    async with uow_factory() as uow:
        await refresh_figures(uow)
    return {"A": a, "B": b, "C": c}


async def _figures(uow_factory, period, unit_id=None):
    async with uow_factory() as uow:
        return await programme_figures(uow, parse_period(period), unit_id=unit_id, band=BAND)


async def test_group_figures_of_june(units, uow_factory, clock):
    await _history(uow_factory, clock, units)
    f = await _figures(uow_factory, "2026-06")
    assert (f.issued_points, f.redeemed_points, f.expired_points) == (2450, 500, 100)
    assert (f.redemption_rate, f.breakage_rate) == (D("0.2041"), D("0.0408"))
    assert f.liability_points == 1950  # A 1500 + 200, B 150 + 100
    assert f.liability_amount == D("29.25")  # 1950 x 0.015, settlement's price for June
    assert f.liability_cost == D("21.50")  # 1500 x 0.01 + 200 x 0.01 + 150 x 0.01 + 100 x 0.03
    assert (f.sales, f.points_cost) == (D("1450.00"), D("26.50"))
    assert f.points_cost_share_of_sales == D("0.0183")
    assert f.cost_share_alert is True  # below 3 %
    assert f.active_members == 2  # A and B; C only expired
    assert f.as_of == datetime(2026, 6, 15, 4, 1, tzinfo=UTC)


async def test_each_unit_and_the_group_agree(units, uow_factory, clock):
    await _history(uow_factory, clock, units)
    hotel = await _figures(uow_factory, "2026-06", units["HOTEL"])
    assert (hotel.issued_points, hotel.redeemed_points, hotel.expired_points) == (2000, 500, 100)
    assert (hotel.liability_points, hotel.sales, hotel.points_cost) == (
        1500,
        D("1000.00"),
        D("20.00"),
    )
    assert (hotel.points_cost_share_of_sales, hotel.cost_share_alert) == (D("0.0200"), True)
    assert hotel.active_members == 1
    office = await _figures(uow_factory, "2026-06", units["OFFICE"])
    assert (office.issued_points, office.liability_points, office.sales) == (350, 350, D("350.00"))
    assert (office.points_cost, office.active_members) == (D("3.50"), 2)
    store = await _figures(uow_factory, "2026-06", units["CONVENIENCE"])
    assert (store.points_cost_share_of_sales, store.cost_share_alert) == (D("0.0300"), False)
    group = await _figures(uow_factory, "2026-06")
    per_unit = [await _figures(uow_factory, "2026-06", unit) for unit in units.values()]
    for name in ("issued_points", "redeemed_points", "expired_points", "liability_points"):
        assert sum(getattr(f, name) for f in per_unit) == getattr(group, name)
        assert all(getattr(f, name) <= getattr(group, name) for f in per_unit)
    assert sum(f.sales for f in per_unit) == group.sales
    assert sum(f.points_cost for f in per_unit) == group.points_cost


async def test_other_periods(units, uow_factory, clock):
    await _history(uow_factory, clock, units)
    may_2025 = await _figures(uow_factory, "2025-05", units["HOTEL"])
    assert (may_2025.issued_points, may_2025.sales, may_2025.liability_points) == (
        100,
        D("50.00"),
        100,
    )
    may = await _figures(uow_factory, "2026-05")
    assert (may.issued_points, may.redemption_rate, may.breakage_rate) == (0, None, None)
    assert may.liability_points == 100  # C's points expire only in June
    assert may.liability_amount == D("1.00")  # at May's price, 0.01
    assert (may.points_cost_share_of_sales, may.cost_share_alert) == (None, False)
    year = await _figures(uow_factory, "2026")
    assert (year.issued_points, year.liability_points, year.active_members) == (2450, 1950, 2)


async def _statement_liability(uow_factory, period: SettlementPeriod) -> tuple[int, D]:
    async with uow_factory() as uow:
        statement = await settlement_statement(uow, principal=FINANCE, period=str(period))
    return (
        sum(p.liability_points for p in statement.parties),
        sum((p.liability_amount for p in statement.parties), D(0)),
    )


async def test_the_liability_in_cny_is_the_settlement_statements(units, uow_factory, clock):
    members = await _history(uow_factory, clock, units)
    async with uow_factory() as uow:  # prices a point redeemed at HOTEL, not one outstanding
        await set_unit_terms(
            uow,
            actor="finance:test",
            unit_id=units["HOTEL"],
            effective_from=date(2026, 6, 1),
            clearing_price=D("0.05"),
        )
    for label, period in (("2026-05", SettlementPeriod(2026, 5)), ("2026-06", JUNE_S)):
        f = await _figures(uow_factory, label)
        assert (f.liability_points, f.liability_amount) == await _statement_liability(
            uow_factory, period
        )
    assert (await _figures(uow_factory, "2026-06")).liability_amount == D("29.25")
    # A year's liability is at its end: at December's terms, as December's statement.
    assert (await _figures(uow_factory, "2026")).liability_amount == D("29.25")

    # Closed, June keeps the price it closed with, even when June's terms are changed later.
    clock.now = datetime(2026, 7, 2, 4, 0, tzinfo=UTC)
    async with uow_factory() as uow:
        await close_settlement_period(uow, period="2026-06", actor="finance:1")
    await _price_from(uow_factory, date(2026, 6, 1), "0.02")
    june = await _figures(uow_factory, "2026-06")
    assert (june.liability_points, june.liability_amount) == await _statement_liability(
        uow_factory, JUNE_S
    )
    assert june.liability_amount == D("29.25")
    async with uow_factory() as uow:  # the open months take the new price
        assert (await compute_open(uow, SettlementPeriod(2026, 12))).clearing_price == D("0.02")
    assert (await _figures(uow_factory, "2026")).liability_amount == D("39.00")  # 1950 x 0.02

    # From July a breakage rate of 20 % is in force: each point redeemed recognises 0.2 / 0.8
    # of its value as breakage ahead of expiry (the advance), which the liability nets off.
    await _price_from(uow_factory, date(2026, 7, 1), "0.02", rate="0.2")
    async with uow_factory() as uow:
        await spend(uow, members["A"], 200, "40", "HOTEL")  # HOTEL's points, redeemed there
    clock.now = datetime(2026, 7, 2, 4, 1, tzinfo=UTC)
    async with uow_factory() as uow:
        await refresh_figures(uow)
    july_s = SettlementPeriod(2026, 7)
    for closed in (False, True):  # computed while July is open, then read as stored
        july = await _figures(uow_factory, "2026-07")
        assert (july.liability_points, july.liability_amount) == await _statement_liability(
            uow_factory, july_s
        )
        assert july.liability_amount == D("34.00")  # 1750 x 0.02 less 200 x 0.02 x 0.25
        hotel = await _figures(uow_factory, "2026-07", units["HOTEL"])
        assert hotel.liability_amount == D("25.00")  # 1300 x 0.02 less its advance, 1.00
        office = await _figures(uow_factory, "2026-07", units["OFFICE"])
        assert office.liability_amount == D("7.00")  # 350 x 0.02: it funded no redemption
        # the advance is carried to the year's end: December's statement nets it too
        year = await _figures(uow_factory, "2026")
        assert (year.liability_points, year.liability_amount) == (1750, D("34.00"))
        assert (year.liability_points, year.liability_amount) == await _statement_liability(
            uow_factory, SettlementPeriod(2026, 12)
        )
        if not closed:
            clock.now = datetime(2026, 8, 2, 4, 0, tzinfo=UTC)
            async with uow_factory() as uow:
                await close_settlement_period(uow, period="2026-07", actor="finance:1")


@pytest.mark.parametrize("bad", ["2026-13", "26-01", "2026-6", "June", "", "1999", "2026-00"])
def test_a_bad_period_is_invalid_input(bad):
    with raises_code(ErrorCode.INVALID_INPUT, "period"):
        parse_period(bad)


async def test_format_overlap(units, uow_factory, clock):
    await _history(uow_factory, clock, units)
    async with uow_factory() as uow:
        cells = await audience.format_overlap(uow, JUNE, list(units.values()))
    code = {unit_id: c for c, unit_id in units.items()}
    found = {(code[c.unit_a], code[c.unit_b]): c.members for c in cells if c.members}
    assert len(cells) == 15  # every pair of six units
    assert found == {("HOTEL", "OFFICE"): 1, ("OFFICE", "CONVENIENCE"): 1}


async def test_format_overlap_of_a_member_at_three_units_and_of_the_year(units, uow_factory, clock):
    await _history(uow_factory, clock, units)
    async with uow_factory() as uow:
        d = await new_member(uow, "HOTEL")
        for unit in ("HOTEL", "OFFICE", "CONVENIENCE"):
            await earn(uow, d, "10", unit)
    clock.advance(minutes=1)
    async with uow_factory() as uow:
        await refresh_figures(uow)
    code = {unit_id: c for c, unit_id in units.items()}
    expected = {
        ("HOTEL", "OFFICE"): 2,  # A and D
        ("OFFICE", "CONVENIENCE"): 2,  # B and D
        ("HOTEL", "CONVENIENCE"): 1,  # D
    }
    async with uow_factory() as uow:
        for period in (JUNE, parse_period("2026")):  # both kept by the refresh
            cells = await audience.format_overlap(uow, period, list(units.values()))
            found = {(code[c.unit_a], code[c.unit_b]): c.members for c in cells if c.members}
            assert (len(cells), found) == (15, expected), period
        computed = await audience._live_overlap(uow, JUNE.start, JUNE.end)
        assert {(code[a], code[b]): n for (a, b), n in computed.items()} == expected
        assert await verify_figures(uow) == []


async def test_the_summary_agrees_with_the_ledger_and_catches_drift(units, uow_factory, clock):
    ids = await _history(uow_factory, clock, units)
    async with uow_factory() as uow:
        assert await verify_figures(uow) == []
    clock.advance(hours=1)  # more history, then an incremental refresh
    async with uow_factory() as uow:
        await earn(uow, ids["C"], "10", "HOTEL")
    clock.advance(minutes=1)
    async with uow_factory() as uow:
        done = await refresh_figures(uow)
        assert done.from_day is not None  # not a rebuild
        assert await verify_figures(uow) == []
    assert (await _figures(uow_factory, "2026-06")).issued_points == 2470
    async with uow_factory() as uow:
        incremental = await _tables(uow)
        await refresh_figures(uow, full=True)
        assert await _tables(uow) == incremental
        await uow.session.execute(text("UPDATE figure_unit_days SET sales = sales + 1"))
        problems = await verify_figures(uow)
    assert problems and all("figure_unit_days" in p for p in problems)


async def _tables(uow):
    rows = {}
    for table in ("figure_unit_days", "figure_member_months"):
        result = await uow.session.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))
        rows[table] = [tuple(row) for row in result]
    return rows


async def test_a_transaction_recorded_late_with_an_earlier_time_is_refreshed(
    units, uow_factory, clock
):
    ids = await _history(uow_factory, clock, units)
    async with uow_factory(datetime(2026, 6, 10, 4, 0, tzinfo=UTC)) as uow:  # days before
        await earn(uow, ids["B"], "50", "OFFICE")
    async with uow_factory() as uow:
        await refresh_figures(uow)
        assert await verify_figures(uow) == []
    assert (await _figures(uow_factory, "2026-06", units["OFFICE"])).sales == D("400.00")


def test_segment_names():
    assert segment_of(5, 5, 5) is Segment.CHAMPIONS
    assert segment_of(4, 4, 4) is Segment.CHAMPIONS
    assert segment_of(4, 3, 3) is Segment.LOYAL
    assert segment_of(3, 5, 1) is Segment.LOYAL
    assert segment_of(5, 1, 1) is Segment.PROMISING
    assert segment_of(3, 2, 2) is Segment.NEEDS_ATTENTION
    assert segment_of(1, 5, 5) is Segment.AT_RISK
    assert segment_of(2, 2, 3) is Segment.HIBERNATING


def test_shares_sum_to_one_by_largest_remainder():
    assert shares([1, 1, 1]) == [D("0.3334"), D("0.3333"), D("0.3333")]
    assert sum(shares([2, 3, 7, 0, 11, 13])) == 1
    assert shares([0, 0]) == [D(0), D(0)]


async def test_member_segments(units, uow_factory, clock):
    """Member i (1-5) visits on i days of June 2026, 100 CNY each, the last on day i: each
    scores i on recency, frequency and monetary."""
    async with uow_factory() as uow:
        members = [await new_member(uow, "OFFICE") for _ in range(5)]
    for i, member in enumerate(members, start=1):
        for day in range(1, i + 1):
            async with uow_factory(datetime(2026, 6, day, 4, 0, tzinfo=UTC)) as uow:
                await earn(uow, member, "100", "OFFICE")
    async with uow_factory(datetime(2026, 7, 1, tzinfo=UTC)) as uow:
        await refresh_figures(uow)
        found = await audience.member_segments(uow, JUNE)
        earlier = await audience.member_segments(uow, parse_period("2025-06"))
    counts = {s.segment: (s.members, s.share) for s in found}
    assert list(counts) == list(Segment)
    assert counts[Segment.CHAMPIONS] == (2, D("0.4000"))
    assert counts[Segment.LOYAL] == (1, D("0.2000"))
    assert counts[Segment.HIBERNATING] == (2, D("0.4000"))
    assert sum(s.share for s in found) == 1
    assert all(s.members == 0 for s in earlier)  # a window before any visit


async def test_referral_stats(units, uow_factory, clock):
    async with uow_factory(datetime(2026, 5, 1, tzinfo=UTC)) as uow:
        r1 = await new_member(uow, "OFFICE")
        r2 = await new_member(uow, "OFFICE")
        codes = dict((await uow.session.execute(select(Member.id, Member.referral_code))).all())
    async with uow_factory() as uow:  # June
        x = await new_member(uow, "OFFICE", referral_code=codes[r1])
        await new_member(uow, "OFFICE", referral_code=codes[r1])  # never buys
        z = await new_member(uow, "OFFICE", referral_code=codes[r2])
        await earn(uow, x, "10", "OFFICE")
        await earn(uow, z, "10", "OFFICE")
    async with uow_factory() as uow:
        stats = await referrals.referral_stats(
            uow, JUNE, starts_at=JUNE.starts_at(uow.tz), ends_at=JUNE.ends_at(uow.tz), top=10
        )
    assert (stats.referrers, stats.referred, stats.converted) == (2, 3, 2)
    assert stats.coefficient == D("1.0000")
    assert [(r.member_id, r.referred, r.converted) for r in stats.top] == [(r1, 2, 1), (r2, 1, 1)]


async def test_expiring_points_by_member_and_day(units, uow_factory, clock):
    async with uow_factory(datetime(2025, 6, 20, 4, 0, tzinfo=UTC)) as uow:
        soon = await new_member(uow, "OFFICE")
        await earn(uow, soon, "30", "OFFICE")
        await earn(uow, soon, "20", "OFFICE")
    async with uow_factory(datetime(2025, 7, 1, 4, 0, tzinfo=UTC)) as uow:
        later = await new_member(uow, "OFFICE")
        await earn(uow, later, "70", "OFFICE")
    async with uow_factory() as uow:  # 2026-06-15
        week = await expiring.expiring_points(uow, within_days=7, limit=10)
        month = await expiring.expiring_points(uow, within_days=30, limit=1)
        rest = await expiring.expiring_points(uow, within_days=30, limit=1, after_member=soon)
    assert [(m.member_id, m.points) for m in week] == [(soon, 50)]
    assert week[0].days == [(datetime(2026, 6, 20).date(), 50)]
    assert [m.member_id for m in month] == [soon]
    assert [(m.member_id, m.points) for m in rest] == [(later, 70)]
    assert rest[0].first_expires_at - timedelta(days=365) == datetime(2025, 7, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "first", "field"),
    [(0, 10, "withinDays"), (100000, 10, "withinDays"), (7, 101, "first"), (7, -1, "first")],
)
def test_expiring_window_bounds(days, first, field):
    with raises_code(ErrorCode.INVALID_INPUT, field):
        expiring.check_window(days, first)


async def test_overlap_segments_and_active_members_are_kept_by_the_refresh(
    units, uow_factory, clock
):
    await _history(uow_factory, clock, units)
    async with uow_factory() as uow:
        kept = await audience.member_segments(uow, JUNE)
        assert await verify_figures(uow) == []
        await uow.session.execute(
            text("UPDATE figure_month_segments SET members = members + 7 WHERE segment = 'LOYAL'")
        )
        await uow.session.execute(text("UPDATE figure_month_overlap SET members = 9"))
        await uow.session.execute(text("UPDATE figure_year_overlap SET members = 4"))
        await uow.session.execute(text("UPDATE figure_period_active SET members = 5"))
        tampered = await audience.member_segments(uow, JUNE)  # read, not computed
        cells = await audience.format_overlap(uow, JUNE, list(units.values()))
        problems = await verify_figures(uow)
        june = await programme_figures(uow, JUNE, unit_id=None, band=BAND)
        year = await audience.format_overlap(uow, parse_period("2026"), list(units.values()))
    assert june.active_members == 5  # kept by the refresh, read
    assert sum(s.members for s in tampered) == sum(s.members for s in kept) + 7
    assert {c.members for c in cells} == {9}
    assert any("figure_month_segments" in p for p in problems)
    assert any("figure_month_overlap" in p for p in problems)
    assert any("figure_period_active: 2026-06" in p for p in problems)
    assert {c.members for c in year} == {4}  # a year's is kept too
    assert any("figure_year_overlap: 2026" in p for p in problems)
    async with uow_factory() as uow:  # a year the refresh has not kept is computed
        await uow.session.execute(text("DELETE FROM figure_year_overlap"))
        year = await audience.format_overlap(uow, parse_period("2026"), list(units.values()))
    assert sum(c.members for c in year) == 2
