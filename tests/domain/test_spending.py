"""Spending: point values, per-use rules, daily caps by local day, lots consumed in order."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.domain.ledger.redemption import spendable_lots
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.till.spending import spend_points
from tests.helpers import (
    allocations_of,
    assert_clean,
    balance,
    cancel,
    earn,
    ledger_snapshot,
    lots_of,
    new_member,
    postings_of,
    raises_code,
    set_program,
    spend,
    transactions_of,
)


async def rich_member(uow_factory, points: int = 10_000) -> int:
    """A member with `points` available, earned at the hotel (2 pt/CNY, no pending window)."""
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, str(Decimal(points) / 2), "HOTEL")
    return member


@pytest.mark.parametrize(
    ("unit", "points", "order_amount", "cny"),
    [
        ("CONVENIENCE", 100, "20", "5.00"),  # 100 pts = 5 CNY
        ("CONVENIENCE", 300, "50", "15.00"),
        ("MALL", 500, "100", "10.00"),  # 1 pt = 0.02 CNY
        ("HOTEL", 1000, "100", "10.00"),  # 1 pt = 0.01 CNY
        ("TOURISM", 200, "10", "4.00"),
    ],
)
async def test_point_value_per_unit(units, uow_factory, unit, points, order_amount, cny):
    member = await rich_member(uow_factory)
    async with uow_factory() as uow:
        tx = await spend(uow, member, points, order_amount, unit)
    assert tx.cny_value == Decimal(cny)
    assert tx.points == -points
    assert tx.kind == "SPEND"
    assert tx.order_amount == Decimal(order_amount).quantize(Decimal("0.01"))
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == 10_000 - points
        postings = await postings_of(uow, tx.id)
    assert postings == {("MEMBER_AVAILABLE", member): -points, ("REDEEMED", units[unit]): points}
    await assert_clean(uow_factory)


async def test_points_plus_cash(units, uow_factory):
    """500 pts (worth 10 CNY in the mall) + 90 CNY buys a 100 CNY item."""
    member = await rich_member(uow_factory)
    async with uow_factory() as uow:
        tx = await spend(uow, member, 500, "100.00", "MALL")
    assert tx.cny_value == Decimal("10.00")
    assert tx.order_amount - tx.cny_value == Decimal("90.00")
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("unit", "points", "order_amount", "code"),
    [
        ("MALL", 50, "100", ErrorCode.INVALID_INPUT),  # below the minimum of 100
        ("MALL", 150, "100", ErrorCode.INVALID_INPUT),  # not a multiple of 100
        ("CONVENIENCE", 250, "100", ErrorCode.INVALID_INPUT),
        ("MALL", 0, "100", ErrorCode.INVALID_INPUT),
        ("MALL", -100, "100", ErrorCode.INVALID_INPUT),
        ("MALL", 100.0, "100", ErrorCode.INVALID_INPUT),
        ("MALL", 2600, "100", ErrorCode.LIMIT_REACHED),  # 52 CNY > 50% of 100
        ("HOTEL", 3100, "100", ErrorCode.LIMIT_REACHED),  # 31 CNY > 30% of 100
        ("CONVENIENCE", 100, "9.99", ErrorCode.LIMIT_REACHED),  # 5 CNY > 4.99
    ],
)
async def test_spend_rules_refuse(units, uow_factory, unit, points, order_amount, code):
    member = await rich_member(uow_factory)
    before = await ledger_snapshot(uow_factory)
    with raises_code(code, field="points"):
        async with uow_factory() as uow:
            await spend(uow, member, points, order_amount, unit)
    assert await ledger_snapshot(uow_factory) == before
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("unit", "points", "order_amount", "cny"),
    [
        ("MALL", 2500, "100", "50.00"),
        ("HOTEL", 3000, "100", "30.00"),
        ("CONVENIENCE", 100, "10", "5.00"),
    ],
)
async def test_max_share_is_inclusive(units, uow_factory, unit, points, order_amount, cny):
    member = await rich_member(uow_factory)
    async with uow_factory() as uow:
        tx = await spend(uow, member, points, order_amount, unit)
    assert tx.cny_value == Decimal(cny)
    await assert_clean(uow_factory)


async def test_insufficient_points(units, uow_factory):
    member = await rich_member(uow_factory, 300)
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS, field="points"):
        async with uow_factory() as uow:
            await spend(uow, member, 400, "100", "MALL")
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:
        await spend(uow, member, 300, "100", "MALL")
        assert (await balance(uow, member)).available == 0
    await assert_clean(uow_factory)


async def test_pending_points_cannot_be_spent(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "1000", "MALL")  # 1000 pending for 7 days
    with raises_code(ErrorCode.INSUFFICIENT_POINTS):
        async with uow_factory() as uow:
            await spend(uow, member, 100, "100", "MALL")
    await assert_clean(uow_factory)


async def test_unknown_references_and_duplicate_order(units, uow_factory):
    member = await rich_member(uow_factory)
    with raises_code(ErrorCode.NOT_FOUND, field="memberId"):
        async with uow_factory() as uow:
            await spend(uow, 424242, 100, "100", "MALL")
    with raises_code(ErrorCode.NOT_FOUND, field="businessUnitId"):
        async with uow_factory() as uow:
            await spend(uow, member, 100, "100", "SPA")
    with raises_code(ErrorCode.NOT_FOUND, field="merchantId"):
        async with uow_factory() as uow:
            await spend(uow, member, 100, "100", "MALL", merchant="M404")
    with raises_code(ErrorCode.INVALID_INPUT, field="orderAmount"):
        async with uow_factory() as uow:
            await spend_points(
                uow,
                member_id=member,
                business_unit="MALL",
                order_ref="X",
                order_amount="-1",
                points=100,
                caller="test",
            )
    async with uow_factory() as uow:
        first = await spend(uow, member, 100, "100", "MALL", ref="POS-9", merchant="M002")
    assert first.merchant_id is not None
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.DUPLICATE, field="orderRef"):
        async with uow_factory() as uow:
            await spend(uow, member, 100, "100", "MALL", ref="POS-9")
    assert await ledger_snapshot(uow_factory) == before
    await assert_clean(uow_factory)


# --- daily cap, counted by the group's local day (Asia/Shanghai, UTC+8) ---------------------


async def test_daily_cap(units, uow_factory):
    member = await rich_member(uow_factory)
    async with uow_factory() as uow:
        await spend(uow, member, 1200, "1000", "CONVENIENCE")
    async with uow_factory() as uow:
        await spend(uow, member, 800, "1000", "CONVENIENCE")  # exactly the cap of 2000
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.LIMIT_REACHED, field="points") as info:
        async with uow_factory() as uow:
            await spend(uow, member, 100, "1000", "CONVENIENCE")
    assert "0 left today" in info.value.message
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:  # the cap is per unit: the mall is still open
        await spend(uow, member, 2500, "100", "MALL")
    await assert_clean(uow_factory)


async def test_daily_cap_counts_the_shanghai_day(units, uow_factory, clock):
    clock.now = datetime(2026, 6, 14, 1, 0, tzinfo=UTC)
    member = await rich_member(uow_factory)
    # 2026-06-14 23:59 in Shanghai: yesterday, does not count towards the 15th
    async with uow_factory(datetime(2026, 6, 14, 15, 59, tzinfo=UTC)) as uow:
        await spend(uow, member, 2000, "1000", "CONVENIENCE")
    # 2026-06-15 00:00 in Shanghai, still the 14th in UTC: a new day with a fresh cap
    async with uow_factory(datetime(2026, 6, 14, 16, 0, tzinfo=UTC)) as uow:
        await spend(uow, member, 2000, "1000", "CONVENIENCE")
    # 2026-06-15 23:59:59 in Shanghai (the 15th in UTC too): the cap is used up
    with raises_code(ErrorCode.LIMIT_REACHED):
        async with uow_factory(datetime(2026, 6, 15, 15, 59, 59, tzinfo=UTC)) as uow:
            await spend(uow, member, 100, "1000", "CONVENIENCE")
    # 16:00 UTC is midnight in Shanghai: the cap resets although the UTC date did not change
    async with uow_factory(datetime(2026, 6, 15, 16, 0, tzinfo=UTC)) as uow:
        await spend(uow, member, 2000, "1000", "CONVENIENCE")
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == 10_000 - 6000
    await assert_clean(uow_factory)


async def test_cancelled_spends_do_not_count_towards_the_cap(units, uow_factory):
    member = await rich_member(uow_factory)
    async with uow_factory() as uow:
        tx = await spend(uow, member, 2000, "1000", "CONVENIENCE")
    async with uow_factory() as uow:
        await cancel(uow, tx.id)
    async with uow_factory() as uow:
        await spend(uow, member, 2000, "1000", "CONVENIENCE")
    await assert_clean(uow_factory)


# --- which lots a spend consumes -------------------------------------------------------------


async def test_earliest_expiring_lots_first(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        first = await earn(uow, member, "100", "HOTEL")  # 200, expires in 12 months
    clock.advance(days=30)
    async with uow_factory() as uow:
        second = await earn(uow, member, "100", "HOTEL")
    clock.advance(days=30)
    async with uow_factory() as uow:
        third = await earn(uow, member, "100", "HOTEL")
        lot_of = {lot.transaction_id: lot.id for lot in await lots_of(uow, member)}
    clock.advance(days=1)
    async with uow_factory() as uow:
        a = await spend(uow, member, 300, "1000", "HOTEL")
    async with uow_factory() as uow:
        b = await spend(uow, member, 200, "1000", "HOTEL")
        rows_a = await allocations_of(uow, a.id)
        rows_b = await allocations_of(uow, b.id)
        remaining = {lot.transaction_id: lot.remaining for lot in await lots_of(uow, member)}
    assert [(r.lot_id, r.points, r.kind) for r in rows_a] == [
        (lot_of[first.id], 200, "SPEND"),
        (lot_of[second.id], 100, "SPEND"),
    ]
    assert [(r.lot_id, r.points) for r in rows_b] == [
        (lot_of[second.id], 100),
        (lot_of[third.id], 100),
    ]
    assert remaining == {first.id: 0, second.id: 0, third.id: 100}
    for tx, rows in ((a, rows_a), (b, rows_b)):
        assert sum(r.cny_value for r in rows) == tx.cny_value
    await assert_clean(uow_factory)


async def test_a_spend_reads_only_the_lots_it_takes(units, uow_factory, clock):
    """Five lots of 200 points: 300 points read the first two, 400 the first two (they cover
    it exactly), 401 three; a lot past its expiry (not yet swept) is always read."""
    async with uow_factory() as uow:
        member = await new_member(uow)
    for _ in range(5):
        async with uow_factory() as uow:
            await earn(uow, member, "100", "HOTEL")  # 200 points, a day apart
        clock.advance(days=1)
    async with uow_factory() as uow:
        lots = await lots_of(uow, member)
        held = await balance(uow, member)
        read = {n: await spendable_lots(uow, held, n) for n in (300, 400, 401, 1000, 5000)}
    firsts = [lot.id for lot in lots]
    assert {n: [lot.id for lot in found[0]] for n, found in read.items()} == {
        300: firsts[:2],
        400: firsts[:2],
        401: firsts[:3],
        1000: firsts,
        5000: firsts,
    }
    clock.advance(days=366)  # past the first lots' expiry, before the nightly sweep
    async with uow_factory() as uow:
        await earn(uow, member, "100", "HOTEL")
    async with uow_factory() as uow:
        held = await balance(uow, member)
        found, after = await spendable_lots(uow, held, 100)
    # the expired lots were swept on the way; what is left to read is the new lot
    assert len(found) == 1 and found[0].id not in firsts
    assert after.available == 200
    await assert_clean(uow_factory)


async def test_expiry_not_earning_order_decides(units, uow_factory, clock):
    """A lot earned later under a shorter policy expires sooner, so it is spent first."""
    await set_program(uow_factory, rolling_months=24)
    async with uow_factory() as uow:
        member = await new_member(uow)
        long_lived = await earn(uow, member, "100", "HOTEL")
    await set_program(uow_factory, rolling_months=6)
    clock.advance(days=1)
    async with uow_factory() as uow:
        short_lived = await earn(uow, member, "100", "HOTEL")
    async with uow_factory() as uow:
        tx = await spend(uow, member, 300, "1000", "HOTEL")
        rows = await allocations_of(uow, tx.id)
        lots = {lot.id: lot.transaction_id for lot in await lots_of(uow, member)}
    assert [(lots[r.lot_id], r.points) for r in rows] == [
        (short_lived.id, 200),
        (long_lived.id, 100),
    ]
    await assert_clean(uow_factory)


async def test_allocations_carry_cny_to_the_cent(units, uow_factory):
    """5 CNY over lots of 33, 33 and 34 points: 1.65 + 1.65 + 1.70, no cent lost."""
    async with uow_factory() as uow:
        member = await new_member(uow)
        for amount in ("33", "33", "34"):
            await earn(uow, member, amount, "OFFICE")  # 1 pt/CNY, available at once
    async with uow_factory() as uow:
        tx = await spend(uow, member, 100, "10", "CONVENIENCE")
        rows = await allocations_of(uow, tx.id)
        lots = {lot.id: lot for lot in await lots_of(uow, member)}
    assert tx.cny_value == Decimal("5.00")
    assert [r.cny_value for r in rows] == [Decimal("1.65"), Decimal("1.65"), Decimal("1.70")]
    assert sum(r.cny_value for r in rows) == tx.cny_value
    assert {lots[r.lot_id].issuer_unit_id for r in rows} == {units["OFFICE"]}
    await assert_clean(uow_factory)


async def test_cross_format_spend_is_traced_to_issuers(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "50", "HOTEL")  # 100 pts issued by the hotel, expire first
        await earn(uow, member, "200", "OFFICE")  # 200 pts issued by the office
    async with uow_factory() as uow:
        tx = await spend(uow, member, 200, "100", "MALL")  # 4 CNY at the mall
        rows = await allocations_of(uow, tx.id)
        lots = {lot.id: lot for lot in await lots_of(uow, member)}
    by_issuer = {lots[r.lot_id].issuer_unit_id: (r.points, r.cny_value) for r in rows}
    assert by_issuer == {
        units["HOTEL"]: (100, Decimal("2.00")),
        units["OFFICE"]: (100, Decimal("2.00")),
    }
    await assert_clean(uow_factory)


async def test_spend_time_is_recorded(units, uow_factory, clock):
    member = await rich_member(uow_factory)
    clock.advance(hours=5)
    async with uow_factory() as uow:
        tx = await spend(uow, member, 100, "100", "HOTEL")
    assert tx.created_at == clock.now
    await assert_clean(uow_factory)


async def test_points_past_expiry_are_not_spendable_before_the_job_runs(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "500", unit="HOTEL")  # 1,000 points, expire in 12 months
    clock.advance(days=400)
    async with uow_factory() as uow:
        await earn(uow, member, "100", unit="HOTEL")  # 200 fresh points
    with pytest.raises(DomainError) as refused:
        async with uow_factory() as uow:
            await spend(uow, member, 300, unit="HOTEL")
    assert refused.value.code == ErrorCode.INSUFFICIENT_POINTS
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == 1200  # refused: nothing recorded
        await spend(uow, member, 200, unit="HOTEL")
    async with uow_factory() as uow:
        row = await balance(uow, member)
        kinds = [tx.kind for tx in await transactions_of(uow, member)]
    assert row.available == 0
    assert kinds.count("EXPIRY") == 1
    await assert_clean(uow_factory)
