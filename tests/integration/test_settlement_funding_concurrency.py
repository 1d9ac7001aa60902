"""Pre-paid point blocks under concurrent earnings and refunds on real PostgreSQL: a block is
never drawn below zero nor given back above what it was bought with, each block's remaining
points are what it was bought with less its recorded net draws, and the blocks' net draws are
exactly the points the unit's ledger account says it has issued."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.domain.ledger.accounts import Account
from app.domain.settlement.funding import record_point_block, set_funding_model
from app.domain.shared.errors import ErrorCode
from app.domain.shared.units import find_unit
from app.models import PointBlock, PointBlockDraw, Posting
from tests.helpers import assert_clean, earn, new_member, refund
from tests.integration.test_concurrency import attempt, everyone

pytestmark = pytest.mark.concurrency


async def blocks_and_issued(uow_factory) -> tuple[list[tuple[int, int, int]], int]:
    """Per block (points, remaining, net draws recorded), and HOTEL's net issued points."""
    async with uow_factory() as uow:
        hotel = await find_unit(uow, "HOTEL")
        drawn = dict(
            (
                await uow.session.execute(
                    select(PointBlockDraw.block_id, func.sum(PointBlockDraw.points)).group_by(
                        PointBlockDraw.block_id
                    )
                )
            ).all()
        )
        blocks = [
            (b.points, b.remaining, int(drawn.get(b.id, 0)))
            for b in await uow.session.scalars(select(PointBlock).order_by(PointBlock.id))
        ]
        issued = await uow.session.scalar(
            select(func.coalesce(func.sum(Posting.points), 0)).where(
                Posting.account_kind == Account.ISSUED.value, Posting.account_owner == hotel.id
            )
        )
    return blocks, -int(issued)


async def test_concurrent_earnings_and_refunds_never_over_or_under_draw_a_block(
    units, uow_factory, wide, clock
):
    async with uow_factory() as uow:
        await set_funding_model(uow, business_unit="HOTEL", model="PRE_PAID", actor="finance:1")
    for _ in range(3):
        async with uow_factory() as uow:
            await record_point_block(
                uow, business_unit="HOTEL", points=1000, amount="10.00", actor="finance:1"
            )
        clock.advance(seconds=1)
    refunding, earning = [], []
    for _ in range(12):  # 12 x 200 points drawn: 2,400 of the 3,000
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
            refunding.append((await earn(uow, member, "100", unit="HOTEL")).id)
    for _ in range(20):
        async with uow_factory() as uow:
            earning.append(await new_member(uow, "HOTEL"))

    calls = [attempt(wide, refund, tx_id) for tx_id in refunding]
    calls += [attempt(wide, earn, member, "100", unit="HOTEL") for member in earning]
    order = list(range(len(calls)))
    order = order[::2] + order[1::2]  # refunds and earnings interleaved
    results = await everyone(*(calls[i] for i in order))

    refused = [r for r in results if r == ErrorCode.FUNDING_EXHAUSTED]
    assert all(not isinstance(r, ErrorCode) or r == ErrorCode.FUNDING_EXHAUSTED for r in results)
    earned = len(earning) - len(refused)
    blocks, issued = await blocks_and_issued(uow_factory)
    for points, remaining, drawn in blocks:
        assert 0 <= remaining <= points
        assert remaining == points - drawn
    assert issued == earned * 200  # the refunded earnings gave all theirs back
    assert sum(points - remaining for points, remaining, _ in blocks) == issued
    # 3,000 points: after every refund, 15 earnings of 200 fit; a refusal only when the
    # blocks were short at that moment
    assert earned >= 3 and earned * 200 <= 3000
    await assert_clean(uow_factory)

    # once all is settled, the room the refunds made is there for whoever earns next
    left = 3000 - issued
    fits = left // 200
    more = []
    for _ in range(fits + 1):
        async with uow_factory() as uow:
            more.append(await new_member(uow, "HOTEL"))
    outcome = await asyncio.gather(
        *(attempt(wide, earn, member, "100", unit="HOTEL") for member in more)
    )
    assert sum(1 for r in outcome if r == ErrorCode.FUNDING_EXHAUSTED) == 1
    blocks, issued = await blocks_and_issued(uow_factory)
    assert issued == 3000 - left % 200
    assert all(remaining == points - drawn for points, remaining, drawn in blocks)
