"""The points lottery (app.domain.mall.lottery): draws cost points through the ledger, prizes
follow the published odds, run out into the fallback, respect the daily limit, and every draw
can be replayed against the odds version it recorded."""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import select

from app.domain.mall.lottery import PrizeSpec, create_lottery, draw, pick
from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.shared.errors import ErrorCode
from app.models import LotteryDraw, LotteryOdds, MemberRight
from tests.helpers import assert_clean, balance, ledger_snapshot, postings_of, raises_code
from tests.mall_helpers import member_with

# The chi-square statistic's 99.9th percentile with 2 degrees of freedom: a fair draw exceeds
# it one time in a thousand; the seeded source below makes the test deterministic anyway.
CHI2_2DF_999 = 13.816


async def _lottery(uow_factory, prizes, *, daily_limit: int = 1000, cost: int = 10):
    async with uow_factory() as uow:
        return await create_lottery(
            uow, name="Daily draw", cost_points=cost, daily_limit=daily_limit, prizes=prizes,
            actor="ops:test",
        )  # fmt: skip


async def _ticket(uow_factory) -> int:
    async with uow_factory() as uow:
        spec = RightSpec("TOURISM", "Boat ticket", "TICKET", 30, face_value="50.00")
        return (await create_right(uow, spec=spec, actor="ops:test")).id


async def test_observed_frequencies_match_the_published_odds(units, uow_factory):
    ticket = await _ticket(uow_factory)
    lottery = await _lottery(uow_factory, [
        PrizeSpec("Boat ticket", chance_ppm=100_000, right_id=ticket),
        PrizeSpec("5 points", chance_ppm=300_000, points=5),
        PrizeSpec("Thank you", fallback=True),
    ])  # fmt: skip
    member = await member_with(uow_factory, "3000.00")  # 6,000 points: 600 draws
    source = random.Random(20261203)
    draws = 600
    async with uow_factory() as uow:
        for _ in range(draws):
            await draw(
                uow, lottery_id=lottery.id, member_id=member, caller="m", roll=source.randrange
            )
    async with uow_factory() as uow:
        recorded = list(await uow.session.scalars(select(LotteryDraw)))
        odds = (await uow.session.get(LotteryOdds, (lottery.id, 1))).odds
        tickets = await uow.session.scalar(select(MemberRight.id).limit(1))
        assert (await balance(uow, member)).available == 6_000 - 10 * draws + 5 * sum(
            1 for d in recorded if d.prize_id == odds[1]["prizeId"]
        )
    assert [row["chancePpm"] for row in odds] == [100_000, 300_000, 600_000]
    assert all(d.odds_version == 1 and pick(odds, d.roll) == d.rolled_prize_id for d in recorded)
    observed = Counter(d.prize_id for d in recorded)
    chi2 = sum(
        (observed[row["prizeId"]] - draws * row["chancePpm"] / 1e6) ** 2
        / (draws * row["chancePpm"] / 1e6)
        for row in odds
    )
    assert chi2 < CHI2_2DF_999, (observed, chi2)
    assert tickets is not None and all(
        d.won == (d.prize_id != odds[2]["prizeId"]) for d in recorded
    )
    await assert_clean(uow_factory)


async def test_a_prize_out_of_stock_or_budget_gives_the_fallback(units, uow_factory):
    ticket = await _ticket(uow_factory)
    lottery = await _lottery(uow_factory, [
        PrizeSpec("Boat ticket", chance_ppm=500_000, right_id=ticket, stock=1),
        PrizeSpec("50 points", chance_ppm=500_000, points=50, budget_points=100),
        PrizeSpec("Thank you", fallback=True),
    ])  # fmt: skip
    member = await member_with(uow_factory)
    given = []
    for roll in (0, 0, 600_000, 600_000, 600_000):
        async with uow_factory() as uow:
            result = await draw(uow, lottery_id=lottery.id, member_id=member, caller="m",
                                roll=lambda n, r=roll: r)  # fmt: skip
            given.append(result.prize.name if result.prize else None)
            if result.draw.prize_transaction_id:
                postings = await postings_of(uow, result.draw.prize_transaction_id)
                assert postings[("ISSUED", 0)] == -50  # the group's marketing budget
    assert given == ["Boat ticket", None, "50 points", "50 points", None]
    await assert_clean(uow_factory)


async def test_the_daily_limit_and_a_short_balance_refuse_without_charging(
    units, uow_factory, clock
):
    lottery = await _lottery(uow_factory, [PrizeSpec("Thank you", fallback=True)], daily_limit=2)
    member = await member_with(uow_factory, "10.00")  # 20 points: two draws
    for _ in range(2):
        async with uow_factory() as uow:
            await draw(uow, lottery_id=lottery.id, member_id=member, caller="m")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.LIMIT_REACHED, "lotteryId"):
        async with uow_factory() as uow:
            await draw(uow, lottery_id=lottery.id, member_id=member, caller="m")
    clock.advance(days=1)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS):
        async with uow_factory() as uow:
            await draw(uow, lottery_id=lottery.id, member_id=member, caller="m")
    assert await ledger_snapshot(uow_factory) == before
    with raises_code(ErrorCode.INVALID_INPUT, "prizes"):
        await _lottery(uow_factory, [PrizeSpec("A", chance_ppm=600_000, points=1),
                                     PrizeSpec("B", chance_ppm=600_000, points=1),
                                     PrizeSpec("T", fallback=True)])  # fmt: skip
    await assert_clean(uow_factory)
