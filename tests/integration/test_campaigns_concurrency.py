"""Campaign limits under concurrency on real PostgreSQL: a budget is never overspent and a
per-member cap never exceeded, however many earns (and refunds) race for them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.models import PointsLot
from tests.campaign_helpers import add_campaign, spent_of, usage
from tests.helpers import assert_clean, earn, new_member, refund

pytestmark = pytest.mark.concurrency


async def everyone(*calls):
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def earn_alone(uow_factory, member: int, amount: str = "100", ref: str | None = None):
    async with uow_factory() as uow:
        return await earn(uow, member, amount, "HOTEL", ref=ref)


async def bonus_points(uow_factory, campaign_id: int) -> int:
    """Points in the campaign's lots as issued (refunds aside)."""
    async with uow_factory() as uow:
        total = await uow.session.scalar(
            select(func.coalesce(func.sum(PointsLot.points), 0)).where(
                PointsLot.campaign_id == campaign_id
            )
        )
    return int(total)


@pytest.mark.parametrize(("budget", "members"), [(1000, 40), (10_000, 40)])
async def test_a_budget_is_never_overspent_by_concurrent_earns(
    units, uow_factory, wide, budget, members
):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="RACE", budget=budget, funder="HOTEL")
        ids = [await new_member(uow) for _ in range(members)]
    txs = await everyone(*(earn_alone(wide, member) for member in ids))  # each wants +200
    demand = 200 * members
    given = sum(tx.points - 200 for tx in txs)
    assert given == min(budget, demand)
    assert await bonus_points(uow_factory, cid) == given
    assert await spent_of(uow_factory, cid) == given
    assert all(0 <= tx.points - 200 <= 200 for tx in txs)
    await assert_clean(uow_factory)


async def test_a_per_member_cap_holds_under_concurrent_orders_of_one_member(
    units, uow_factory, wide
):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="CAP", per_member_cap=500)
        member = await new_member(uow)
    txs = await everyone(*(earn_alone(wide, member) for _ in range(12)))  # 12 x 200 wanted
    assert sum(tx.points - 200 for tx in txs) == 500
    assert await usage(uow_factory, cid, member) == 500
    await assert_clean(uow_factory)


async def test_refunds_racing_earns_keep_the_budget_exact(units, uow_factory, wide):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="LOOP", budget=2000)
        first = [await new_member(uow) for _ in range(10)]
        second = [await new_member(uow) for _ in range(30)]
    earned = await everyone(*(earn_alone(wide, member) for member in first))  # 10 x 200
    assert await spent_of(uow_factory, cid) == 2000

    async def refund_alone(tx_id: int):
        async with wide() as uow:
            return await refund(uow, tx_id)

    results = await everyone(
        *(refund_alone(tx.id) for tx in earned),
        *(earn_alone(wide, member) for member in second),
    )
    refunds, later = results[: len(earned)], results[len(earned) :]
    returned = sum(-back.points - 200 for back in refunds)
    assert returned == 2000
    given_later = sum(tx.points - 200 for tx in later)
    assert given_later <= 2000
    assert await spent_of(uow_factory, cid) == given_later
    await assert_clean(uow_factory)
