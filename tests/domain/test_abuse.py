"""Anti-abuse screening in the domain: velocity limits, shared devices, Redis down."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis.asyncio as redis
from sqlalchemy import select

from app.domain.abuse.screening import AbusePolicy, EarnScreen, record_alerts, screen_earn, settle
from app.domain.shared.errors import ErrorCode
from app.models import AbuseFlag
from tests.helpers import (
    assert_clean,
    earn,
    ledger_snapshot,
    new_member,
    raises_code,
    transactions_of,
)

POLICY = AbusePolicy(member_earn_limit=3, device_earn_limit=4, device_member_limit=2)


@pytest.fixture
def screen_for(redis_client, redis_prefix):
    """A fresh screen per request, as the resolver builds one; `events` records metrics."""
    events: list[tuple[str, str]] = []

    def make(policy: AbusePolicy = POLICY, client=None) -> EarnScreen:
        return EarnScreen(
            redis=client or redis_client,
            prefix=redis_prefix,
            policy=policy,
            observe=lambda event, label: events.append((event, label)),
        )

    make.events = events  # type: ignore[attr-defined]
    return make


async def screened_earn(uow_factory, screen: EarnScreen, member: int, **extra):
    """earn_points in its own unit of work, then settle and record alerts, as the API does."""
    committed = False
    try:
        async with uow_factory() as uow:
            tx = await earn(uow, member, "100", "HOTEL", screen=screen, **extra)
        committed = True
        return tx
    finally:
        await settle(screen, committed=committed)
        async with uow_factory() as uow:
            await record_alerts(uow, screen)


async def flags(uow_factory) -> list[AbuseFlag]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(select(AbuseFlag).order_by(AbuseFlag.id)))


@pytest.fixture
async def member(units, uow_factory) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, "HOTEL")


def test_the_policy_comes_from_the_environment():
    policy = AbusePolicy.from_env({"ABUSE_MEMBER_EARN_LIMIT": "7", "ABUSE_REDIS_DOWN": "DENY"})
    assert (policy.member_earn_limit, policy.redis_down) == (7, "deny")
    assert policy.device_earn_limit == 60  # unset: the default
    with pytest.raises(ValueError, match="ABUSE_REDIS_DOWN"):
        AbusePolicy.from_env({"ABUSE_REDIS_DOWN": "maybe"})


async def test_a_member_over_the_limit_is_refused_and_nothing_is_recorded(
    member, uow_factory, screen_for, clock
):
    for _ in range(3):
        await screened_earn(uow_factory, screen_for(), member)
    before = await ledger_snapshot(uow_factory)
    for _ in range(2):
        with raises_code(ErrorCode.LIMIT_REACHED, "memberId"):
            await screened_earn(uow_factory, screen_for(), member)
    assert await ledger_snapshot(uow_factory) == before
    [flag] = await flags(uow_factory)  # one open flag, counting every refusal
    assert (flag.kind, flag.subject, flag.member_id, flag.status) == (
        "VELOCITY",
        f"member:{member}",
        member,
        "OPEN",
    )
    assert flag.detail["events"] == 2 and flag.detail["limit"] == 3
    assert screen_for.events.count(("refused", "member")) == 2
    assert screen_for.events.count(("flag", "VELOCITY")) == 1

    clock.advance(minutes=61)  # the window slid past the three earns
    await screened_earn(uow_factory, screen_for(), member)
    async with uow_factory() as uow:
        assert len(await transactions_of(uow, member, "EARN")) == 4
    await assert_clean(uow_factory)


async def test_a_device_over_its_limit_refuses_any_member(units, uow_factory, screen_for):
    async with uow_factory() as uow:
        members = [await new_member(uow, "HOTEL") for _ in range(5)]
    policy = replace(POLICY, device_member_limit=0)
    for who in members[:4]:
        await screened_earn(uow_factory, screen_for(policy), who, device_id="POS-1")
    with raises_code(ErrorCode.LIMIT_REACHED, "deviceId"):
        await screened_earn(uow_factory, screen_for(policy), members[4], device_id="POS-1")
    await screened_earn(uow_factory, screen_for(policy), members[4], device_id="POS-2")
    [flag] = await flags(uow_factory)
    assert (flag.kind, flag.subject, flag.device_id, flag.member_id) == (
        "VELOCITY",
        "device:POS-1",
        "POS-1",
        None,
    )
    assert flag.detail["lastMemberId"] == members[4]


async def test_many_members_on_one_device_raise_one_flag(units, uow_factory, screen_for):
    async with uow_factory() as uow:
        members = [await new_member(uow, "HOTEL") for _ in range(4)]
    policy = replace(POLICY, device_earn_limit=0)
    for who in members + members[:1]:  # 4 distinct members, limit 2; a repeat adds nobody
        await screened_earn(uow_factory, screen_for(policy), who, device_id=" PAD-9 ")
    [flag] = await flags(uow_factory)
    assert (flag.kind, flag.subject, flag.device_id, flag.member_id) == (
        "SHARED_DEVICE",
        "device:PAD-9",
        "PAD-9",
        None,
    )
    assert flag.detail["members"] == 4
    assert flag.detail["events"] == 3  # members 3, 4 and member 1 again: over the limit each time
    async with uow_factory() as uow:  # the earns went through, with the device on the entry
        assert [tx.detail["device"] for tx in await transactions_of(uow, members[0])] == [
            "PAD-9",
            "PAD-9",
        ]


async def test_a_refused_or_failed_request_gives_its_slot_back(member, uow_factory, screen_for):
    await screened_earn(uow_factory, screen_for(), member, ref="DUP-1")
    screen = screen_for()
    with raises_code(ErrorCode.DUPLICATE):  # refused after screening admitted it: taken back
        await screened_earn(uow_factory, screen, member, ref="DUP-1")
    for _ in range(2):
        await screened_earn(uow_factory, screen_for(), member)
    with raises_code(ErrorCode.LIMIT_REACHED):
        await screened_earn(uow_factory, screen_for(), member)


async def test_a_too_long_device_id_is_invalid(member, uow_factory, screen_for):
    with raises_code(ErrorCode.INVALID_INPUT, "deviceId"):
        await screened_earn(uow_factory, screen_for(), member, device_id="X" * 65)


async def test_without_a_screen_nothing_is_checked(member, uow_factory):
    async with uow_factory() as uow:
        screening = await screen_earn(uow, None, member_id=member, unit_id=1, device_id="x" * 99)
    assert screening.hold_until is None and screening.detail == {}


# --- Redis down: the policy decides, explicitly -----------------------------------------------


@pytest.fixture
async def dead_redis():
    """A client for a port where nothing listens: every command raises ConnectionError."""
    client = redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    yield client
    await client.aclose()


async def test_redis_down_with_allow_lets_the_earn_through_and_says_so(
    member, uow_factory, screen_for, dead_redis
):
    screen = screen_for(replace(POLICY, redis_down="allow"), client=dead_redis)
    for _ in range(5):  # over the limit of 3: nothing can count while Redis is down
        tx = await screened_earn(uow_factory, screen, member, device_id="POS-1")
    assert tx.detail["screening"] == "skipped: redis unavailable"
    assert tx.detail["device"] == "POS-1"
    assert screen_for.events.count(("unscreened", "allow")) == 5
    assert await flags(uow_factory) == []
    await assert_clean(uow_factory)


async def test_redis_down_with_deny_refuses_and_records_nothing(
    member, uow_factory, screen_for, dead_redis
):
    before = await ledger_snapshot(uow_factory)
    screen = screen_for(replace(POLICY, redis_down="deny"), client=dead_redis)
    with raises_code(ErrorCode.UNAVAILABLE):
        await screened_earn(uow_factory, screen, member)
    assert await ledger_snapshot(uow_factory) == before
    assert screen_for.events == [("unscreened", "deny")]
