"""Funding models: a pre-paid unit earns only from point blocks bought in advance, drawn down
earliest first; exhausted blocks refuse the earning with FUNDING_EXHAUSTED and record nothing.
A post-paid unit earns as before, and both settle the same way. A refund gives a pre-paid
unit's points back to the blocks the earning drew them from; the funding model has effective
dates, so a statement of a past period shows the model then."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app.domain.access.principals import Principal
from app.domain.settlement.funding import (
    blocks_remaining,
    point_blocks,
    record_point_block,
    set_funding_model,
)
from app.domain.settlement.periods import Period
from app.domain.settlement.statements import compute_open
from app.domain.shared.errors import ErrorCode, PermissionDenied
from app.domain.shared.units import find_unit
from app.models import BusinessUnit, PointBlock, PointBlockDraw, PointsLot, PointsTransaction
from tests.helpers import balance, earn, new_member, raises_code, refund, spend


async def prepaid_hotel(uow_factory, clock, *blocks: int) -> None:
    async with uow_factory() as uow:
        await set_funding_model(uow, business_unit="HOTEL", model="PRE_PAID", actor="finance:1")
    for points in blocks:
        async with uow_factory() as uow:
            await record_point_block(
                uow, business_unit="HOTEL", points=points, amount="10.00", actor="finance:1"
            )
        clock.advance(seconds=1)


async def counts(uow_factory) -> tuple[int, int]:
    async with uow_factory() as uow:
        txs = await uow.session.scalar(select(func.count()).select_from(PointsTransaction))
        lots = await uow.session.scalar(select(func.count()).select_from(PointsLot))
    return txs, lots


async def test_a_prepaid_unit_earns_from_its_blocks_earliest_first(units, uow_factory, clock):
    await prepaid_hotel(uow_factory, clock, 300, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "250", unit="HOTEL")  # 500 points
    async with uow_factory() as uow:
        remaining = (
            await uow.session.scalars(select(PointBlock.remaining).order_by(PointBlock.id))
        ).all()
        assert remaining == [0, 800]
        assert await blocks_remaining(uow, "HOTEL") == 800


async def test_exhausted_blocks_refuse_the_earning_and_record_nothing(units, uow_factory, clock):
    await prepaid_hotel(uow_factory, clock, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "300", unit="HOTEL")  # 600 points
    before = await counts(uow_factory)
    async with uow_factory() as uow:
        with raises_code(ErrorCode.FUNDING_EXHAUSTED, "businessUnitId"):
            await earn(uow, member, "300", unit="HOTEL")  # 600 more: 400 left
    assert await counts(uow_factory) == before
    async with uow_factory() as uow:
        assert await blocks_remaining(uow, "HOTEL") == 400
        assert (await balance(uow, member)).available == 600
        await earn(uow, member, "200", unit="HOTEL")  # exactly what is left
        assert await blocks_remaining(uow, "HOTEL") == 0


async def test_a_prepaid_unit_without_blocks_earns_nothing_and_others_are_unaffected(
    units, uow_factory, clock
):
    await prepaid_hotel(uow_factory, clock)
    async with uow_factory() as uow:
        member = await new_member(uow, "OFFICE")
    async with uow_factory() as uow:
        with raises_code(ErrorCode.FUNDING_EXHAUSTED):
            await earn(uow, member, "1", unit="HOTEL")
    async with uow_factory() as uow:
        await earn(uow, member, "1000", unit="OFFICE")  # post-paid
        await spend(uow, member, 500, "100000", unit="OFFICE")
        assert (await balance(uow, member)).available == 500


async def test_funding_inputs_are_checked(units, uow_factory):
    async with uow_factory() as uow:
        with raises_code(ErrorCode.INVALID_INPUT, "model"):
            await set_funding_model(uow, business_unit="HOTEL", model="FREE", actor="f")
        with raises_code(ErrorCode.INVALID_INPUT, "points"):
            await record_point_block(uow, business_unit="HOTEL", points=0, amount="1.00", actor="f")
        with raises_code(ErrorCode.INVALID_INPUT, "amount"):
            await record_point_block(
                uow, business_unit="HOTEL", points=10, amount=Decimal("-1"), actor="f"
            )


async def remaining_per_block(uow_factory) -> list[int]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(select(PointBlock.remaining).order_by(PointBlock.id))
        return list(rows.all())


async def test_a_refund_gives_points_back_to_the_blocks_they_were_drawn_from_latest_first(
    units, uow_factory, clock
):
    await prepaid_hotel(uow_factory, clock, 300, 1000, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        first = await earn(uow, member, "250", unit="HOTEL")  # 500: 300 of block 1, 200 of 2
        await earn(uow, member, "100", unit="HOTEL")  # 200 more of block 2
    assert await remaining_per_block(uow_factory) == [0, 600, 1000]
    async with uow_factory() as uow:
        await refund(uow, first.id, "50")  # 100 points back: to block 2, drawn last
    assert await remaining_per_block(uow_factory) == [0, 700, 1000]
    async with uow_factory() as uow:
        await refund(uow, first.id)  # the other 400: 100 more to block 2, then 300 to block 1
    # exactly as drawn: block 2 keeps the second earning's 200, block 3 was never drawn
    assert await remaining_per_block(uow_factory) == [300, 800, 1000]
    async with uow_factory() as uow:
        net = await uow.session.execute(
            select(PointBlockDraw.block_id, func.sum(PointBlockDraw.points))
            .where(PointBlockDraw.earn_transaction_id == first.id)
            .group_by(PointBlockDraw.block_id)
        )
        assert {block: int(points) for block, points in net} == {1: 0, 2: 0}
        assert await blocks_remaining(uow, "HOTEL") == 2100


async def test_refunded_points_already_spent_go_back_to_the_blocks_too(units, uow_factory, clock):
    """A refund takes back from the funder what it issued (from the lot, and as the member's
    debt for points already spent): the blocks get all of it back, as the ISSUED account does."""
    await prepaid_hotel(uow_factory, clock, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        earned = await earn(uow, member, "500", unit="HOTEL")  # 1000 points: the whole block
        await spend(uow, member, 600, "100000", unit="OFFICE")
    async with uow_factory() as uow:
        await refund(uow, earned.id)  # 400 from the lot, 600 as debt
        assert (await balance(uow, member)).debt == 600
    assert await remaining_per_block(uow_factory) == [1000]


async def test_exhausted_blocks_take_earnings_again_once_a_refund_makes_room(
    units, uow_factory, clock
):
    await prepaid_hotel(uow_factory, clock, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        earned = await earn(uow, member, "500", unit="HOTEL")  # all 1000 points
    async with uow_factory() as uow:
        with raises_code(ErrorCode.FUNDING_EXHAUSTED, "businessUnitId"):
            await earn(uow, member, "100", unit="HOTEL")
    async with uow_factory() as uow:
        await refund(uow, earned.id, "100")  # 200 points back
    async with uow_factory() as uow:
        await earn(uow, member, "100", unit="HOTEL")  # 200: just what the refund gave back
    async with uow_factory() as uow:
        with raises_code(ErrorCode.FUNDING_EXHAUSTED):
            await earn(uow, member, "1", unit="HOTEL")
        assert await blocks_remaining(uow, "HOTEL") == 0


async def test_a_refund_of_a_post_paid_earning_touches_no_block(units, uow_factory, clock):
    await prepaid_hotel(uow_factory, clock, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "OFFICE")
        earned = await earn(uow, member, "1000", unit="OFFICE")  # post-paid
        await earn(uow, member, "100", unit="HOTEL")  # 200 of HOTEL's block
    async with uow_factory() as uow:
        await refund(uow, earned.id)
    assert await remaining_per_block(uow_factory) == [800]


FINANCE = Principal(kind="operator", subject="finance-1", roles=frozenset({"finance"}))


def unit_key(unit_id: int, *scopes: str) -> Principal:
    return Principal(kind="partner", subject="key-1", unit_id=unit_id, scopes=frozenset(scopes))


async def test_a_units_blocks_are_listed_for_finance_and_its_own_settlement_key(
    units, uow_factory, clock
):
    await prepaid_hotel(uow_factory, clock, 300, 1000)
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "250", unit="HOTEL")
    async with uow_factory() as uow:
        hotel = await find_unit(uow, "HOTEL")
        office = await find_unit(uow, "OFFICE")
        blocks = await point_blocks(uow, principal=FINANCE, business_unit="HOTEL")
        assert [(b.points, b.points - b.remaining, b.remaining) for b in blocks] == [
            (300, 300, 0),
            (1000, 200, 800),
        ]
        assert blocks[0].bought_at < blocks[1].bought_at
        assert [b.amount for b in blocks] == [Decimal("10.00")] * 2
        assert len(await point_blocks(uow, principal=FINANCE)) == 2
        assert await point_blocks(uow, principal=FINANCE, business_unit="GROUP") == []
        own = await point_blocks(uow, principal=unit_key(hotel.id, "settlement"))
        assert [b.id for b in own] == [b.id for b in blocks]
        for refused, asked in (
            (unit_key(office.id, "settlement"), "HOTEL"),
            (unit_key(hotel.id, "earn"), None),
            (Principal(kind="member", subject="1", member_id=member), None),
        ):
            try:
                await point_blocks(uow, principal=refused, business_unit=asked)
            except PermissionDenied:
                continue
            raise AssertionError(f"{refused} read HOTEL's blocks")


async def test_the_funding_model_has_effective_dates_and_statements_use_the_one_in_force(
    units, uow_factory, clock
):
    # now: 2026-06-15; HOTEL pre-paid from May 1st, back to post-paid from June 10th
    async with uow_factory() as uow:
        await set_funding_model(
            uow, business_unit="HOTEL", model="PRE_PAID", actor="f", effective_from=date(2026, 5, 1)
        )
        await set_funding_model(
            uow,
            business_unit="HOTEL",
            model="POST_PAID",
            actor="f",
            effective_from=date(2026, 6, 10),
        )
    async with uow_factory() as uow:
        hotel = await uow.session.get(BusinessUnit, (await find_unit(uow, "HOTEL")).id)
        assert hotel is not None and hotel.funding_model == "POST_PAID"  # in force today
        models = {}
        for month in (4, 5, 6):
            statement = await compute_open(uow, Period(2026, month))
            parties = {p.party: p.funding_model for p in statement.parties}
            models[month] = parties["HOTEL"]
            assert parties["GROUP"] is None and parties["OFFICE"] == "POST_PAID"
        assert models == {4: "POST_PAID", 5: "PRE_PAID", 6: "PRE_PAID"}  # on each first day
    async with uow_factory() as uow:
        # backdating a row before a later one changes what was in force then, not today's
        await set_funding_model(
            uow, business_unit="HOTEL", model="PRE_PAID", actor="f", effective_from=date(2026, 6, 5)
        )
        hotel = await uow.session.get(BusinessUnit, (await find_unit(uow, "HOTEL")).id)
        assert hotel is not None and hotel.funding_model == "POST_PAID"
        with raises_code(ErrorCode.INVALID_INPUT, "effectiveFrom"):
            await set_funding_model(
                uow,
                business_unit="HOTEL",
                model="PRE_PAID",
                actor="f",
                effective_from=date(2026, 6, 16),
            )
    async with uow_factory() as uow:
        # from today on: the earning checks it at once
        await set_funding_model(uow, business_unit="HOTEL", model="PRE_PAID", actor="f")
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        with raises_code(ErrorCode.FUNDING_EXHAUSTED):
            await earn(uow, member, "1", unit="HOTEL")
