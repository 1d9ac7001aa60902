"""Writing vouchers off (app.domain.rights.write_off): only a unit that may redeem it, once,
with typed refusals; the write-off is recorded and announced."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.codes import shown
from app.domain.rights.wallet import buy_right
from app.domain.rights.write_off import voucher_for_unit, write_off_voucher
from app.domain.shared.errors import ErrorCode, PermissionDenied
from app.models import MemberRight, OutboxEvent
from tests.helpers import earn, new_member, raises_code

PARKING = RightSpec(
    "MALL", "Parking", "PARKING_HOURS", 30, points_price=100, redeemable_at_unit_ids=("OFFICE",)
)


async def _voucher(uow_factory, spec: RightSpec = PARKING) -> MemberRight:
    async with uow_factory() as uow:
        right = await create_right(uow, spec=spec, actor="ops:test")
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100.00", unit="HOTEL")
        return await buy_right(uow, member_id=member, right_id=right.id, caller="test")


async def test_a_voucher_is_written_off_once_at_a_unit_that_may_redeem_it(units, uow_factory):
    held = await _voucher(uow_factory)
    async with uow_factory() as uow:
        found, right = await voucher_for_unit(uow, shown(held.code).lower(), units["OFFICE"])
        assert found.id == held.id and right.code == "MALL-PARKING"
        used = await write_off_voucher(
            uow, code=held.code, unit_id=units["OFFICE"], caller="partner:k", order_ref="T-1"
        )
    assert (used.status, used.used_at_unit_id, used.used_order_ref) == (
        "USED",
        units["OFFICE"],
        "T-1",
    )
    with raises_code(ErrorCode.VOUCHER_USED, "code"):
        async with uow_factory() as uow:
            await write_off_voucher(uow, code=held.code, unit_id=units["MALL"], caller="p")
    async with uow_factory() as uow:
        events = list(await uow.session.scalars(select(OutboxEvent.type)))
    assert events.count("VOUCHER_USED") == 1


async def test_another_unit_is_refused_before_it_learns_anything(units, uow_factory):
    held = await _voucher(uow_factory)
    for call in (
        lambda uow: voucher_for_unit(uow, held.code, units["HOTEL"]),
        lambda uow: write_off_voucher(uow, code=held.code, unit_id=units["HOTEL"], caller="p"),
    ):
        with pytest.raises(PermissionDenied):
            async with uow_factory() as uow:
                await call(uow)
    async with uow_factory() as uow:
        assert (await uow.session.get(MemberRight, held.id)).status == "ACTIVE"


async def test_mistyped_unknown_expired_and_revoked_codes_are_refused(units, uow_factory, clock):
    held = await _voucher(uow_factory)
    typo = held.code[:-1] + ("A" if held.code[-1] != "A" else "B")
    for code in (typo, "ABCDEFGHJKLM2", ""):
        with raises_code(ErrorCode.NOT_FOUND, "code"):
            async with uow_factory() as uow:
                await write_off_voucher(uow, code=code, unit_id=units["MALL"], caller="p")
    clock.advance(days=31)
    with raises_code(ErrorCode.VOUCHER_EXPIRED, "code"):
        async with uow_factory() as uow:
            await write_off_voucher(uow, code=held.code, unit_id=units["MALL"], caller="p")
    revoked = await _voucher(uow_factory, replace(PARKING, code="MALL-PARKING-2"))
    async with uow_factory() as uow:
        (await uow.session.get(MemberRight, revoked.id)).status = "REVOKED"
    with raises_code(ErrorCode.VOUCHER_REVOKED, "code"):
        async with uow_factory() as uow:
            await write_off_voucher(uow, code=revoked.code, unit_id=units["MALL"], caller="p")


async def test_a_voucher_not_yet_valid_is_refused(units, uow_factory, clock):
    later = clock.now + timedelta(days=10)
    held = await _voucher(uow_factory, replace(PARKING, window_starts_at=later))
    assert held.valid_from == later
    with raises_code(ErrorCode.INVALID_INPUT, "code"):
        async with uow_factory() as uow:
            await write_off_voucher(uow, code=held.code, unit_id=units["MALL"], caller="p")
