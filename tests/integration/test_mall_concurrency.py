"""The mall at the same moment on real PostgreSQL and Redis: a flash sale sells exactly its
stock with each member's limit held, through the Redis gate and on the database alone; a
payment racing the expiry job, a cancel racing the write-off of the order's voucher: one wins,
and no points are lost either way."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from app.domain.mall.flash_gate import Attempt, FlashGate, through_gate
from app.domain.mall.orders import cancel_order, confirm_payment, expire_order, place_order
from app.domain.rights.write_off import write_off_voucher
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import MallItem, MallOrder, MemberRight, PointsTransaction
from tests.conftest import NOW
from tests.helpers import assert_clean, balance, earn, new_member
from tests.integration.test_concurrency import attempt, everyone
from tests.mall_helpers import WINDOW, item, member_with, order, voucher_item

pytestmark = pytest.mark.concurrency

STOCK, MEMBERS, TRIES, LIMIT = 100, 400, 5, 2  # 2,000 attempts on 100 in stock


async def _buyers(uow_factory, count: int) -> list[int]:
    members = []
    async with uow_factory() as uow:
        for _ in range(count):
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "50.00", unit="HOTEL")  # 100 points: five tries' worth
            members.append(member)
    return members


async def _flash(uow_factory):
    return await item(
        uow_factory, name="Earbuds", points_price=20, stock=STOCK, per_member_limit=LIMIT,
        sale_starts_at=NOW - timedelta(seconds=1), flash_sale=True,
    )  # fmt: skip


async def _sell(wide, gate: FlashGate | None, item_id: int, members: list[int]) -> Counter:
    """Every member tries TRIES times at once (with the gate, or on the database alone)."""

    async def one(member: int, n: int):
        place = partial(
            attempt, wide, place_order, member_id=member, item_id=item_id, quantity=1,
            caller=f"member:{member}", caller_ref=f"k{n}", payment_window=WINDOW,
            delivery_address="1 Nanjing Road",
        )  # fmt: skip
        if gate is None:
            return await place()
        tried = Attempt(item_id=item_id, member_id=member, quantity=1, key=f"m{member}:k{n}")
        try:
            return await through_gate(gate, wide, tried, now=NOW, place=place)
        except DomainError as error:
            return error.code

    results = await everyone(*(one(m, n) for m in members for n in range(TRIES)))
    return Counter(r if isinstance(r, ErrorCode) else "ORDER" for r in results)


async def _check_sold_exactly(uow_factory, item_id: int, members: list[int]) -> None:
    async with uow_factory() as uow:
        assert (await uow.session.get(MallItem, item_id)).stock_remaining == 0
        per_member = dict(
            (
                await uow.session.execute(
                    select(MallOrder.member_id, func.sum(MallOrder.quantity)).group_by(
                        MallOrder.member_id
                    )
                )
            ).all()
        )
        charged = await uow.session.scalar(
            select(func.count()).where(PointsTransaction.kind == "MALL_ORDER")
        )
    assert sum(per_member.values()) == STOCK and max(per_member.values()) <= LIMIT
    assert charged == STOCK  # refusals charged nothing
    await assert_clean(uow_factory)


async def test_a_flash_sale_through_the_gate_sells_exactly_its_stock(
    units, uow_factory, wide, redis_client, redis_prefix
):
    flash = await _flash(uow_factory)
    members = await _buyers(uow_factory, MEMBERS)
    gate = FlashGate(redis_client, prefix=redis_prefix)
    outcome = await _sell(wide, gate, flash.id, members)
    assert outcome["ORDER"] == STOCK and sum(outcome.values()) == MEMBERS * TRIES
    assert set(outcome) <= {"ORDER", ErrorCode.OUT_OF_STOCK, ErrorCode.LIMIT_REACHED}
    await _check_sold_exactly(uow_factory, flash.id, members)
    # the gate's own count agrees: nothing left to admit
    assert await redis_client.hget(f"{redis_prefix}flash:{{{flash.id}}}", "stock") == "0"


async def test_with_redis_down_the_database_alone_sells_exactly_its_stock(units, uow_factory, wide):
    flash = await _flash(uow_factory)
    members = await _buyers(uow_factory, MEMBERS)

    class Down:
        def register_script(self, script):
            async def fail(**kwargs):
                raise ConnectionError("redis is down")

            return fail

    outcome = await _sell(wide, FlashGate(Down(), prefix="x:"), flash.id, members)
    assert outcome["ORDER"] == STOCK and sum(outcome.values()) == MEMBERS * TRIES
    await _check_sold_exactly(uow_factory, flash.id, members)


async def test_the_gate_rebuilt_from_the_database_counts_earlier_orders(
    units, uow_factory, wide, redis_client, redis_prefix
):
    flash = await _flash(uow_factory)
    member = (await _buyers(uow_factory, 1))[0]
    for _ in range(LIMIT):
        await order(uow_factory, member, flash.id)  # before the gate had any state
    gate = FlashGate(redis_client, prefix=redis_prefix)
    tried = Attempt(item_id=flash.id, member_id=member, quantity=1, key="late")
    with pytest.raises(DomainError) as refused:
        await through_gate(gate, wide, tried, now=NOW, place=lambda: pytest.fail("no database"))
    assert refused.value.code == ErrorCode.LIMIT_REACHED
    state = await redis_client.hgetall(f"{redis_prefix}flash:{{{flash.id}}}")
    assert state["stock"] == str(STOCK - LIMIT) and state["limit"] == str(LIMIT)


async def test_a_payment_racing_the_expiry_job_one_wins(units, uow_factory, wide, clock):
    gift = await item(
        uow_factory, cash_price="10.00", points_price=200, stock=10, per_member_limit=None
    )
    member = await member_with(uow_factory)
    placed = [await order(uow_factory, member, gift.id) for _ in range(8)]
    clock.advance(minutes=16)  # every one past its window, not yet expired by the job
    pay = [
        attempt(wide, confirm_payment, order_id=o.id, payment_ref=f"P{o.id}", amount="10.00",
                caller="pay")
        for o in placed
    ]  # fmt: skip
    expire = [attempt(wide, expire_order, o.id) for o in placed]
    results = await everyone(*[call for pair in zip(pay, expire, strict=True) for call in pair])
    async with uow_factory() as uow:
        statuses = [(await uow.session.get(MallOrder, o.id)).status for o in placed]
        paid = statuses.count("PAID")
        for n, status in enumerate(statuses):
            paid_result, expired = results[2 * n], results[2 * n + 1]
            if status == "PAID":
                assert expired is False and not isinstance(paid_result, ErrorCode)
            else:
                assert status == "EXPIRED" and expired is True
                assert paid_result == ErrorCode.WRONG_STATE
        assert (await balance(uow, member)).available == 2000 - 200 * paid
        assert (await uow.session.get(MallItem, gift.id)).stock_remaining == 10 - paid
    await assert_clean(uow_factory)


async def test_a_cancel_racing_the_write_off_of_its_voucher_one_wins(units, uow_factory, wide):
    voucher = await voucher_item(uow_factory)
    member = await member_with(uow_factory)
    placed = [await order(uow_factory, member, voucher.id) for _ in range(6)]
    async with uow_factory() as uow:
        codes = {
            row.mall_order_id: row.code for row in await uow.session.scalars(select(MemberRight))
        }
    calls = []
    for o in placed:
        calls.append(attempt(wide, cancel_order, order_id=o.id, caller="member", member_id=member))
        calls.append(
            attempt(
                wide, write_off_voucher, code=codes[o.id], unit_id=units["TOURISM"], caller="till"
            )
        )
    results = await everyone(*calls)
    async with uow_factory() as uow:
        for n, o in enumerate(placed):
            cancelled, written_off = results[2 * n], results[2 * n + 1]
            status = (await uow.session.get(MallOrder, o.id)).status
            held = await uow.session.scalar(
                select(MemberRight).where(MemberRight.mall_order_id == o.id)
            )
            if status == "CANCELLED":
                assert held.status == "REVOKED" and written_off == ErrorCode.VOUCHER_REVOKED
            else:
                assert status == "FULFILLED" and held.status == "USED"
                assert cancelled == ErrorCode.VOUCHER_USED
        kept = await uow.session.scalar(select(func.count()).where(MallOrder.status == "FULFILLED"))
        assert (await balance(uow, member)).available == 2000 - 200 * kept
    await assert_clean(uow_factory)
