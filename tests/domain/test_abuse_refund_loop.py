"""Refund loops (earn, refund, earn again at the same unit): flagged, held, cleared or confirmed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import redis.asyncio as redis
from sqlalchemy import select

from app.domain.abuse.review import review_flag
from app.domain.abuse.screening import AbusePolicy, EarnScreen
from app.domain.shared.errors import ErrorCode
from app.models import AbuseFlag, OperatorAction
from tests.helpers import (
    assert_clean,
    earn,
    lots_of,
    new_member,
    points_of,
    raises_code,
    refund,
    run_release_job,
    transactions_of,
)

POLICY = AbusePolicy(refund_loop_window_hours=24, refund_loop_hold_days=7)


@pytest.fixture
def screen(redis_client, redis_prefix) -> EarnScreen:
    return EarnScreen(redis=redis_client, prefix=redis_prefix, policy=POLICY)


async def loop(uow_factory, clock, screen, member: int, unit: str = "HOTEL", amount: str = "100"):
    """Earn, refund it an hour later, earn again an hour after that; the second earn."""
    async with uow_factory() as uow:
        first = await earn(uow, member, amount, unit, screen=screen)
    clock.advance(hours=1)
    async with uow_factory() as uow:
        await refund(uow, first.id)
    clock.advance(hours=1)
    async with uow_factory() as uow:
        return await earn(uow, member, amount, unit, screen=screen)


async def open_flags(uow_factory) -> list[AbuseFlag]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(select(AbuseFlag).order_by(AbuseFlag.id)))


@pytest.fixture
async def member(units, uow_factory) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, "HOTEL")


async def test_a_refund_loop_is_flagged_and_its_points_held(member, uow_factory, clock, screen):
    again = await loop(uow_factory, clock, screen, member)
    [flag] = await open_flags(uow_factory)
    assert (flag.kind, flag.subject, flag.member_id, flag.status) == (
        "REFUND_LOOP",
        f"member:{member}@unit:{flag.unit_id}",
        member,
        "OPEN",
    )
    assert flag.detail["refundedEarnId"] == again.id - 2  # the earn the refund took back
    assert again.detail["hold"] == {
        "flag": flag.id,
        "until": (clock.now + timedelta(days=7)).isoformat(),
    }
    async with uow_factory() as uow:
        held = (await lots_of(uow, member))[-1]
    assert (held.state, held.pending_until) == ("PENDING", clock.now + timedelta(days=7))
    assert await points_of(uow_factory, member) == (0, 200, 0)  # HOTEL: no return window
    await assert_clean(uow_factory)


async def test_a_second_loop_adds_to_the_open_flag(member, uow_factory, clock, screen):
    await loop(uow_factory, clock, screen, member)
    await loop(uow_factory, clock, screen, member)
    [flag] = await open_flags(uow_factory)
    assert flag.detail["events"] == 3  # the second loop's first earn also followed a refund
    assert await points_of(uow_factory, member) == (0, 400, 0)


async def test_no_loop_outside_the_window_or_at_another_unit(member, uow_factory, clock, screen):
    async with uow_factory() as uow:
        first = await earn(uow, member, "100", "HOTEL", screen=screen)
        await refund(uow, first.id)
    async with uow_factory() as uow:  # another unit: not a loop
        await earn(uow, member, "100", "MALL", screen=screen)
    clock.advance(hours=25)
    async with uow_factory() as uow:  # past the window: not a loop either
        tx = await earn(uow, member, "100", "HOTEL", screen=screen)
    assert "hold" not in tx.detail
    assert await open_flags(uow_factory) == []


async def test_a_policy_without_hold_only_flags(member, uow_factory, clock, redis_client):
    screen = EarnScreen(
        redis=redis_client, prefix="x:", policy=replace(POLICY, refund_loop_hold_days=0)
    )
    again = await loop(uow_factory, clock, screen, member)
    assert "hold" not in again.detail
    assert len(await open_flags(uow_factory)) == 1
    assert await points_of(uow_factory, member) == (200, 0, 0)


async def test_loops_are_found_while_redis_is_down(member, uow_factory, clock):
    dead = redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    try:
        again = await loop(
            uow_factory, clock, EarnScreen(redis=dead, prefix="x:", policy=POLICY), member
        )
    finally:
        await dead.aclose()
    assert again.detail["screening"] == "skipped: redis unavailable"
    assert "hold" in again.detail


async def test_clearing_releases_the_held_points(member, uow_factory, clock, screen):
    await loop(uow_factory, clock, screen, member)
    [flag] = await open_flags(uow_factory)
    clock.advance(hours=2)
    async with uow_factory() as uow:
        reviewed = await review_flag(
            uow, flag_id=flag.id, decision="CLEAR", note="regular guest", actor="operator:ops-1"
        )
    assert (reviewed.status, reviewed.reviewed_by, reviewed.review_note) == (
        "CLEARED",
        "operator:ops-1",
        "regular guest",
    )
    assert await points_of(uow_factory, member) == (200, 0, 0)
    async with uow_factory() as uow:
        [action] = list(await uow.session.scalars(select(OperatorAction)))
    assert (action.action, action.target_kind, action.target_id, action.reason) == (
        "abuse_flag.clear",
        "abuse_flag",
        str(flag.id),
        "regular guest",
    )
    assert action.detail["releasedPoints"] == 200
    await assert_clean(uow_factory)
    with raises_code(ErrorCode.INVALID_INPUT, "flagId"):  # reviewed once only
        async with uow_factory() as uow:
            await review_flag(uow, flag_id=flag.id, decision="CONFIRM", note="x", actor="o")


async def test_clearing_keeps_the_units_own_return_window(member, uow_factory, clock, screen):
    again = await loop(uow_factory, clock, screen, member, unit="MALL")  # 7 days pending
    [flag] = await open_flags(uow_factory)
    async with uow_factory() as uow:
        await review_flag(uow, flag_id=flag.id, decision="CLEAR", note="ok", actor="operator:o")
    async with uow_factory() as uow:
        held = (await lots_of(uow, member))[-1]
    assert (held.state, held.pending_until) == ("PENDING", again.created_at + timedelta(days=7))
    assert await points_of(uow_factory, member) == (0, 100, 0)
    await assert_clean(uow_factory)


async def test_confirming_takes_the_held_points_back(member, uow_factory, clock, screen):
    await loop(uow_factory, clock, screen, member)
    [flag] = await open_flags(uow_factory)
    async with uow_factory() as uow:
        await review_flag(uow, flag_id=flag.id, decision="CONFIRM", note="farming", actor="op")
    assert await points_of(uow_factory, member) == (0, 0, 0)
    async with uow_factory() as uow:
        [action] = list(await uow.session.scalars(select(OperatorAction)))
        taken_back = (await transactions_of(uow, member, "EARN_REVERSAL"))[-1]
    assert (action.action, action.detail["withdrawnPoints"]) == ("abuse_flag.confirm", 200)
    assert (taken_back.points, taken_back.reason) == (-200, f"abuse flag {flag.id} confirmed")
    released = await run_release_job(uow_factory, clock.now + timedelta(days=8))
    assert sum(tx.points for tx in released) == 0
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_an_unreviewed_hold_ends_with_the_release_job(member, uow_factory, clock, screen):
    await loop(uow_factory, clock, screen, member)
    assert await run_release_job(uow_factory, clock.now + timedelta(days=6)) == []
    [release] = await run_release_job(uow_factory, clock.now + timedelta(days=7))
    assert release.points == 200
    assert await points_of(uow_factory, member) == (200, 0, 0)
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("flag_id", "decision", "note", "code", "field"),
    [
        ("999", "CLEAR", "ok", ErrorCode.NOT_FOUND, "flagId"),
        ("abc", "CLEAR", "ok", ErrorCode.NOT_FOUND, "flagId"),
        ("1", "MAYBE", "ok", ErrorCode.INVALID_INPUT, "decision"),
        ("1", "CLEAR", "  ", ErrorCode.INVALID_INPUT, "note"),
    ],
)
async def test_bad_reviews_are_refused(units, uow_factory, flag_id, decision, note, code, field):
    with raises_code(code, field):
        async with uow_factory() as uow:
            await review_flag(uow, flag_id=flag_id, decision=decision, note=note, actor="op")
