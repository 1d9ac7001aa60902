"""Velocity limits under concurrent requests, on whichever Redis the run uses (REDIS_URL: the
real server; unset: fakeredis): of N earns at once against a limit L, exactly L go through."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select

from app.domain.abuse.screening import EarnScreen, record_alerts, settle
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import AbuseFlag
from app.settings import AbusePolicy
from tests.helpers import assert_clean, earn, new_member, transactions_of

pytestmark = pytest.mark.concurrency

N, LIMIT = 16, 5


async def screened(uow_factory, screen: EarnScreen, member: int, **extra):
    """One earn as a request makes it: its own unit of work, then settle and alerts."""
    committed = False
    try:
        async with uow_factory() as uow:
            await earn(uow, member, "100", "HOTEL", screen=screen, **extra)
        committed = True
        return "OK"
    except DomainError as error:
        return error.code
    finally:
        await settle(screen, committed=committed)
        async with uow_factory() as uow:
            await record_alerts(uow, screen)


async def flags(uow_factory) -> list[AbuseFlag]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(select(AbuseFlag)))


async def test_concurrent_earns_of_one_member_stop_at_the_limit(
    units, wide, redis_client, redis_prefix
):
    policy = AbusePolicy(member_earn_limit=LIMIT)
    async with wide() as uow:
        member = await new_member(uow, "HOTEL")
    results = await asyncio.gather(
        *(
            screened(
                wide, EarnScreen(redis=redis_client, prefix=redis_prefix, policy=policy), member
            )
            for _ in range(N)
        )
    )
    assert Counter(results) == {"OK": LIMIT, ErrorCode.LIMIT_REACHED: N - LIMIT}
    async with wide() as uow:
        assert len(await transactions_of(uow, member, "EARN")) == LIMIT
    [flag] = await flags(wide)  # every refusal counted on one open flag
    assert (flag.kind, flag.detail["events"]) == ("VELOCITY", N - LIMIT)
    await assert_clean(wide)


async def test_concurrent_earns_on_one_device_stop_at_its_limit(
    units, wide, redis_client, redis_prefix
):
    policy = AbusePolicy(device_earn_limit=LIMIT, device_member_limit=0)
    async with wide() as uow:
        members = [await new_member(uow, "HOTEL") for _ in range(N)]
    results = await asyncio.gather(
        *(
            screened(
                wide,
                EarnScreen(redis=redis_client, prefix=redis_prefix, policy=policy),
                member,
                device_id="POS-7",
            )
            for member in members
        )
    )
    assert Counter(results) == {"OK": LIMIT, ErrorCode.LIMIT_REACHED: N - LIMIT}
    [flag] = await flags(wide)
    assert (flag.kind, flag.subject, flag.detail["events"]) == (
        "VELOCITY",
        "device:POS-7",
        N - LIMIT,
    )
    await assert_clean(wide)


async def test_concurrent_members_on_one_device_raise_one_flag(
    units, wide, redis_client, redis_prefix
):
    policy = AbusePolicy(device_member_limit=3, device_earn_limit=0)
    async with wide() as uow:
        members = [await new_member(uow, "HOTEL") for _ in range(8)]
    results = await asyncio.gather(
        *(
            screened(
                wide,
                EarnScreen(redis=redis_client, prefix=redis_prefix, policy=policy),
                member,
                device_id="PAD-1",
            )
            for member in members
        )
    )
    assert set(results) == {"OK"}
    [flag] = await flags(wide)
    assert (flag.kind, flag.detail["events"]) == ("SHARED_DEVICE", 8 - 3)
