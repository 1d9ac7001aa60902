"""Many transactions at once on real PostgreSQL, Jepsen "bank" style: one effect per key, no
balance below zero, totals that add up, and invariants that hold at every moment a reader looks.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.domain.ledger.audit import verify_ledger
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.idempotency import run_once
from app.models import MemberBalance, PointsTransaction, Posting
from tests.helpers import (
    assert_clean,
    cancel,
    earn,
    new_member,
    points_of,
    refund,
    spend,
)

pytestmark = pytest.mark.concurrency


async def attempt(uow_factory, fn, *args, **kwargs):
    """One call in its own unit of work; a refusal comes back as its error code."""
    try:
        async with uow_factory() as uow:
            return await fn(uow, *args, **kwargs)
    except DomainError as error:
        return error.code


async def everyone(*calls):
    """Run all calls at once and let every one finish before reporting any unexpected error
    (a failure must not leave transactions running into the next test)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def count(uow_factory, kind: str) -> int:
    async with uow_factory() as uow:
        return await uow.session.scalar(select(func.count()).where(PointsTransaction.kind == kind))


class Watcher:
    """Reads the ledger over and over while the writers run: every read must be consistent."""

    def __init__(self, uow_factory, member_ids: list[int]) -> None:
        self.uow_factory = uow_factory
        self.member_ids = member_ids
        self.reads = 0
        self.lowest = 0
        self.problems: list[str] = []
        self.done = asyncio.Event()

    async def run(self) -> None:
        while not self.done.is_set():
            async with self.uow_factory() as uow:
                self.problems += await verify_ledger(uow)
                lowest = await uow.session.scalar(
                    select(func.min(MemberBalance.available + MemberBalance.debt)).where(
                        MemberBalance.member_id.in_(self.member_ids)
                    )
                )
            self.lowest = min(self.lowest, lowest)
            self.reads += 1
            await asyncio.sleep(0)

    async def around(self, work):
        task = asyncio.create_task(self.run())
        try:
            return await work
        finally:
            self.done.set()
            await task


async def test_200_spends_of_a_tenth_never_overdraw(units, uow_factory, wide):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "5000", "HOTEL")  # 10,000 points
    watcher = Watcher(wide, [member])
    results = await watcher.around(
        everyone(*(attempt(wide, spend, member, 1000, "10000", "HOTEL") for _ in range(200)))
    )
    succeeded = [r for r in results if isinstance(r, PointsTransaction)]
    refused = Counter(r for r in results if not isinstance(r, PointsTransaction))
    assert len(succeeded) == 10
    assert refused == {ErrorCode.INSUFFICIENT_POINTS: 190}
    assert len({tx.id for tx in succeeded}) == 10
    assert await points_of(uow_factory, member) == (0, 0, 0)
    assert await count(uow_factory, "SPEND") == 10
    assert watcher.reads > 0
    assert watcher.problems == []
    assert watcher.lowest >= 0
    await assert_clean(uow_factory)


async def test_concurrent_replays_of_one_key_record_one_spend(units, uow_factory, wide):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "500", "HOTEL")  # 1000 points
    payload = {"memberId": member, "points": 300, "orderRef": "TILL-1", "orderAmount": "100"}

    async def till_request():
        async with wide() as uow:

            async def effect():
                tx = await spend(uow, member, 300, "100", "HOTEL", ref="TILL-1")
                return {"transactionId": tx.id, "points": tx.points}

            return await run_once(
                uow,
                caller="partner:HOTEL",
                key="retry-me",
                operation="spendPoints",
                payload=payload,
                effect=effect,
            )

    outcomes = await everyone(*(till_request() for _ in range(20)))
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.result["transactionId"] for o in outcomes} == {outcomes[0].result["transactionId"]}
    assert await count(uow_factory, "SPEND") == 1
    assert await points_of(uow_factory, member) == (700, 0, 0)
    await assert_clean(uow_factory)


async def test_concurrent_earns_for_one_order_record_it_once(units, uow_factory, wide):
    async with uow_factory() as uow:
        member = await new_member(uow)
    results = await everyone(
        *(attempt(wide, earn, member, "100", "HOTEL", ref="RECEIPT-7") for _ in range(10))
    )
    assert sum(isinstance(r, PointsTransaction) for r in results) == 1
    assert Counter(r for r in results if not isinstance(r, PointsTransaction)) == {
        ErrorCode.DUPLICATE: 9
    }
    assert await points_of(uow_factory, member) == (200, 0, 0)
    await assert_clean(uow_factory)


