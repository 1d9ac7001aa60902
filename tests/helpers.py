"""Shortcuts the domain tests share: register a member, earn, spend, check the ledger."""

from __future__ import annotations

import itertools
from decimal import Decimal

from app.domain.audit import verify_ledger
from app.domain.earning import earn_points
from app.domain.members import register_member
from app.domain.spending import spend_points
from app.models import MemberBalance

_phones = itertools.count(13800000000)
_orders = itertools.count(1)


async def new_member(uow, unit: str = "MALL", **extra) -> int:
    member = await register_member(
        uow, phone=str(next(_phones)), display_name="Test Member", business_unit=unit, **extra
    )
    return member.id


async def earn(uow, member_id: int, amount: str, unit: str = "HOTEL", **extra):
    return await earn_points(
        uow,
        member_id=member_id,
        business_unit=unit,
        order_ref=f"E{next(_orders)}",
        amount=Decimal(amount),
        caller="test",
        **extra,
    )


async def spend(
    uow, member_id: int, points: int, order_amount: str = "10000", unit: str = "HOTEL", **extra
):
    return await spend_points(
        uow,
        member_id=member_id,
        business_unit=unit,
        order_ref=f"S{next(_orders)}",
        order_amount=Decimal(order_amount),
        points=points,
        caller="test",
        **extra,
    )


async def balance(uow, member_id: int) -> MemberBalance:
    return await uow.session.get(MemberBalance, member_id)


async def assert_clean(uow_factory) -> None:
    async with uow_factory() as uow:
        problems = await verify_ledger(uow)
    assert problems == []
