"""The mall at the same moment on real PostgreSQL and Redis: a flash sale sells exactly its
stock with each member's limit held, through the Redis gate and on the database alone; a
payment racing the expiry job, a cancel racing the write-off of the order's voucher: one wins,
and no points are lost either way."""

from __future__ import annotations

import asyncio
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
            attempt,
            wide,
            place_order,
            member_id=member,
            item_id=item_id,
            quantity=1,
            caller=f"member:{member}",
            caller_ref=f"k{n}",
            payment_window=WINDOW,
            delivery_address="1 Nanjing Road",
        )
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


async def test_simultaneous_draws_never_give_more_than_a_prizes_stock_or_budget(
    units, uow_factory, wide
):
    """120 draws at once by 40 members (daily limit 2) on a ticket with 3 in stock and a 50
    points prize with a budget of 120 (two prizes' worth), every roll landing on one of them."""
    from app.domain.mall.lottery import PrizeSpec, create_lottery, draw
    from app.domain.rights.catalogue import RightSpec, create_right
    from app.models import LotteryDraw, LotteryPrize

    async with uow_factory() as uow:
        spec = RightSpec("TOURISM", "Boat ticket", "TICKET", 30, face_value="50.00")
        ticket = (await create_right(uow, spec=spec, actor="ops:test")).id
        lottery = await create_lottery(
            uow,
            name="Rush",
            cost_points=10,
            daily_limit=2,
            actor="ops:test",
            prizes=[
                PrizeSpec("Boat ticket", chance_ppm=500_000, right_id=ticket, stock=3),
                PrizeSpec("50 points", chance_ppm=500_000, points=50, budget_points=120),
                PrizeSpec("Thank you", fallback=True),
            ],
        )
    members = await _buyers(uow_factory, 40)  # 100 points each: enough for every try

    def one(member: int, n: int):
        rolled = 0 if (member + n) % 2 else 600_000  # the ticket, or the points
        return attempt(
            wide,
            draw,
            lottery_id=lottery.id,
            member_id=member,
            caller=f"member:{member}",
            roll=lambda _: rolled,
        )

    results = await everyone(*(one(m, n) for m in members for n in range(3)))
    refused = Counter(r for r in results if isinstance(r, ErrorCode))
    assert refused == {ErrorCode.LIMIT_REACHED: 40}  # each member's third draw
    async with uow_factory() as uow:
        draws = list(await uow.session.scalars(select(LotteryDraw)))
        prizes = {
            p.name: p
            for p in await uow.session.scalars(
                select(LotteryPrize).where(LotteryPrize.lottery_id == lottery.id)
            )
        }
        issued = await uow.session.scalar(
            select(func.count()).where(MemberRight.right_id == ticket)
        )
        credited = await uow.session.scalar(
            select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
                PointsTransaction.kind == "LOTTERY_PRIZE"
            )
        )
        per_member = Counter(d.member_id for d in draws)
        for member in members:
            won = sum(50 for d in draws if d.member_id == member and d.prize_transaction_id)
            assert (await balance(uow, member)).available == 100 - 10 * per_member[member] + won
    given = Counter(d.prize_id for d in draws)
    assert len(draws) == 80 and max(per_member.values()) == 2
    assert given[prizes["Boat ticket"].id] == issued == 3  # exactly its stock, never more
    assert given[prizes["50 points"].id] == 2 and credited == 100  # within the budget of 120
    assert given[prizes["Thank you"].id] == 75  # the rest: the fallback
    assert (prizes["Boat ticket"].stock_remaining, prizes["50 points"].budget_points) == (0, 20)
    await assert_clean(uow_factory)


async def test_draws_racing_a_new_odds_table_record_the_version_they_used(units, uow_factory, wide):
    from app.domain.mall.lottery import PrizeSpec, create_lottery, draw, pick
    from app.domain.mall.odds import publish_odds
    from app.models import LotteryDraw, LotteryOdds

    async with uow_factory() as uow:
        lottery = await create_lottery(
            uow,
            name="Odds",
            cost_points=10,
            daily_limit=10,
            actor="ops:test",
            prizes=[
                PrizeSpec("5 points", chance_ppm=500_000, points=5),
                PrizeSpec("Thank you", fallback=True),
            ],
        )
    members = await _buyers(uow_factory, 20)
    draws = [
        attempt(wide, draw, lottery_id=lottery.id, member_id=m, caller="m", roll=lambda _: 300_000)
        for m in members
        for _ in range(2)
    ]
    tables = [
        attempt(
            wide,
            publish_odds,
            lottery_id=lottery.id,
            actor="ops:test",
            prizes=[
                PrizeSpec(f"{n} points", chance_ppm=100_000 * n, points=n),
                PrizeSpec("Thank you", fallback=True),
            ],
        )
        for n in (1, 2)
    ]
    results = await everyone(*draws[:20], *tables, *draws[20:])
    assert not any(isinstance(r, ErrorCode) for r in results), results
    async with uow_factory() as uow:
        recorded = list(await uow.session.scalars(select(LotteryDraw)))
        odds = {
            row.version: row.odds
            for row in await uow.session.scalars(
                select(LotteryOdds).where(LotteryOdds.lottery_id == lottery.id)
            )
        }
    assert sorted(odds) == [1, 2, 3] and len(recorded) == 40
    for d in recorded:  # each draw replays against the table it recorded
        assert pick(odds[d.odds_version], d.roll) == d.rolled_prize_id
        assert d.rolled_prize_id in {row["prizeId"] for row in odds[d.odds_version]}
    await assert_clean(uow_factory)


