"""Buying rights with points (app.domain.rights.wallet): the points go through the ledger's
redemption with the provider redeeming, each voucher has a valid code of its own, and every
refusal charges nothing and takes no stock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.codes import normalise
from app.domain.rights.wallet import buy_right, member_rights
from app.domain.shared.errors import ErrorCode
from app.domain.tiers.standing import grant_tier
from app.models import OutboxEvent, Right
from tests.conftest import NOW
from tests.helpers import (
    allocations_of,
    assert_clean,
    balance,
    earn,
    ledger_snapshot,
    new_member,
    postings_of,
    raises_code,
)

TICKET = RightSpec(
    "TOURISM", "Museum ticket", "TICKET", 30, points_price=300, stock=3, per_member_limit=2,
    limit_period="MONTH", face_value="80.00", provider_cost="25.00",
)  # fmt: skip


async def _right(uow_factory, spec: RightSpec = TICKET) -> Right:
    async with uow_factory() as uow:
        return await create_right(uow, spec=spec, actor="ops:test")


async def _member_with(uow_factory, amount: str = "500.00") -> int:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, amount, unit="HOTEL")  # 2 points per CNY, available at once
    return member


async def test_a_bought_right_is_paid_from_the_lots_and_lands_in_the_wallet(units, uow_factory):
    right = await _right(uow_factory)
    member = await _member_with(uow_factory)
    async with uow_factory() as uow:
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="member:1")
    assert normalise(held.code) == held.code
    assert (held.status, held.source, held.points_spent) == ("ACTIVE", "BOUGHT", 300)
    assert held.valid_until - held.valid_from == timedelta(days=30) and held.valid_from == NOW
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == 700
        assert (await postings_of(uow, held.transaction_id))[("REDEEMED", units["TOURISM"])] == 300
        parts = await allocations_of(uow, held.transaction_id)
        assert sum(p.points for p in parts) == 300 and sum(p.cny_value for p in parts) == Decimal(
            "80.00"
        )
        assert (await uow.session.get(Right, right.id)).stock_remaining == 2
        wallet = await member_rights(uow, member)
        events = list(await uow.session.scalars(select(OutboxEvent.type)))
    assert [(h.id, r.code) for h, r in wallet] == [(held.id, right.code)]
    assert "VOUCHER_ISSUED" in events
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("spec_changes", "code"),
    [
        ({"points_price": None}, ErrorCode.NOT_ON_SALE),
        ({"window_ends_at": NOW - timedelta(days=1), "window_starts_at": NOW - timedelta(days=9)},
         ErrorCode.NOT_ON_SALE),
        ({"eligible_tier_codes": ("DIAMOND",)}, ErrorCode.TIER_REQUIRED),
        ({"stock": 0}, ErrorCode.OUT_OF_STOCK),
        ({"points_price": 5000}, ErrorCode.INSUFFICIENT_POINTS),
    ],
)  # fmt: skip
async def test_a_refusal_charges_nothing_and_takes_no_stock(units, uow_factory, spec_changes, code):
    right = await _right(uow_factory, replace(TICKET, **spec_changes))
    member = await _member_with(uow_factory)
    before = await ledger_snapshot(uow_factory)
    with raises_code(code, "rightId" if code != ErrorCode.INSUFFICIENT_POINTS else "points"):
        async with uow_factory() as uow:
            await buy_right(uow, member_id=member, right_id=right.id, caller="member:1")
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:
        assert (await uow.session.get(Right, right.id)).stock_remaining == right.stock_remaining
        assert await member_rights(uow, member) == []


async def test_the_per_member_limit_counts_in_its_period_and_tiers_open_rights(
    units, uow_factory, clock
):
    right = await _right(uow_factory, replace(TICKET, stock=None, eligible_tier_codes=("GOLD",)))
    member = await _member_with(uow_factory, "2000.00")
    with raises_code(ErrorCode.TIER_REQUIRED, "rightId"):
        async with uow_factory() as uow:
            await buy_right(uow, member_id=member, right_id=right.id, caller="member:1")
    async with uow_factory() as uow:
        await grant_tier(
            uow, member_id=member, tier="GOLD", until=NOW + timedelta(days=300),
            reason="test", actor="ops:test",
        )  # fmt: skip
    for _ in range(2):
        async with uow_factory() as uow:
            await buy_right(uow, member_id=member, right_id=right.id, caller="member:1")
    with raises_code(ErrorCode.LIMIT_REACHED, "rightId"):
        async with uow_factory() as uow:
            await buy_right(uow, member_id=member, right_id=right.id, caller="member:1")
    clock.advance(days=20)  # June 15 -> July 5 in the group's calendar: a new month
    async with uow_factory() as uow:
        await buy_right(uow, member_id=member, right_id=right.id, caller="member:1")
        assert len(await member_rights(uow, member, "ACTIVE")) == 3
    await assert_clean(uow_factory)
