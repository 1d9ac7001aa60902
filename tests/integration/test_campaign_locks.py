"""Which earns wait for which on real PostgreSQL: a campaign without a budget is never locked or
written by an earn (a mall-wide double-points week does not serialise the mall's earns on one
row), while a budgeted one is locked until the earn commits. No sleeps: an open transaction is
held while the other side runs, and `asyncio.wait_for` fails a test instead of hanging it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.domain.campaigns.admin import update_campaign
from app.models import Campaign
from tests.campaign_helpers import add_campaign, spent_of, usage
from tests.conftest import NOW
from tests.helpers import assert_clean, earn, new_member, refund

pytestmark = pytest.mark.concurrency

LIMIT = 30  # seconds before a test fails instead of hanging


async def members_and_campaign(uow_factory, **campaign) -> tuple[int, int, int]:
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="DOUBLE-WEEK", **campaign)
        return cid, await new_member(uow), await new_member(uow)


async def row_version(engine, cid: int) -> tuple[str, str]:
    """(xmin, ctid) of the campaign's row: an UPDATE makes a new version, a read does not."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT xmin::text, ctid::text FROM campaigns WHERE id = :id"), {"id": cid}
            )
        ).one()
    return row[0], row[1]


async def row_lock_free(engine, cid: int) -> bool:
    """Whether an UPDATE of the campaign row could take its lock right now (NOWAIT)."""
    async with engine.connect() as conn:
        try:
            await conn.execute(
                text("SELECT id FROM campaigns WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                {"id": cid},
            )
        except DBAPIError as error:
            assert getattr(error.orig, "pgcode", None) == "55P03", error  # lock_not_available
            return False
        finally:
            await conn.rollback()
    return True


async def column(uow_factory, cid: int) -> int:
    async with uow_factory() as uow:
        return (await uow.session.get(Campaign, cid)).spent


async def earn_committed(uow_factory, member: int) -> int:
    async with uow_factory() as uow:
        return (await earn(uow, member, "100", "HOTEL")).points


async def waiting_on_campaigns(engine) -> int:
    """Backends of this database waiting for a lock in a statement that locks campaigns."""
    async with engine.connect() as conn:
        return await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query ILIKE '%FROM campaigns%FOR UPDATE%'"
            )
        )


async def until_waiting(engine) -> None:
    while True:
        if await waiting_on_campaigns(engine):
            return
        await asyncio.sleep(0.01)


async def test_an_earn_with_an_unbudgeted_campaign_neither_locks_nor_writes_its_row(
    units, uow_factory, engine
):
    cid, first, second = await members_and_campaign(uow_factory)
    version = await row_version(engine, cid)
    async with uow_factory() as held:  # the first member's earn, not committed yet
        assert (await earn(held, first, "100", "HOTEL")).points == 400
        assert await row_lock_free(engine, cid)
        # another member's earn on the same campaign completes while the first is open
        assert await asyncio.wait_for(earn_committed(uow_factory, second), LIMIT) == 400
    assert await row_version(engine, cid) == version  # never updated
    assert await column(uow_factory, cid) == 0  # the column is not kept
    assert (await usage(uow_factory, cid, first), await usage(uow_factory, cid, second)) == (
        200,
        200,
    )
    assert await spent_of(uow_factory, cid) == 400
    await assert_clean(uow_factory)


async def test_an_earn_with_a_budgeted_campaign_holds_its_row_until_it_commits(
    units, uow_factory, engine
):
    cid, first, second = await members_and_campaign(uow_factory, budget=300)
    version = await row_version(engine, cid)
    async with uow_factory() as held:
        assert (await earn(held, first, "100", "HOTEL")).points == 400  # 200 of the 300
        assert not await row_lock_free(engine, cid)
        other = asyncio.create_task(earn_committed(uow_factory, second))
        await asyncio.wait_for(until_waiting(engine), LIMIT)  # blocked on the campaign's lock
        assert not other.done()
    # the first commits; the second sees what is left of the budget
    assert await asyncio.wait_for(other, LIMIT) == 200 + 100
    assert await row_version(engine, cid) != version
    assert await column(uow_factory, cid) == 300
    assert await spent_of(uow_factory, cid) == 300
    await assert_clean(uow_factory)


