"""VOUCHER_RESTORED and VOUCHER_ENDED (app.domain.rights.voucher_events): each change that
makes a voucher usable again or ends an unused one records its event once, in the same
transaction; a refused change, or one rolled back, records none."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.lifecycle import expire_rights, refund_right, revoke_right
from app.domain.rights.wallet import buy_right
from app.domain.rights.write_off import undo_write_off, write_off_voucher
from app.domain.shared.errors import ErrorCode, PermissionDenied
from app.models import MemberRight, OutboxEvent
from tests.helpers import earn, new_member, raises_code

TICKET = RightSpec("TOURISM", "Ticket", "TICKET", 30, points_price=300, refundable=True)
PARKING = RightSpec(
    "MALL", "Parking", "PARKING_HOURS", 30, points_price=100, redeemable_at_unit_ids=("OFFICE",)
)
DAY = timedelta(hours=24)


class Abandoned(Exception):
    """Raised inside a unit of work to roll it back."""


async def _bought(uow_factory, spec: RightSpec = TICKET) -> MemberRight:
    async with uow_factory() as uow:
        right = await create_right(uow, spec=spec, actor="ops:test")
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "500.00", unit="HOTEL")
        return await buy_right(uow, member_id=member, right_id=right.id, caller="test")


async def _events(uow_factory, type_: str) -> list[OutboxEvent]:
    async with uow_factory() as uow:
        return list(
            await uow.session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
            )
        )


async def test_undoing_a_write_off_announces_the_voucher_usable_again(units, uow_factory):
    held = await _bought(uow_factory, PARKING)
    office, mall = units["OFFICE"], units["MALL"]
    async with uow_factory() as uow:
        await write_off_voucher(uow, code=held.code, unit_id=office, caller="p", order_ref="T-9")
    with pytest.raises(PermissionDenied):  # refused: nothing announced
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=mall, caller="p", reason="x", window=DAY
            )
    with pytest.raises(Abandoned):  # undone, then rolled back: nothing announced
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=office, caller="p", reason="x", window=DAY
            )
            raise Abandoned
    assert await _events(uow_factory, "VOUCHER_RESTORED") == []
    async with uow_factory() as uow:
        await undo_write_off(
            uow, code=held.code, unit_id=office, caller="till-3", reason="wrong car", window=DAY
        )
    with raises_code(ErrorCode.INVALID_INPUT, "code"):  # nothing left to undo
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=office, caller="p", reason="x", window=DAY
            )
    [event] = await _events(uow_factory, "VOUCHER_RESTORED")
    # named for the unit whose write-off was undone, as its VOUCHER_USED was
    assert (event.member_id, event.business_unit_id) == (held.member_id, office)
    assert event.payload == {
        "memberRightId": held.id,
        "memberId": held.member_id,
        "rightId": held.right_id,
        "rightCode": "MALL-PARKING",
        "mallOrderId": None,
        "usedAtUnitId": office,
        "orderRef": "T-9",
        "note": "wrong car",
        "by": "till-3",
        "validUntil": held.valid_until.isoformat(),
        "restoredAt": event.created_at.isoformat(),
    }
    assert await _events(uow_factory, "VOUCHER_ENDED") == []


async def test_revoking_ends_the_voucher_once(units, uow_factory):
    held = await _bought(uow_factory)
    with pytest.raises(Abandoned):
        async with uow_factory() as uow:
            await revoke_right(uow, member_right_id=held.id, reason="fraud", actor="ops:1")
            raise Abandoned
    assert await _events(uow_factory, "VOUCHER_ENDED") == []
    async with uow_factory() as uow:
        await revoke_right(uow, member_right_id=held.id, reason="fraud", actor="ops:1")
    with raises_code(ErrorCode.VOUCHER_REVOKED, "memberRightId"):
        async with uow_factory() as uow:
            await revoke_right(uow, member_right_id=held.id, reason="again", actor="ops:1")
    [event] = await _events(uow_factory, "VOUCHER_ENDED")
    assert (event.member_id, event.business_unit_id) == (held.member_id, units["TOURISM"])
    assert (event.payload["reason"], event.payload["note"], event.payload["by"]) == (
        "REVOKED",
        "fraud",
        "ops:1",
    )
    assert (event.payload["memberRightId"], event.payload["rightCode"]) == (
        held.id,
        "TOURISM-TICKET",
    )


async def test_a_used_voucher_is_not_revoked_nor_ended(units, uow_factory):
    held = await _bought(uow_factory, PARKING)
    async with uow_factory() as uow:
        await write_off_voucher(uow, code=held.code, unit_id=units["OFFICE"], caller="p")
    with raises_code(ErrorCode.VOUCHER_USED, "memberRightId"):
        async with uow_factory() as uow:
            await revoke_right(uow, member_right_id=held.id, reason="x", actor="ops:1")
    assert await _events(uow_factory, "VOUCHER_ENDED") == []


async def test_a_refund_ends_the_voucher_once(units, uow_factory):
    held = await _bought(uow_factory)
    with pytest.raises(Abandoned):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=held.id, caller="member:1")
            raise Abandoned
    assert await _events(uow_factory, "VOUCHER_ENDED") == []
    async with uow_factory() as uow:
        await refund_right(uow, member_right_id=held.id, caller="member:1", reason="plans")
    with raises_code(ErrorCode.ALREADY_REVERSED, "memberRightId"):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=held.id, caller="member:1")
    [event] = await _events(uow_factory, "VOUCHER_ENDED")
    assert (event.business_unit_id, event.payload["reason"], event.payload["note"]) == (
        units["TOURISM"],
        "REFUNDED",
        "plans",
    )
    assert event.payload["by"] == "member:1"


async def test_the_expiry_sweep_ends_each_voucher_once(units, uow_factory, clock):
    first = await _bought(uow_factory)
    second = await _bought(uow_factory, replace(TICKET, name="Boat"))
    revoked = await _bought(uow_factory, replace(TICKET, name="Tower"))
    async with uow_factory() as uow:
        await revoke_right(uow, member_right_id=revoked.id, reason="x", actor="ops:1")
    clock.advance(days=31)
    with pytest.raises(Abandoned):  # swept, then rolled back: nothing announced
        async with uow_factory() as uow:
            assert await expire_rights(uow) == 2
            raise Abandoned
    async with uow_factory() as uow:
        assert await expire_rights(uow, limit=1) == 1
    async with uow_factory() as uow:
        assert await expire_rights(uow) == 1
    async with uow_factory() as uow:
        assert await expire_rights(uow) == 0
    ended = await _events(uow_factory, "VOUCHER_ENDED")
    by_voucher = {e.payload["memberRightId"]: e.payload["reason"] for e in ended}
    assert len(ended) == 3
    assert by_voucher == {first.id: "EXPIRED", second.id: "EXPIRED", revoked.id: "REVOKED"}
    expired = [e for e in ended if e.payload["reason"] == "EXPIRED"]
    assert all(e.payload["by"] is None and e.business_unit_id == units["TOURISM"] for e in expired)
    # an expired voucher revoked later (its mall order cancelled, say) has ended already
    async with uow_factory() as uow:
        await revoke_right(uow, member_right_id=first.id, reason="late", actor="ops:1")
    assert len(await _events(uow_factory, "VOUCHER_ENDED")) == 3
