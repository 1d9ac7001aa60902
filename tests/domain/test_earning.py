"""Earning: rates by unit, merchant and category; pending windows; provenance; refusals."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain.ledger.accounts import GROUP
from app.domain.shared.errors import ErrorCode
from app.domain.till.earning import earn_points, quote_earn
from tests.helpers import (
    assert_clean,
    balance,
    earn,
    ledger_snapshot,
    lots_of,
    new_member,
    postings_of,
    raises_code,
)


@pytest.mark.parametrize(
    ("unit", "amount", "points", "rule"),
    [
        ("MALL", "100", 100, "base:MALL"),
        ("HOTEL", "100", 200, "base:HOTEL"),
        ("HOTEL", "880.50", 1761, "base:HOTEL"),
        ("TOURISM", "10", 15, "base:TOURISM"),
        ("CONVENIENCE", "37.80", 37, "base:CONVENIENCE"),
    ],
)
async def test_base_rate_per_unit(units, uow_factory, unit, amount, points, rule):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, amount, unit)
    assert tx.points == points
    assert tx.rule == rule
    assert tx.business_unit_id == units[unit]
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("merchant", "category", "points", "rule"),
    [
        ("M003", None, 200, "merchant:M003"),  # cinema's own rate: 2 pt/CNY
        ("M003", "JEWELRY", 200, "merchant:M003"),  # merchant rate beats category rate
        ("M001", None, 50, "category:MALL/JEWELRY"),  # merchant's category: 0.5 pt/CNY
        ("M004", None, 150, "category:MALL/DINING"),  # 1.5 pt/CNY
        (None, "dining", 150, "category:MALL/DINING"),  # input category, case-insensitive
        ("M001", "DINING", 150, "category:MALL/DINING"),  # input category beats merchant's
        ("M002", None, 100, "base:MALL"),  # supermarket has no override
        (None, "TOYS", 100, "base:MALL"),  # unknown category: base rate
    ],
)
async def test_merchant_and_category_overrides(
    units, uow_factory, merchant, category, points, rule
):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, "100", "MALL", merchant=merchant, category=category)
    assert (tx.points, tx.rule) == (points, rule)
    await assert_clean(uow_factory)


async def test_merchant_by_id_or_code(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        by_code = await earn(uow, member, "10", "MALL", merchant="M003")
        by_id = await earn(uow, member, "10", str(units["MALL"]), merchant=by_code.merchant_id)
    assert by_id.merchant_id == by_code.merchant_id
    assert by_id.points == by_code.points == 20
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("unit", "merchant", "amount", "points"),
    [
        ("MALL", None, "99.99", 99),
        ("HOTEL", None, "0.49", 0),  # 0.98 -> 0
        ("HOTEL", None, "10.99", 21),  # 21.98 -> 21
        ("MALL", "M001", "1.99", 0),  # 0.995 -> 0
        ("MALL", "M001", "201", 100),  # 100.5 -> 100
        ("MALL", "M004", "3.33", 4),  # 4.995 -> 4
        ("TOURISM", None, "0.67", 1),  # 1.005 -> 1
    ],
)
async def test_points_are_whole_and_rounded_down(
    units, uow_factory, unit, merchant, amount, points
):
    async with uow_factory() as uow:
        quote = await quote_earn(uow, business_unit=unit, amount=amount, merchant=merchant)
    assert quote.points == points
    assert "rounded down" in quote.lines[0].detail
    await assert_clean(uow_factory)


async def test_zero_point_order_records_no_lot(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, "0.40", "HOTEL")
    assert tx.points == 0
    async with uow_factory() as uow:
        assert await lots_of(uow, member) == []
        b = await balance(uow, member)
        assert (b.available, b.pending) == (0, 0)
    await assert_clean(uow_factory)


async def test_preview_records_nothing(units, uow_factory):
    async with uow_factory() as uow:
        await new_member(uow)
    before = await ledger_snapshot(uow_factory)
    async with uow_factory() as uow:
        quote = await quote_earn(uow, business_unit="MALL", amount="500", merchant="M004")
    assert quote.points == 750
    assert [(line.kind, line.rule, line.points) for line in quote.lines] == [
        ("BASE", "category:MALL/DINING", 750)
    ]
    assert await ledger_snapshot(uow_factory) == before
    await assert_clean(uow_factory)


async def test_mall_points_are_pending_for_the_return_window(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, "300", "MALL")
    async with uow_factory() as uow:
        b = await balance(uow, member)
        assert (b.available, b.pending) == (0, 300)
        [lot] = await lots_of(uow, member)
        postings = await postings_of(uow, tx.id)
    assert lot.state == "PENDING"
    assert lot.pending_until == clock.now + timedelta(days=7)
    assert postings == {("MEMBER_PENDING", member): 300, ("ISSUED", units["MALL"]): -300}
    await assert_clean(uow_factory)


async def test_hotel_points_are_available_at_once(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, "300", "HOTEL")
    async with uow_factory() as uow:
        b = await balance(uow, member)
        assert (b.available, b.pending) == (600, 0)
        [lot] = await lots_of(uow, member)
        postings = await postings_of(uow, tx.id)
    assert lot.state == "AVAILABLE"
    assert lot.pending_until is None
    assert postings == {("MEMBER_AVAILABLE", member): 600, ("ISSUED", units["HOTEL"]): -600}
    await assert_clean(uow_factory)


async def test_entry_records_source_rule_and_references(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn_points(
            uow,
            member_id=str(member),
            business_unit="mall",
            merchant="M004",
            order_ref="  POS-0001  ",
            amount="88.88",
            caller="partner:MALL",
            caller_ref="till-7/receipt-42",
        )
    async with uow_factory() as uow:
        [lot] = await lots_of(uow, member)
    assert tx.source == "ORDER"
    assert tx.kind == "EARN"
    assert tx.rule == "category:MALL/DINING"
    assert tx.order_ref == "POS-0001"
    assert tx.caller == "partner:MALL"
    assert tx.caller_ref == "till-7/receipt-42"
    assert tx.order_amount == Decimal("88.88")
    assert tx.category is None
    assert tx.points == 133  # 88.88 x 1.5 = 133.32
    assert tx.created_at == clock.now
    assert tx.detail["breakdown"][0]["rule"] == "category:MALL/DINING"
    assert lot.transaction_id == tx.id
    assert lot.issuer_unit_id == lot.funder_unit_id == units["MALL"]
    assert lot.funder_unit_id != GROUP
    assert lot.cost_per_point == Decimal("0.02")
    assert lot.earned_at == clock.now
    await assert_clean(uow_factory)


async def test_duplicate_order_ref_per_unit(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        other = await new_member(uow)
        await earn(uow, member, "100", "HOTEL", ref="R-1")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.DUPLICATE, field="orderRef"):
        async with uow_factory() as uow:
            await earn(uow, member, "100", "HOTEL", ref="R-1")
    with raises_code(ErrorCode.DUPLICATE, field="orderRef"):
        async with uow_factory() as uow:  # the order, not the member, is what is unique
            await earn(uow, other, "50", "HOTEL", ref=" R-1 ")
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:  # the same reference at another unit is another order
        tx = await earn(uow, member, "100", "MALL", ref="R-1")
    assert tx.points == 100
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"business_unit": "CASINO"}, "businessUnitId"),
        ({"business_unit": "999"}, "businessUnitId"),
        ({"merchant": "M999"}, "merchantId"),
        ({"business_unit": "HOTEL", "merchant": "M001"}, "merchantId"),  # a mall merchant
        ({"member_id": 999999}, "memberId"),
        ({"member_id": "not-a-number"}, "memberId"),
    ],
)
async def test_unknown_references_are_not_found(units, uow_factory, kwargs, field):
    async with uow_factory() as uow:
        member = await new_member(uow)
    before = await ledger_snapshot(uow_factory)
    args = {"member_id": member, "business_unit": "MALL", "amount": "100"} | kwargs
    with raises_code(ErrorCode.NOT_FOUND, field=field):
        async with uow_factory() as uow:
            await earn_points(uow, order_ref="NF-1", caller="test", **args)
    assert await ledger_snapshot(uow_factory) == before
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("amount", "order_ref", "field"),
    [
        ("0", "A", "amount"),
        ("-10", "A", "amount"),
        ("10.001", "A", "amount"),
        ("ten", "A", "amount"),
        ("NaN", "A", "amount"),
        ("100", "", "orderRef"),
        ("100", "   ", "orderRef"),
        ("100", "x" * 65, "orderRef"),
    ],
)
async def test_bad_input_records_nothing(units, uow_factory, amount, order_ref, field):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.INVALID_INPUT, field=field):
        async with uow_factory() as uow:
            await earn_points(
                uow,
                member_id=member,
                business_unit="HOTEL",
                order_ref=order_ref,
                amount=amount,
                caller="test",
            )
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == 200
    await assert_clean(uow_factory)
