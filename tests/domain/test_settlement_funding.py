"""Funding models: a pre-paid unit earns only from point blocks bought in advance, drawn down
earliest first; exhausted blocks refuse the earning with FUNDING_EXHAUSTED and record nothing.
A post-paid unit earns as before, and both settle the same way."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from app.domain.settlement.funding import (
    blocks_remaining,
    record_point_block,
    set_funding_model,
)
from app.domain.shared.errors import ErrorCode
from app.models import PointBlock, PointsLot, PointsTransaction
from tests.helpers import balance, earn, new_member, raises_code, spend


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
