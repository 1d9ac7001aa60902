"""Buying rights at the same moment on real PostgreSQL: stock never oversold, a per-member limit
held against one member's simultaneous attempts, nothing charged for a refusal."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.lifecycle import refund_right
from app.domain.rights.wallet import buy_right
from app.domain.rights.write_off import write_off_voucher
from app.domain.shared.errors import ErrorCode
from app.models import MemberRight, PointsTransaction, Right
from tests.helpers import assert_clean, earn, new_member
from tests.integration.test_concurrency import attempt, everyone

pytestmark = pytest.mark.concurrency

TICKET = RightSpec("TOURISM", "Museum ticket", "TICKET", 30, points_price=300, stock=5)


async def _members(uow_factory, count: int) -> list[int]:
    members = []
    async with uow_factory() as uow:
        for _ in range(count):
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "500.00", unit="HOTEL")  # 1,000 points
            members.append(member)
    return members


async def _purchases(uow_factory) -> int:
    async with uow_factory() as uow:
        return await uow.session.scalar(
            select(func.count()).where(PointsTransaction.kind == "RIGHT_PURCHASE")
        )


async def test_twenty_buyers_on_five_in_stock_get_five_vouchers(units, uow_factory, wide):
    async with uow_factory() as uow:
        right = await create_right(uow, spec=TICKET, actor="ops:test")
    buyers = await _members(uow_factory, 20)
    results = await everyone(
        *(
            attempt(wide, buy_right, member_id=m, right_id=right.id, caller=f"member:{m}")
            for m in buyers
        )
    )
    outcome = Counter(r if isinstance(r, ErrorCode) else "VOUCHER" for r in results)
    assert outcome == {"VOUCHER": 5, ErrorCode.OUT_OF_STOCK: 15}
    async with uow_factory() as uow:
        assert (await uow.session.get(Right, right.id)).stock_remaining == 0
        assert await uow.session.scalar(select(func.count()).select_from(MemberRight)) == 5
    assert await _purchases(uow_factory) == 5  # refusals charged nothing
    await assert_clean(uow_factory)


async def test_one_members_ten_attempts_at_a_one_per_member_right_give_one(
    units, uow_factory, wide
):
    async with uow_factory() as uow:
        right = await create_right(
            uow, spec=replace(TICKET, stock=None, per_member_limit=1), actor="ops:test"
        )
    (member,) = await _members(uow_factory, 1)
    results = await everyone(
        *(
            attempt(wide, buy_right, member_id=member, right_id=right.id, caller="member:x")
            for _ in range(10)
        )
    )
    outcome = Counter(r if isinstance(r, ErrorCode) else "VOUCHER" for r in results)
    assert outcome == {"VOUCHER": 1, ErrorCode.LIMIT_REACHED: 9}
    assert await _purchases(uow_factory) == 1
    await assert_clean(uow_factory)


async def test_two_tills_scanning_one_code_at_once_write_it_off_once(units, uow_factory, wide):
    async with uow_factory() as uow:
        right = await create_right(uow, spec=replace(TICKET, stock=None), actor="ops:test")
    (member,) = await _members(uow_factory, 1)
    async with uow_factory() as uow:
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    results = await everyone(
        *(
            attempt(wide, write_off_voucher, code=held.code, unit_id=units["TOURISM"], caller="p")
            for _ in range(8)
        )
    )
    outcome = Counter(r if isinstance(r, ErrorCode) else "USED" for r in results)
    assert outcome == {"USED": 1, ErrorCode.VOUCHER_USED: 7}


async def test_a_refund_and_write_offs_of_one_voucher_at_once_let_one_win(units, uow_factory, wide):
    async with uow_factory() as uow:
        right = await create_right(
            uow, spec=replace(TICKET, stock=None, refundable=True), actor="ops:test"
        )
    (member,) = await _members(uow_factory, 1)
    async with uow_factory() as uow:
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    calls = [
        attempt(wide, write_off_voucher, code=held.code, unit_id=units["TOURISM"], caller="p")
        for _ in range(4)
    ] + [attempt(wide, refund_right, member_right_id=held.id, caller="member") for _ in range(4)]
    results = await everyone(*calls)
    winners = [r for r in results if not isinstance(r, ErrorCode)]
    assert len(winners) == 1
    refused = Counter(r for r in results if isinstance(r, ErrorCode))
    if winners[0].status == "USED":  # the till came first: no refund of a used voucher
        assert refused == {ErrorCode.VOUCHER_USED: 7}
    else:  # the refund came first: no till accepts a returned voucher
        assert winners[0].status == "REFUNDED"
        assert refused == {ErrorCode.VOUCHER_REVOKED: 4, ErrorCode.ALREADY_REVERSED: 3}
    async with uow_factory() as uow:
        refunds = await uow.session.scalar(
            select(func.count()).where(PointsTransaction.kind == "RIGHT_REFUND")
        )
    assert refunds == (winners[0].status == "REFUNDED")
    await assert_clean(uow_factory)
