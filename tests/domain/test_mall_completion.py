"""Completing mall orders (app.domain.mall.completion): a gift completes when its member
confirms receipt or MALL_AUTO_COMPLETE_DAYS after shipping; a voucher order when nothing it
issued can still be used; after that a member cannot cancel, ops can, with the points back."""

from __future__ import annotations

from sqlalchemy import select

from app.domain.mall.completion import confirm_receipt
from app.domain.mall.orders import cancel_order, confirm_payment, ship_order
from app.domain.rights.write_off import write_off_voucher
from app.domain.shared.errors import ErrorCode
from app.jobs.mall import complete_mall_orders
from app.models import MallOrder, MemberRight
from tests.conftest import TZ
from tests.domain.test_mall_orders import _statuses, _stock
from tests.helpers import assert_clean, balance, ledger_snapshot, raises_code
from tests.mall_helpers import item, member_with, order, voucher_item

DAYS = 7


async def _ship(uow_factory, order_id: int, unit_id: int) -> None:
    async with uow_factory() as uow:
        await ship_order(
            uow, order_id=order_id, carrier="SF", tracking_number=f"SF{order_id}", unit_id=unit_id
        )


async def _status(uow_factory, order_id: int) -> str:
    async with uow_factory() as uow:
        return (await uow.session.get(MallOrder, order_id)).status


async def _job(sessions, clock) -> int:
    report = await complete_mall_orders(sessions, now=clock.now, tz=TZ, auto_days=DAYS, batch=2)
    return report.orders


async def test_a_member_confirms_receipt_of_a_shipped_gift_once(units, uow_factory):
    gift = await item(uow_factory)
    member = await member_with(uow_factory)
    other = await member_with(uow_factory)
    placed = await order(uow_factory, member, gift.id)
    with raises_code(ErrorCode.WRONG_STATE, "orderId"):  # not shipped yet
        async with uow_factory() as uow:
            await confirm_receipt(uow, order_id=placed.id, caller="member", member_id=member)
    await _ship(uow_factory, placed.id, units["MALL"])
    with raises_code(ErrorCode.NOT_FOUND, "orderId"):  # another member's order
        async with uow_factory() as uow:
            await confirm_receipt(uow, order_id=placed.id, caller="member", member_id=other)
    for _ in range(2):  # confirming again is the same result
        async with uow_factory() as uow:
            done = await confirm_receipt(
                uow, order_id=placed.id, caller=f"member:{member}", member_id=member
            )
        assert (done.status, done.completed_by) == ("COMPLETED", f"member:{member}")
    assert await _statuses(uow_factory, placed.id) == ["PAID", "SHIPPED", "COMPLETED"]
    await assert_clean(uow_factory)


async def test_after_completion_a_member_cannot_cancel_and_ops_can_with_the_points_back(
    units, uow_factory
):
    gift = await item(uow_factory, cash_price="9.90")
    member = await member_with(uow_factory)
    placed = await order(uow_factory, member, gift.id)
    async with uow_factory() as uow:
        await confirm_payment(
            uow, order_id=placed.id, payment_ref="P-1", amount="9.90", caller="pay"
        )
    await _ship(uow_factory, placed.id, units["MALL"])
    async with uow_factory() as uow:
        await confirm_receipt(uow, order_id=placed.id, caller="ops:cs")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.WRONG_STATE, "orderId"):
        async with uow_factory() as uow:
            await cancel_order(uow, order_id=placed.id, caller="member", member_id=member)
    assert await ledger_snapshot(uow_factory) == before
    with raises_code(ErrorCode.INVALID_INPUT, "reason"):  # ops give a reason
        async with uow_factory() as uow:
            await cancel_order(uow, order_id=placed.id, caller="ops:cs")
    async with uow_factory() as uow:
        returned = await cancel_order(
            uow, order_id=placed.id, caller="ops:cs", reason="returned: wrong colour"
        )
        assert (returned.status, str(returned.cash_refund_due)) == ("CANCELLED", "9.90")
        assert (await balance(uow, member)).available == 2000
    assert await _stock(uow_factory, gift.id) == 5
    assert await _statuses(uow_factory, placed.id) == [
        "AWAITING_PAYMENT", "PAID", "SHIPPED", "COMPLETED", "CANCELLED",
    ]  # fmt: skip
    await assert_clean(uow_factory)


async def test_the_job_completes_gifts_shipped_long_enough_ago_once(
    units, uow_factory, sessions, clock
):
    gift = await item(uow_factory, per_member_limit=None)
    member = await member_with(uow_factory)
    early, late, unshipped = [await order(uow_factory, member, gift.id) for _ in range(3)]
    await _ship(uow_factory, early.id, units["MALL"])
    clock.advance(days=3)
    await _ship(uow_factory, late.id, units["MALL"])
    clock.advance(days=DAYS - 3, seconds=-1)
    assert await _job(sessions, clock) == 0  # a second short of the early one's seven days
    clock.advance(seconds=1)
    assert await _job(sessions, clock) == 1
    assert await _job(sessions, clock) == 0  # twice: once
    assert [await _status(uow_factory, o.id) for o in (early, late, unshipped)] == [
        "COMPLETED", "SHIPPED", "PAID",
    ]  # fmt: skip
    async with uow_factory() as uow:
        assert (await uow.session.get(MallOrder, early.id)).completed_by == "job:mall"
    clock.advance(days=3)
    assert await _job(sessions, clock) == 1
    assert await _status(uow_factory, late.id) == "COMPLETED"
    await assert_clean(uow_factory)


async def test_a_voucher_order_completes_when_nothing_it_issued_can_be_used(
    units, uow_factory, sessions, clock
):
    package = await voucher_item(uow_factory, rights=2)
    member = await member_with(uow_factory)
    used = await order(uow_factory, member, package.id)
    expiring = await order(uow_factory, member, package.id)
    async with uow_factory() as uow:
        codes = list(
            await uow.session.scalars(
                select(MemberRight.code)
                .where(MemberRight.mall_order_id == used.id)
                .order_by(MemberRight.id)
            )
        )
    with raises_code(ErrorCode.WRONG_STATE, "orderId"):  # vouchers are not "received"
        async with uow_factory() as uow:
            await confirm_receipt(uow, order_id=used.id, caller="member", member_id=member)
    async with uow_factory() as uow:
        await write_off_voucher(uow, code=codes[0], unit_id=units["TOURISM"], caller="till")
    assert await _job(sessions, clock) == 0  # one voucher still to use
    async with uow_factory() as uow:
        await write_off_voucher(uow, code=codes[1], unit_id=units["TOURISM"], caller="till")
    assert await _job(sessions, clock) == 1
    assert [await _status(uow_factory, o.id) for o in (used, expiring)] == [
        "COMPLETED", "FULFILLED",
    ]  # fmt: skip
    clock.advance(days=31)  # the tickets are valid 30 days: the second order's ran out unused
    assert await _job(sessions, clock) == 1
    assert await _status(uow_factory, expiring.id) == "COMPLETED"
    # customer service may still refund the expired, unused vouchers' points
    async with uow_factory() as uow:
        await cancel_order(uow, order_id=expiring.id, caller="ops:cs", reason="goodwill")
        assert (await balance(uow, member)).available == 1800
    with raises_code(ErrorCode.VOUCHER_USED):  # not the used ones'
        async with uow_factory() as uow:
            await cancel_order(uow, order_id=used.id, caller="ops:cs", reason="asked")
    assert await _statuses(uow_factory, expiring.id) == ["FULFILLED", "COMPLETED", "CANCELLED"]
    await assert_clean(uow_factory)
