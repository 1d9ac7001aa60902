"""Mall orders (app.domain.mall.orders): points leave through the ledger with the supplier
redeeming, stock and limits hold, each state change is announced, and every path that ends an
order gives its points and stock back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain.mall.catalogue import update_item
from app.domain.mall.orders import cancel_order, confirm_payment, expire_order, ship_order
from app.domain.rights.write_off import write_off_voucher
from app.domain.shared.errors import ErrorCode, PermissionDenied
from app.domain.tiers.standing import grant_tier
from app.models import MallItem, MallOrder, MemberRight, OutboxEvent, PointsLot
from tests.conftest import NOW
from tests.helpers import (
    assert_clean,
    balance,
    ledger_snapshot,
    postings_of,
    raises_code,
)
from tests.mall_helpers import item, member_with, order, voucher_item


async def _stock(uow_factory, item_id: int) -> int | None:
    async with uow_factory() as uow:
        return (await uow.session.get(MallItem, item_id)).stock_remaining


async def _statuses(uow_factory, order_id: int) -> list[str]:
    """The statuses MALL_ORDER_CHANGED announced for the order, in order."""
    async with uow_factory() as uow:
        events = await uow.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type == "MALL_ORDER_CHANGED")
            .order_by(OutboxEvent.id)
        )
        return [e.payload["status"] for e in events if e.payload["orderId"] == order_id]


async def test_a_points_voucher_order_issues_its_rights_at_once(units, uow_factory):
    package = await voucher_item(uow_factory, rights=2, stock=10)
    member = await member_with(uow_factory)  # 2000 points
    placed = await order(uow_factory, member, package.id, quantity=2, delivery_address=None)
    assert (placed.status, placed.points_spent, placed.cash_due) == (
        "FULFILLED",
        400,
        Decimal("0.00"),
    )
    async with uow_factory() as uow:
        held = list(
            await uow.session.scalars(
                select(MemberRight).where(MemberRight.mall_order_id == placed.id)
            )
        )
        assert sorted(h.source for h in held) == ["MALL_ORDER"] * 4
        assert (await balance(uow, member)).available == 1600
        assert (await postings_of(uow, placed.transaction_id))[
            ("REDEEMED", units["TOURISM"])
        ] == 400
    assert await _stock(uow_factory, package.id) == 8
    assert await _statuses(uow_factory, placed.id) == ["FULFILLED"]
    await assert_clean(uow_factory)


async def test_points_and_cash_wait_for_the_payment_then_ship(units, uow_factory):
    gift = await item(uow_factory, cash_price="29.90")
    member = await member_with(uow_factory)
    placed = await order(uow_factory, member, gift.id, quantity=2)
    assert (placed.status, placed.cash_due, placed.pay_by) == (
        "AWAITING_PAYMENT",
        Decimal("59.80"),
        NOW + timedelta(minutes=15),
    )
    with raises_code(ErrorCode.AMOUNT_MISMATCH, "amount"):
        async with uow_factory() as uow:
            await confirm_payment(
                uow, order_id=placed.id, payment_ref="P-1", amount="59.79", caller="pay"
            )
    for _ in range(2):  # the same confirmation twice: the same result
        async with uow_factory() as uow:
            paid = await confirm_payment(
                uow, order_id=placed.id, payment_ref="P-1", amount="59.80", caller="pay"
            )
        assert (paid.status, paid.paid_amount) == ("PAID", Decimal("59.80"))
    with raises_code(ErrorCode.WRONG_STATE):
        async with uow_factory() as uow:
            await confirm_payment(
                uow, order_id=placed.id, payment_ref="P-2", amount="59.80", caller="pay"
            )
    with pytest.raises(PermissionDenied):
        async with uow_factory() as uow:
            await ship_order(
                uow, order_id=placed.id, carrier="SF", tracking_number="SF1", unit_id=units["HOTEL"]
            )
    with raises_code(ErrorCode.INVALID_INPUT, "trackingNumber"):
        async with uow_factory() as uow:
            await ship_order(
                uow,
                order_id=placed.id,
                carrier="SF",
                tracking_number="x" * 65,
                unit_id=units["MALL"],
            )
    async with uow_factory() as uow:
        shipped = await ship_order(
            uow, order_id=placed.id, carrier="SF", tracking_number="SF1", unit_id=units["MALL"]
        )
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == ("SHIPPED", "SF", "SF1")
    with raises_code(ErrorCode.WRONG_STATE):  # a member cannot cancel a shipped gift
        async with uow_factory() as uow:
            await cancel_order(uow, order_id=placed.id, caller="member", member_id=member)
    async with uow_factory() as uow:
        cancelled = await cancel_order(
            uow, order_id=placed.id, caller="ops:cs", reason="lost in transit"
        )
    assert (cancelled.status, cancelled.cash_refund_due) == ("CANCELLED", Decimal("59.80"))
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == 2000
    assert await _stock(uow_factory, gift.id) == 5
    assert await _statuses(uow_factory, placed.id) == [
        "AWAITING_PAYMENT",
        "PAID",
        "SHIPPED",
        "CANCELLED",
    ]
    await assert_clean(uow_factory)


async def test_a_voucher_for_points_and_cash_issues_its_rights_once_paid(units, uow_factory):
    package = await voucher_item(uow_factory, rights=2, cash_price="19.90", stock=3)
    member = await member_with(uow_factory)
    placed = await order(uow_factory, member, package.id, delivery_address=None)
    async with uow_factory() as uow:
        held = select(MemberRight.status).where(MemberRight.mall_order_id == placed.id)
        assert placed.status == "AWAITING_PAYMENT" and list(await uow.session.scalars(held)) == []
    async with uow_factory() as uow:
        paid = await confirm_payment(
            uow, order_id=placed.id, payment_ref="P-7", amount="19.90", caller="pay"
        )
        assert paid.status == "FULFILLED"
        assert sorted(await uow.session.scalars(held)) == ["ACTIVE", "ACTIVE"]
    async with uow_factory() as uow:
        cancelled = await cancel_order(uow, order_id=placed.id, caller="member", member_id=member)
        assert (cancelled.status, str(cancelled.cash_refund_due)) == ("CANCELLED", "19.90")
        assert sorted(await uow.session.scalars(held)) == ["REVOKED", "REVOKED"]
        assert (await balance(uow, member)).available == 2000
    assert await _stock(uow_factory, package.id) == 3
    assert await _statuses(uow_factory, placed.id) == [
        "AWAITING_PAYMENT",
        "FULFILLED",
        "CANCELLED",
    ]
    await assert_clean(uow_factory)


async def test_an_unpaid_order_expires_with_its_points_and_stock_back(units, uow_factory, clock):
    gift = await item(uow_factory, cash_price="10.00")
    member = await member_with(uow_factory)
    placed = await order(uow_factory, member, gift.id)
    async with uow_factory() as uow:
        assert not await expire_order(uow, placed.id)  # still inside its window
    clock.advance(minutes=15)
    async with uow_factory() as uow:
        assert await expire_order(uow, placed.id)
    async with uow_factory() as uow:
        assert not await expire_order(uow, placed.id)  # twice: once
        assert (await balance(uow, member)).available == 2000
    assert await _stock(uow_factory, gift.id) == 5
    with raises_code(ErrorCode.WRONG_STATE):  # a payment too late is refused: refund it
        async with uow_factory() as uow:
            await confirm_payment(
                uow, order_id=placed.id, payment_ref="P-9", amount="10.00", caller="pay"
            )
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("changes", "quantity", "code", "field"),
    [
        ({}, 0, ErrorCode.INVALID_INPUT, "quantity"),
        ({}, 10_000, ErrorCode.INVALID_INPUT, "quantity"),
        ({"active": False}, 1, ErrorCode.NOT_ON_SALE, "itemId"),
        ({"sale_starts_at": NOW + timedelta(hours=8)}, 1, ErrorCode.NOT_ON_SALE, "itemId"),
        ({"sale_ends_at": NOW}, 1, ErrorCode.NOT_ON_SALE, "itemId"),
        ({"tier_only_code": "GOLD"}, 1, ErrorCode.TIER_REQUIRED, "itemId"),
        ({}, 3, ErrorCode.LIMIT_REACHED, "itemId"),
        ({"stock": 1}, 2, ErrorCode.OUT_OF_STOCK, "itemId"),
        ({"points_price": 5000}, 1, ErrorCode.INSUFFICIENT_POINTS, "points"),
    ],
)
async def test_a_refused_order_changes_nothing(units, uow_factory, changes, quantity, code, field):
    gift = await item(uow_factory, **changes)
    member = await member_with(uow_factory)
    before = await ledger_snapshot(uow_factory)
    stock = await _stock(uow_factory, gift.id)
    with raises_code(code, field):
        await order(uow_factory, member, gift.id, quantity=quantity)
    assert await ledger_snapshot(uow_factory) == before
    assert await _stock(uow_factory, gift.id) == stock
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(MallOrder))) == []
    await assert_clean(uow_factory)


async def test_the_limit_counts_orders_not_cancelled_and_the_tier_zone_opens_by_rank(
    units, uow_factory
):
    gift = await item(uow_factory, tier_only_code="SILVER")
    member = await member_with(uow_factory)
    async with uow_factory() as uow:
        await grant_tier(
            uow,
            member_id=member,
            tier="GOLD",
            until=NOW + timedelta(days=300),
            reason="t",
            actor="ops:t",
        )
    first = await order(uow_factory, member, gift.id, quantity=2)
    with raises_code(ErrorCode.LIMIT_REACHED):
        await order(uow_factory, member, gift.id)
    async with uow_factory() as uow:
        await cancel_order(uow, order_id=first.id, caller="member", member_id=member)
    assert (await order(uow_factory, member, gift.id, quantity=2)).status == "PAID"
    await assert_clean(uow_factory)


async def test_cancel_revokes_unused_vouchers_and_is_refused_once_one_was_used(units, uow_factory):
    package = await voucher_item(uow_factory, rights=2)
    member = await member_with(uow_factory)
    other = await member_with(uow_factory)
    used = await order(uow_factory, member, package.id)
    unused = await order(uow_factory, member, package.id)
    with raises_code(ErrorCode.NOT_FOUND, "orderId"):  # another member's order
        async with uow_factory() as uow:
            await cancel_order(uow, order_id=used.id, caller="member", member_id=other)
    async with uow_factory() as uow:
        code = await uow.session.scalar(
            select(MemberRight.code).where(MemberRight.mall_order_id == used.id).limit(1)
        )
        await write_off_voucher(uow, code=code, unit_id=units["TOURISM"], caller="till")
    before = await ledger_snapshot(uow_factory)
    for caller, member_id in (("member", member), ("ops:cs", None)):
        with raises_code(ErrorCode.VOUCHER_USED):
            async with uow_factory() as uow:
                await cancel_order(
                    uow, order_id=used.id, caller=caller, member_id=member_id, reason="r"
                )
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:
        done = await cancel_order(uow, order_id=unused.id, caller="member", member_id=member)
        held = await uow.session.scalars(
            select(MemberRight.status).where(MemberRight.mall_order_id == unused.id)
        )
        assert sorted(held) == ["REVOKED", "REVOKED"]
        assert done.status == "CANCELLED" and done.cash_refund_due is None
        assert (await balance(uow, member)).available == 1800
    with raises_code(ErrorCode.WRONG_STATE):
        async with uow_factory() as uow:
            await cancel_order(uow, order_id=unused.id, caller="member", member_id=member)
    async with uow_factory() as uow:  # each revoked voucher ended once; the refused order none
        ended = list(
            await uow.session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == "VOUCHER_ENDED")
            )
        )
    assert sorted(e.payload["mallOrderId"] for e in ended) == [unused.id, unused.id]
    assert {(e.payload["reason"], e.payload["by"]) for e in ended} == {("REVOKED", "member")}
    await assert_clean(uow_factory)


async def test_points_of_a_lot_that_expired_meanwhile_come_back_with_the_grace_period(
    units, uow_factory, clock
):
    gift = await item(uow_factory)
    member = await member_with(uow_factory)
    placed = await order(uow_factory, member, gift.id)
    async with uow_factory() as uow:
        lot = await uow.session.scalar(select(PointsLot).where(PointsLot.member_id == member))
        expires = lot.expires_at
    clock.now = expires + timedelta(days=1)
    async with uow_factory() as uow:
        await cancel_order(uow, order_id=placed.id, caller="ops:cs", reason="customer asked")
    async with uow_factory() as uow:
        lots = list(
            await uow.session.scalars(
                select(PointsLot).where(PointsLot.member_id == member).order_by(PointsLot.id)
            )
        )
    assert lots[-1].remaining == 500 and lots[-1].expires_at > clock.now
    await assert_clean(uow_factory)


async def test_an_operator_edit_is_audited_and_checked_whole(units, uow_factory):
    gift = await item(uow_factory)
    with raises_code(ErrorCode.INVALID_INPUT, "rightIds"):
        async with uow_factory() as uow:
            await update_item(uow, item_id=gift.id, changes={"kind": "VOUCHER"}, actor="ops:t")
    async with uow_factory() as uow:
        changed = await update_item(
            uow, item_id=gift.id, changes={"points_price": 450}, actor="ops:t", reason="promo"
        )
    assert changed.points_price == 450


async def test_the_expiry_job_expires_each_unpaid_order_once(units, uow_factory, sessions, clock):
    from app.jobs.mall import expire_mall_orders
    from tests.conftest import TZ

    gift = await item(uow_factory, cash_price="10.00", per_member_limit=None)
    member = await member_with(uow_factory)
    unpaid = [await order(uow_factory, member, gift.id) for _ in range(3)]
    async with uow_factory() as uow:
        await confirm_payment(
            uow, order_id=unpaid[0].id, payment_ref="P-0", amount="10.00", caller="pay"
        )
    report = await expire_mall_orders(sessions, now=NOW + timedelta(minutes=14), tz=TZ)
    assert report.orders == 0
    later = NOW + timedelta(minutes=16)
    assert (await expire_mall_orders(sessions, now=later, tz=TZ, batch=1)).orders == 2
    assert (await expire_mall_orders(sessions, now=later, tz=TZ)).orders == 0
    async with uow_factory() as uow:
        statuses = [(await uow.session.get(MallOrder, o.id)).status for o in unpaid]
        assert statuses == ["PAID", "EXPIRED", "EXPIRED"]
        assert (await balance(uow, member)).available == 1500
    assert await _stock(uow_factory, gift.id) == 4
    await assert_clean(uow_factory)