async def test_an_earn_waiting_on_a_budget_being_removed_prices_with_no_budget(
    units, uow_factory, engine
):
    cid, member, _ = await members_and_campaign(uow_factory, budget=150)
    async with uow_factory() as admin:  # the operator's change, not committed yet
        await update_campaign(admin, campaign_id=cid, changes={"budget": None}, actor="op:test")
        pending = asyncio.create_task(earn_committed(uow_factory, member))
        await asyncio.wait_for(until_waiting(engine), LIMIT)  # it read the budget, then waits
    # under the lock the earn sees the campaign as it is now: no budget, nothing cut
    assert await asyncio.wait_for(pending, LIMIT) == 200 + 200
    assert await column(uow_factory, cid) == 0  # not kept without a budget
    assert await spent_of(uow_factory, cid) == 200
    await assert_clean(uow_factory)


async def test_a_refund_of_an_unbudgeted_bonus_leaves_the_campaign_row_alone(
    units, uow_factory, engine
):
    cid, first, second = await members_and_campaign(uow_factory)
    async with uow_factory() as uow:
        order = await earn(uow, first, "100", "HOTEL")
    version = await row_version(engine, cid)
    async with uow_factory() as held:  # the refund, not committed yet
        assert (await refund(held, order.id)).points == -400
        assert await row_lock_free(engine, cid)
        assert await asyncio.wait_for(earn_committed(uow_factory, second), LIMIT) == 400
    assert await row_version(engine, cid) == version
    assert (await usage(uow_factory, cid, first), await spent_of(uow_factory, cid)) == (0, 200)
    await assert_clean(uow_factory)


async def waiting_on_a_gate(engine) -> int:
    """Backends of this database waiting for an advisory lock (a campaign's budget gate)."""
    async with engine.connect() as conn:
        return await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        )


async def until_waiting_on_a_gate(engine) -> None:
    while True:
        if await waiting_on_a_gate(engine):
            return
        await asyncio.sleep(0.01)


async def opening_campaign(uow_factory) -> tuple[int, int]:
    """A double-points campaign without a budget starting at NOW, and a member."""
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="OPENING", starts_at=NOW)
        return cid, await new_member(uow)


async def add_budget(uow_factory, cid: int, budget: int) -> None:
    async with uow_factory(BEFORE_START) as uow:  # the operator's clock: not started yet
        await update_campaign(uow, campaign_id=cid, changes={"budget": budget}, actor="op:test")


BEFORE_START, AFTER_START = NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)


async def test_a_budget_added_as_the_campaign_starts_counts_an_earn_under_way(
    units, uow_factory, engine
):
    cid, member = await opening_campaign(uow_factory)
    async with uow_factory(AFTER_START) as held:  # a till whose clock says it has started
        assert (await earn(held, member, "100", "HOTEL")).points == 400
        adding = asyncio.create_task(add_budget(uow_factory, cid, 1000))
        await asyncio.wait_for(until_waiting_on_a_gate(engine), LIMIT)
        assert not adding.done()  # it waits for the earn instead of counting without it
    await asyncio.wait_for(adding, LIMIT)
    assert await column(uow_factory, cid) == 200  # the earn's bonus, counted
    assert await spent_of(uow_factory, cid) == 200
    await assert_clean(uow_factory)  # verify_ledger: spent equals what its members received


async def test_an_earn_that_read_no_budget_sees_the_one_added_meanwhile(units, uow_factory, engine):
    cid, member = await opening_campaign(uow_factory)
    async with uow_factory(BEFORE_START) as admin:  # the operator's change, not committed yet
        await update_campaign(admin, campaign_id=cid, changes={"budget": 150}, actor="op:test")

        async def earn_after_start() -> int:
            async with uow_factory(AFTER_START) as uow:  # reads the campaign without budget
                return (await earn(uow, member, "100", "HOTEL")).points

        pending = asyncio.create_task(earn_after_start())
        await asyncio.wait_for(until_waiting_on_a_gate(engine), LIMIT)
        assert not pending.done()
    # once the budget is committed the earn reads it: cut to it and counted in `spent`
    assert await asyncio.wait_for(pending, LIMIT) == 200 + 150
    assert await column(uow_factory, cid) == 150
    assert await spent_of(uow_factory, cid) == 150
    await assert_clean(uow_factory)