async def test_a_receipt_a_cancel_and_two_completion_jobs_at_once_complete_each_order_once(
    units, uow_factory, wide, sessions, clock
):
    from app.domain.mall.completion import confirm_receipt
    from app.domain.mall.orders import ship_order
    from app.jobs.mall import complete_mall_orders
    from app.models import OutboxEvent
    from tests.conftest import TZ

    gift = await item(uow_factory, per_member_limit=None, stock=20, points_price=200)
    member = await member_with(uow_factory)
    placed = [await order(uow_factory, member, gift.id) for _ in range(8)]
    for o in placed:
        async with uow_factory() as uow:
            await ship_order(uow, order_id=o.id, carrier="SF", tracking_number="SF", unit_id=None)
    clock.advance(days=8)
    calls = [
        complete_mall_orders(sessions, now=clock.now, tz=TZ, auto_days=7, batch=3),
        complete_mall_orders(sessions, now=clock.now, tz=TZ, auto_days=7, batch=3),
    ]
    for o in placed:
        calls.append(attempt(wide, confirm_receipt, order_id=o.id, caller="m", member_id=member))
        calls.append(attempt(wide, cancel_order, order_id=o.id, caller="ops:cs", reason="r"))
    results = await everyone(*calls)
    jobs = results[0].orders + results[1].orders
    async with uow_factory() as uow:
        events = [
            (e.payload["orderId"], e.payload["status"])
            for e in await uow.session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.type == "MALL_ORDER_CHANGED")
                .order_by(OutboxEvent.id)
            )
        ]
        statuses = [(await uow.session.get(MallOrder, o.id)).status for o in placed]
        assert (await balance(uow, member)).available == 2000  # every order cancelled at last
    completed = Counter(order_id for order_id, status in events if status == "COMPLETED")
    assert max(completed.values(), default=0) == 1 and jobs <= sum(completed.values())
    assert statuses == ["CANCELLED"] * 8  # ops may cancel a completed gift: each was
    for o in placed:  # the cancel ends it: nothing completes a cancelled order
        mine = [status for order_id, status in events if order_id == o.id]
        assert mine[-1] == "CANCELLED" and mine.count("CANCELLED") == 1
    await assert_clean(uow_factory)


_WAITING = """SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'"""


async def _waiting_on_locks(uow_factory) -> int:
    async with uow_factory() as uow:
        return int(await (await uow.driver()).fetchval(_WAITING))


async def test_an_order_held_up_on_its_points_does_not_hold_up_the_item(units, uow_factory, wide):
    """The stock is an order's last statement: an order waiting on its member's points holds
    no lock on the item's row, so another member's order of the same item goes through
    meanwhile (a flash sale's orders queue on that row for the commit only)."""
    gift = await item(uow_factory, points_price=20, stock=5, per_member_limit=None)
    slow, quick = await member_with(uow_factory), await member_with(uow_factory)
    async with wide() as holder:
        # Another transaction holds the slow member's lots: its redemption waits for them.
        await (await holder.driver()).execute(
            "SELECT 1 FROM points_lots WHERE member_id = $1 FOR UPDATE", slow
        )
        held = asyncio.create_task(order(wide, slow, gift.id))
        while await _waiting_on_locks(uow_factory) < 1:
            assert not held.done(), await held
            await asyncio.sleep(0.01)
        placed = asyncio.create_task(order(wide, quick, gift.id))
        while not placed.done():  # done, or waiting on a lock (the item's row) beside the slow
            if await _waiting_on_locks(uow_factory) > 1:
                break
            await asyncio.sleep(0.01)
        quick_went_through = placed.done()
    slow_order, quick_order = await held, await placed  # both finish once the lots are free
    assert quick_went_through, "the quick order waited for the slow one's item row"
    assert slow_order.status == quick_order.status == "PAID"
    async with uow_factory() as uow:
        assert (await uow.session.get(MallItem, gift.id)).stock_remaining == 3
    await assert_clean(uow_factory)


async def test_the_last_unit_taken_while_an_order_spends_its_points_refuses_it_charging_nothing(
    units, uow_factory, wide
):
    """An order that read the item in stock spends its points, then finds the last unit taken
    by an order committed meanwhile: OUT_OF_STOCK, its points and the stock untouched."""
    gift = await item(uow_factory, points_price=20, stock=1, per_member_limit=None)
    first, second = await member_with(uow_factory), await member_with(uow_factory)
    async with uow_factory() as uow:
        before = (await balance(uow, second)).available
    async with wide() as taking:
        await place_order(
            taking, member_id=first, item_id=gift.id, quantity=1, caller="member:first",
            payment_window=WINDOW, delivery_address="1 Nanjing Road",
        )  # fmt: skip
        # The second order reads one in stock (the first is not committed), spends its points
        # and then waits on the item's row the first holds.
        racing = asyncio.create_task(
            attempt(wide, place_order, member_id=second, item_id=gift.id, quantity=1,
                    caller="member:second", payment_window=WINDOW,
                    delivery_address="1 Nanjing Road")
        )  # fmt: skip
        while await _waiting_on_locks(uow_factory) < 1:
            assert not racing.done(), await racing
            await asyncio.sleep(0.01)
    assert await racing == ErrorCode.OUT_OF_STOCK
    async with uow_factory() as uow:
        assert (await balance(uow, second)).available == before
        assert (await uow.session.get(MallItem, gift.id)).stock_remaining == 0
        orders = await uow.session.scalar(
            select(func.count()).select_from(MallOrder).where(MallOrder.member_id == second)
        )
        assert orders == 0
    await assert_clean(uow_factory)