async def test_concurrent_earns_on_many_members(units, uow_factory, wide):
    async with uow_factory() as uow:
        members = [await new_member(uow) for _ in range(20)]
    jobs = [
        attempt(wide, earn, member, str(10 + i), unit)
        for member in members
        for i, unit in enumerate(["HOTEL", "OFFICE", "MALL", "TOURISM", "HOTEL"] * 2)
    ]
    results = await everyone(*jobs)
    assert all(isinstance(r, PointsTransaction) for r in results)
    issued = sum(r.points for r in results)
    async with uow_factory() as uow:
        total_issued = await uow.session.scalar(
            select(func.sum(Posting.points)).where(Posting.account_kind == "ISSUED")
        )
        held = await uow.session.scalar(
            select(func.sum(MemberBalance.available + MemberBalance.pending))
        )
    assert total_issued == -issued
    assert held == issued
    for member in members:
        mine = sum(r.points for r in results if r.member_id == member)
        available, pending, _ = await points_of(uow_factory, member)
        assert available + pending == mine
    await assert_clean(uow_factory)


async def test_concurrent_refunds_and_cancels_take_effect_once(units, uow_factory, wide):
    async with uow_factory() as uow:
        member = await new_member(uow)
        order = await earn(uow, member, "1000", "HOTEL")  # 2000
        sale = await spend(uow, member, 500, "1000", "HOTEL")
    refunds = await everyone(*(attempt(wide, refund, order.id) for _ in range(10)))
    cancels = await everyone(*(attempt(wide, cancel, sale.id) for _ in range(10)))
    assert Counter(type(r).__name__ if not isinstance(r, str) else r for r in refunds) == {
        "PointsTransaction": 1,
        ErrorCode.ALREADY_REVERSED: 9,
    }
    assert Counter(type(r).__name__ if not isinstance(r, str) else r for r in cancels) == {
        "PointsTransaction": 1,
        ErrorCode.ALREADY_REVERSED: 9,
    }
    # earned 2000, spent 500 and got it back, refunded 2000 (500 of it first as debt, then repaid)
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_bank_workload_keeps_totals(units, uow_factory, wide):
    """Earn, spend, refund and cancel at once on a few members; totals must add up."""
    async with uow_factory() as uow:
        members = [await new_member(uow) for _ in range(3)]
        orders = [await earn(uow, m, "1000", "HOTEL") for m in members for _ in range(3)]
    async with uow_factory() as uow:
        sales = [await spend(uow, m, 400, "10000", "HOTEL") for m in members]

    work = []
    for i in range(120):
        member = members[i // 6 % 3]  # every member gets every kind of step
        match i % 6:
            case 0 | 1:
                work.append(attempt(wide, earn, member, f"{50 + i}.50", "HOTEL"))
            case 2 | 3:
                work.append(attempt(wide, spend, member, 300, "10000", "CONVENIENCE"))
            case 4:
                work.append(attempt(wide, refund, orders[i // 6 % len(orders)].id, "100"))
            case 5:
                work.append(attempt(wide, cancel, sales[i // 6 % len(sales)].id))
    watcher = Watcher(wide, members)
    results = await watcher.around(everyone(*work))
    assert watcher.reads > 0
    assert watcher.problems == []
    assert watcher.lowest >= 0  # available may be negative only by the debt it owes
    outcome = Counter(r.kind if isinstance(r, PointsTransaction) else r for r in results)
    assert outcome["EARN"] == 40
    assert outcome["EARN_REVERSAL"] == 20  # 2-3 refunds of 100 CNY on each 1000 CNY order
    assert outcome["SPEND_REVERSAL"] == len(sales)  # each sale cancelled exactly once
    assert outcome[ErrorCode.ALREADY_REVERSED] == 20 - len(sales)
    assert outcome["SPEND"] + outcome[ErrorCode.LIMIT_REACHED] == 40
    assert outcome["SPEND"] == 3 * (2000 // 300)  # each member up to the daily cap, no further
    assert set(outcome) == {
        "EARN",
        "SPEND",
        "EARN_REVERSAL",
        "SPEND_REVERSAL",
        ErrorCode.LIMIT_REACHED,
        ErrorCode.ALREADY_REVERSED,
    }

    # every member's balance is exactly what the recorded effects add up to
    async with uow_factory() as uow:
        for member in members:
            effects = await uow.session.scalar(
                select(func.sum(PointsTransaction.points)).where(
                    PointsTransaction.member_id == member
                )
            )
            row = await uow.session.get(MemberBalance, member)
            assert row.available + row.pending == effects
        # points are neither made nor lost: every posting has its counter-posting
        assert await uow.session.scalar(select(func.sum(Posting.points))) == 0
    await assert_clean(uow_factory)
