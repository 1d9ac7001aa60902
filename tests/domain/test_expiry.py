"""Expiry policies (rolling, annual clearing) and the expire / release jobs."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.domain.ledger.expiry import (
    add_months,
    expire_member_points,
    expiry_for,
    members_with_expired_lots,
    members_with_releasable_lots,
    release_member_points,
)
from app.models import PointsTransaction, Posting, Program
from tests.conftest import NOW, TZ
from tests.helpers import (
    allocations_of,
    assert_clean,
    earn,
    lots_of,
    new_member,
    points_of,
    postings_of,
    run_expire_job,
    run_release_job,
    set_program,
    spend,
)

SHANGHAI_2028 = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # 2028-01-01 00:00 in Shanghai


def test_add_months_clamps_to_the_end_of_the_month():
    moment = datetime(2026, 8, 31, 10, 0, tzinfo=TZ)
    assert add_months(moment, 6) == datetime(2027, 2, 28, 10, 0, tzinfo=TZ)
    assert add_months(moment, 18) == datetime(2028, 2, 29, 10, 0, tzinfo=TZ)
    assert add_months(datetime(2026, 1, 15, tzinfo=TZ), 12) == datetime(2027, 1, 15, tzinfo=TZ)
    assert add_months(datetime(2026, 11, 30, tzinfo=TZ), 3) == datetime(2027, 2, 28, tzinfo=TZ)


def test_expiry_for_each_policy():
    rolling = Program(expiry_mode="ROLLING", rolling_months=24)
    assert expiry_for(rolling, NOW, TZ) == NOW.replace(year=2028)
    annual = Program(expiry_mode="ANNUAL")
    # 23:30 on Dec 31 in Shanghai is still 2026: cleared at the end of 2027
    assert expiry_for(annual, datetime(2026, 12, 31, 15, 30, tzinfo=UTC), TZ) == SHANGHAI_2028
    # 16:30 UTC on Dec 31 is already Jan 1 2027 in Shanghai: cleared at the end of 2028
    assert expiry_for(annual, datetime(2026, 12, 31, 16, 30, tzinfo=UTC), TZ) == datetime(
        2028, 12, 31, 16, 0, tzinfo=UTC
    )


async def expired_points(uow_factory) -> int:
    """Points moved to breakage so far."""
    async with uow_factory() as uow:
        total = await uow.session.scalar(
            select(func.coalesce(func.sum(Posting.points), 0)).where(
                Posting.account_kind == "BREAKAGE"
            )
        )
    return int(total)


async def test_rolling_twelve_months_by_default(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")
        [lot] = await lots_of(uow, member)
    expires = datetime(2027, 6, 15, 4, 0, tzinfo=UTC)  # noon in Shanghai a year later
    assert lot.expires_at == expires
    assert await run_expire_job(uow_factory, expires - timedelta(microseconds=1)) == []
    assert await points_of(uow_factory, member) == (200, 0, 0)
    [tx] = await run_expire_job(uow_factory, expires)
    assert (tx.kind, tx.points, tx.source, tx.created_at) == ("EXPIRY", -200, "SYSTEM", expires)
    assert await points_of(uow_factory, member) == (0, 0, 0)
    async with uow_factory() as uow:
        [row] = await allocations_of(uow, tx.id)
    assert (row.kind, row.points) == ("EXPIRY", 200)
    await assert_clean(uow_factory)


async def test_rolling_months_come_from_the_program(units, uow_factory):
    await set_program(uow_factory, rolling_months=6)
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")
        [lot] = await lots_of(uow, member)
    expires = datetime(2026, 12, 15, 4, 0, tzinfo=UTC)
    assert lot.expires_at == expires
    assert await run_expire_job(uow_factory, expires - timedelta(seconds=1)) == []
    assert len(await run_expire_job(uow_factory, expires)) == 1
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_annual_clearing_at_shanghai_midnight(units, uow_factory):
    await set_program(uow_factory, expiry_mode="ANNUAL")
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")  # June 2026
    late = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)  # 23:30 Dec 31 in Shanghai: still 2026
    async with uow_factory(late) as uow:
        await earn(uow, member, "50", "HOTEL")
    new_year = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 Jan 1 2027 in Shanghai
    async with uow_factory(new_year) as uow:
        await earn(uow, member, "25", "HOTEL")
        lots = await lots_of(uow, member)
    next_clearing = datetime(2028, 12, 31, 16, 0, tzinfo=UTC)
    assert [lot.expires_at for lot in lots] == [SHANGHAI_2028, SHANGHAI_2028, next_clearing]
    assert await points_of(uow_factory, member) == (350, 0, 0)

    # 23:59:59.999999 on Dec 31 2027 in Shanghai: the 2026 points are still there
    assert await run_expire_job(uow_factory, SHANGHAI_2028 - timedelta(microseconds=1)) == []
    # midnight in Shanghai (16:00 UTC, still Dec 31 in UTC): the 2026 points are cleared
    [tx] = await run_expire_job(uow_factory, SHANGHAI_2028)
    assert tx.points == -300
    assert await points_of(uow_factory, member) == (50, 0, 0)
    assert await run_expire_job(uow_factory, next_clearing - timedelta(seconds=1)) == []
    [tx] = await run_expire_job(uow_factory, next_clearing)
    assert tx.points == -50
    await assert_clean(uow_factory)


async def test_breakage_goes_to_each_funder(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")  # 200, hotel-funded, expires first
        await earn(uow, member, "400", "OFFICE")  # 400, office-funded
        await earn(uow, member, "300", "MALL")  # 300 pending, mall-funded
    clock.advance(days=8)
    await run_release_job(uow_factory)
    async with uow_factory() as uow:
        await spend(uow, member, 300, "1000", "CONVENIENCE")  # hotel 200 + office 100
    clock.advance(days=365)
    [tx] = await run_expire_job(uow_factory)
    async with uow_factory() as uow:
        postings = await postings_of(uow, tx.id)
    assert tx.points == -600
    assert postings == {
        ("MEMBER_AVAILABLE", member): -600,
        ("BREAKAGE", units["OFFICE"]): 300,
        ("BREAKAGE", units["MALL"]): 300,
    }
    assert await expired_points(uow_factory) == 600
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_expiry_only_touches_lots_past_their_date(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")
    clock.advance(days=200)
    async with uow_factory() as uow:
        await earn(uow, member, "100", "HOTEL")
    clock.advance(days=200)  # the first lot is past 12 months, the second is not
    [tx] = await run_expire_job(uow_factory)
    assert tx.points == -200
    async with uow_factory() as uow:
        assert [lot.remaining for lot in await lots_of(uow, member)] == [0, 200]
    assert await points_of(uow_factory, member) == (200, 0, 0)
    await assert_clean(uow_factory)


async def test_expire_job_twice_does_nothing_the_second_time(units, uow_factory, clock):
    async with uow_factory() as uow:
        members = [await new_member(uow) for _ in range(3)]
        for member in members:
            await earn(uow, member, "100", "HOTEL")
    clock.advance(days=400)
    assert len(await run_expire_job(uow_factory)) == 3
    assert await run_expire_job(uow_factory) == []
    async with uow_factory() as uow:
        assert await members_with_expired_lots(uow) == []
        assert await expire_member_points(uow, members[0]) is None  # a stale list is harmless
    assert await expired_points(uow_factory) == 600
    await assert_clean(uow_factory)


async def test_release_pending_job(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "MALL")  # pending until +7 days
    clock.advance(days=3)
    async with uow_factory() as uow:
        await earn(uow, member, "40", "TOURISM")  # 60, pending until +3 days from now
    assert await points_of(uow_factory, member) == (0, 160, 0)
    clock.advance(days=3)  # the tourism lot's window ends, the mall's has a day to go
    [tx] = await run_release_job(uow_factory)
    assert (tx.kind, tx.points) == ("RELEASE", 60)
    async with uow_factory() as uow:
        postings = await postings_of(uow, tx.id)
    assert postings == {("MEMBER_PENDING", member): -60, ("MEMBER_AVAILABLE", member): 60}
    assert await points_of(uow_factory, member) == (60, 100, 0)
    assert (
        await run_release_job(uow_factory, clock.now + timedelta(days=1) - timedelta(seconds=1))
        == []
    )
    [tx] = await run_release_job(uow_factory, clock.now + timedelta(days=1))
    assert tx.points == 100
    assert await points_of(uow_factory, member) == (160, 0, 0)
    # run twice: nothing left to release
    assert await run_release_job(uow_factory, clock.now + timedelta(days=2)) == []
    async with uow_factory(clock.now + timedelta(days=2)) as uow:
        assert await members_with_releasable_lots(uow) == []
        assert await release_member_points(uow, member) is None
    await assert_clean(uow_factory)


async def test_expire_job_runs_concurrently_once(units, uow_factory, clock):
    async with uow_factory() as uow:
        members = [await new_member(uow) for _ in range(12)]
    for i, member in enumerate(members):
        async with uow_factory() as uow:
            await earn(uow, member, str(100 + i), "HOTEL")
            await earn(uow, member, "10", "OFFICE")
    expected = sum(2 * (100 + i) + 10 for i in range(len(members)))
    clock.advance(days=400)
    first, second = await asyncio.gather(run_expire_job(uow_factory), run_expire_job(uow_factory))
    assert len(first) + len(second) == len(members)
    assert sum(tx.points for tx in first + second) == -expected
    assert await expired_points(uow_factory) == expected
    async with uow_factory() as uow:
        count = await uow.session.scalar(
            select(func.count()).where(PointsTransaction.kind == "EXPIRY")
        )
    assert count == len(members)
    for member in members:
        assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_release_job_runs_concurrently_once(units, uow_factory, clock):
    async with uow_factory() as uow:
        members = [await new_member(uow) for _ in range(12)]
        for member in members:
            await earn(uow, member, "100", "MALL")
            await earn(uow, member, "20", "TOURISM")
    clock.advance(days=7)
    runs = await asyncio.gather(*(run_release_job(uow_factory) for _ in range(3)))
    released = [tx for run in runs for tx in run]
    assert len(released) == len(members)
    assert sum(tx.points for tx in released) == 130 * len(members)
    for member in members:
        assert await points_of(uow_factory, member) == (130, 0, 0)
    await assert_clean(uow_factory)


async def test_pending_points_can_expire_too(units, uow_factory, clock):
    """A pending lot whose window outlasts its life expires from the pending balance."""
    await set_program(uow_factory, expiry_mode="ROLLING", rolling_months=0)
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "MALL")  # expires at once, pending for 7 days
    [tx] = await run_expire_job(uow_factory)
    async with uow_factory() as uow:
        postings = await postings_of(uow, tx.id)
    assert postings == {("MEMBER_PENDING", member): -100, ("BREAKAGE", units["MALL"]): 100}
    assert await points_of(uow_factory, member) == (0, 0, 0)
    clock.advance(days=7)
    for release in await run_release_job(uow_factory):
        assert release.points == 0
    await assert_clean(uow_factory)
