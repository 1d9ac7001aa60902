"""Tier rights (app.domain.rights.tier_grants, app.jobs.rights): once per member and period
however often the job runs, a new period grants again, an upgrade grants at once, a month's
vouchers end with the month; the expiry job twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.tier_grants import set_tier_right, tier_rights
from app.domain.rights.wallet import member_rights
from app.domain.shared.errors import ErrorCode
from app.domain.tiers.standing import grant_tier
from app.jobs.rights import expire_rights, grant_tier_rights
from app.models import MemberRight, OperatorAction
from tests.conftest import TZ
from tests.helpers import earn, new_member, raises_code

PARKING = RightSpec("MALL", "Parking 2h", "PARKING_HOURS", 60, face_value="20.00")
LOUNGE = RightSpec("HOTEL", "Lounge", "LOUNGE_PASS", 400)


async def _ladder(uow_factory) -> tuple[int, int]:
    """GOLD: 2 parking a month; DIAMOND: 4 lounge passes a year."""
    async with uow_factory() as uow:
        parking = await create_right(uow, spec=PARKING, actor="ops:test")
        lounge = await create_right(uow, spec=LOUNGE, actor="ops:test")
        await set_tier_right(
            uow, tier_code="gold", right_id=parking.id, quantity=2, period="MONTH", actor="ops:1"
        )
        await set_tier_right(
            uow, tier_code="DIAMOND", right_id=lounge.id, quantity=4, period="YEAR", actor="ops:1"
        )
    return parking.id, lounge.id


async def _member_at(uow_factory, tier: str, clock) -> int:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await grant_tier(
            uow,
            member_id=member,
            tier=tier,
            until=clock.now + timedelta(days=300),
            reason="test",
            actor="ops:1",
        )
    return member


async def _wallet(uow_factory, member: int) -> list[tuple[str, str]]:
    async with uow_factory() as uow:
        return [(r.code, h.source) for h, r in await member_rights(uow, member)]


async def _run(sessions, clock, **kw):
    return await grant_tier_rights(sessions, now=clock.now, tz=TZ, **kw)


async def test_the_job_grants_once_per_member_and_period(units, uow_factory, sessions, clock):
    await _ladder(uow_factory)
    gold = await _member_at(uow_factory, "GOLD", clock)
    diamond = await _member_at(uow_factory, "DIAMOND", clock)
    async with uow_factory() as uow:
        silver = await new_member(uow, "HOTEL")
    first = await _run(sessions, clock, batch=1)  # batches of one: the keyset walks on
    assert (first.members, first.vouchers) == (2, 6)
    again = await _run(sessions, clock)
    assert (again.members, again.vouchers) == (0, 0)
    assert await _wallet(uow_factory, gold) == [("MALL-PARKING-2H", "TIER_GRANT")] * 2
    assert await _wallet(uow_factory, diamond) == [("HOTEL-LOUNGE", "TIER_GRANT")] * 4
    assert await _wallet(uow_factory, silver) == []
    # a month's vouchers end with the month (Shanghai), though the right lasts 60 days
    async with uow_factory() as uow:
        ends = set(
            await uow.session.scalars(
                select(MemberRight.valid_until).where(MemberRight.member_id == gold)
            )
        )
    assert ends == {datetime(2026, 6, 30, 16, 0, tzinfo=UTC)}
    # next month: the monthly ones again, not the yearly ones
    clock.now = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 09:00 on 1 July in Shanghai
    july = await _run(sessions, clock)
    assert (july.members, july.vouchers) == (1, 2)
    assert len(await _wallet(uow_factory, diamond)) == 4


async def test_two_runs_at_once_grant_once(units, uow_factory, sessions, clock):
    await _ladder(uow_factory)
    members = [await _member_at(uow_factory, "GOLD", clock) for _ in range(6)]
    reports = await asyncio.gather(*(_run(sessions, clock, batch=2) for _ in range(3)))
    assert sum(r.vouchers for r in reports) == 12
    async with uow_factory() as uow:
        counts = dict(
            (
                await uow.session.execute(
                    select(MemberRight.member_id, func.count()).group_by(MemberRight.member_id)
                )
            ).all()
        )
    assert counts == {member: 2 for member in members}


async def test_an_upgrade_grants_the_new_tiers_rights_at_once(units, uow_factory, sessions, clock):
    await _ladder(uow_factory)
    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")
        await earn(uow, member, "19000.00", unit="MALL")
    assert await _wallet(uow_factory, member) == []
    async with uow_factory() as uow:
        await earn(uow, member, "2000.00", unit="MALL")  # crosses GOLD's 20,000
    assert await _wallet(uow_factory, member) == [("MALL-PARKING-2H", "TIER_GRANT")] * 2
    assert (await _run(sessions, clock)).vouchers == 0  # the job finds them granted


async def test_tier_rights_are_set_by_operators_with_typed_refusals(units, uow_factory):
    parking, _ = await _ladder(uow_factory)
    async with uow_factory() as uow:
        await set_tier_right(
            uow, tier_code="GOLD", right_id=parking, quantity=3, period="YEAR", actor="ops:2"
        )
        terms = [(t.tier_code, r.code, t.quantity, t.period) for t, r in await tier_rights(uow)]
    assert terms == [("DIAMOND", "HOTEL-LOUNGE", 4, "YEAR"), ("GOLD", "MALL-PARKING-2H", 3, "YEAR")]
    for kwargs, code, field in (
        ({"tier_code": "PLATINUM"}, ErrorCode.NOT_FOUND, "tierCode"),
        ({"quantity": -1}, ErrorCode.INVALID_INPUT, "quantity"),
        ({"period": "WEEK"}, ErrorCode.INVALID_INPUT, "period"),
        ({"right_id": "404"}, ErrorCode.NOT_FOUND, "rightId"),
    ):
        args = {"tier_code": "GOLD", "right_id": parking, "quantity": 1, "period": "MONTH"}
        with raises_code(code, field):
            async with uow_factory() as uow:
                await set_tier_right(uow, **{**args, **kwargs}, actor="ops:2")
    async with uow_factory() as uow:
        await set_tier_right(
            uow, tier_code="GOLD", right_id=parking, quantity=0, period="MONTH", actor="ops:2"
        )
        left = [t.tier_code for t, _ in await tier_rights(uow)]
        logged = await uow.session.scalar(
            select(func.count()).where(OperatorAction.action == "setTierRight")
        )
    assert left == ["DIAMOND"] and logged == 4


async def test_the_expiry_job_run_twice_expires_once(units, uow_factory, sessions, clock):
    await _ladder(uow_factory)
    await _member_at(uow_factory, "GOLD", clock)
    await _run(sessions, clock)
    clock.now = datetime(2026, 7, 2, tzinfo=UTC)
    first = await expire_rights(sessions, now=clock.now, tz=TZ, batch=1)
    second = await expire_rights(sessions, now=clock.now, tz=TZ)
    assert (first.vouchers, second.vouchers) == (2, 0)
