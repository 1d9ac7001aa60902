"""A right after it is issued (app.domain.rights.lifecycle and write_off.undo_write_off):
refunds through the ledger's restore path, operators' grants and revocations, undoing a
write-off within its window, the expiry sweep."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.domain.ledger.accounts import AllocationKind
from app.domain.rights.catalogue import RightSpec, create_right, get_right
from app.domain.rights.lifecycle import expire_rights, grant_right, refund_right, revoke_right
from app.domain.rights.wallet import buy_right
from app.domain.rights.write_off import undo_write_off, write_off_voucher
from app.domain.shared.errors import ErrorCode, PermissionDenied
from app.models import MemberRight, OperatorAction, VoucherWriteOff
from tests.helpers import (
    allocations_of,
    assert_clean,
    balance,
    earn,
    lots_of,
    new_member,
    raises_code,
)

TICKET = RightSpec("TOURISM", "Ticket", "TICKET", 30, points_price=300, stock=5, refundable=True)
PARKING = RightSpec(
    "MALL", "Parking", "PARKING_HOURS", 30, points_price=100, redeemable_at_unit_ids=("OFFICE",)
)
DAY = timedelta(hours=24)


async def _bought(uow_factory, spec: RightSpec = TICKET, amount: str = "500.00"):
    """A member with points (two lots: two earns) who bought one right; (member, voucher)."""
    async with uow_factory() as uow:
        right = await create_right(uow, spec=spec, actor="ops:test")
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100.00", unit="HOTEL")
        await earn(uow, member, amount, unit="HOTEL")
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    return member, held


async def test_a_refund_gives_the_points_back_to_their_lots_and_the_stock_back(units, uow_factory):
    member, held = await _bought(uow_factory)
    async with uow_factory() as uow:
        before = (await balance(uow, member)).available
        lots_before = {lot.id: lot.remaining for lot in await lots_of(uow, member)}
        returned = await refund_right(
            uow, member_right_id=held.id, caller="member:1", reason="changed plans"
        )
    assert (returned.status, returned.end_reason) == ("REFUNDED", "changed plans")
    async with uow_factory() as uow:
        assert (await balance(uow, member)).available == before + 300
        lots_after = {lot.id: lot.remaining for lot in await lots_of(uow, member)}
        taken = await allocations_of(uow, held.transaction_id)
        given = await allocations_of(uow, returned.refund_transaction_id)
        right = await get_right(uow, held.right_id)
    # each point went back to the lot it came from, against the allocation that took it
    assert sorted((a.lot_id, -a.points) for a in given) == sorted(
        (a.lot_id, a.points) for a in taken
    )
    assert {a.kind for a in given} == {AllocationKind.RESTORE.value}
    assert sum(lots_after.values()) == sum(lots_before.values()) + 300
    assert right.stock_remaining == 5  # 5 in stock, one sold, one back
    with raises_code(ErrorCode.VOUCHER_REVOKED, "code"):  # no till accepts a returned voucher
        async with uow_factory() as uow:
            await write_off_voucher(uow, code=held.code, unit_id=units["TOURISM"], caller="p")
    await assert_clean(uow_factory)


async def test_a_refund_is_refused_for_what_cannot_be_returned(units, uow_factory):
    member, held = await _bought(uow_factory)
    async with uow_factory() as uow:
        await refund_right(uow, member_right_id=held.id, caller="test")
    with raises_code(ErrorCode.ALREADY_REVERSED, "memberRightId"):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=held.id, caller="test")
    # not refundable
    _, fixed = await _bought(uow_factory, replace(TICKET, name="Fixed", refundable=False))
    with raises_code(ErrorCode.NOT_REFUNDABLE):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=fixed.id, caller="test")
    # used
    _, used = await _bought(uow_factory, replace(TICKET, name="Used"))
    async with uow_factory() as uow:
        await write_off_voucher(uow, code=used.code, unit_id=units["TOURISM"], caller="p")
    with raises_code(ErrorCode.VOUCHER_USED):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=used.id, caller="test")
    # granted, not bought
    async with uow_factory() as uow:
        gift = await grant_right(
            uow, member_id=member, right_id=held.right_id, reason="sorry", actor="ops:1"
        )
    with raises_code(ErrorCode.NOT_REFUNDABLE):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=gift.id, caller="test")
    # somebody else's, asked for by a member: as if it did not exist
    async with uow_factory() as uow:
        stranger = await new_member(uow, "HOTEL")
    _, theirs = await _bought(uow_factory, replace(TICKET, name="Theirs"))
    with raises_code(ErrorCode.NOT_FOUND):
        async with uow_factory() as uow:
            await refund_right(uow, member_right_id=theirs.id, caller="test", member_id=stranger)
    for wrong in ("abc", "99999999999999999999", "١٢"):
        with raises_code(ErrorCode.NOT_FOUND):
            async with uow_factory() as uow:
                await refund_right(uow, member_right_id=wrong, caller="test")
    await assert_clean(uow_factory)


async def test_a_refund_after_the_lot_expired_gives_the_points_a_grace_lot(
    units, uow_factory, clock
):
    member, held = await _bought(uow_factory, replace(TICKET, valid_days=900))
    async with uow_factory() as uow:
        spent_lots = {a.lot_id for a in await allocations_of(uow, held.transaction_id)}
    clock.advance(days=800)  # every lot has expired; the ticket still has its validity
    async with uow_factory() as uow:
        returned = await refund_right(uow, member_right_id=held.id, caller="test")
    async with uow_factory() as uow:
        lots = await lots_of(uow, member)
        regrant = [lot for lot in lots if lot.transaction_id == returned.refund_transaction_id]
    assert sum(lot.points for lot in regrant) == 300
    assert {lot.origin_lot_id for lot in regrant} <= spent_lots
    assert all(lot.expires_at > clock.now for lot in regrant)
    await assert_clean(uow_factory)


async def test_operators_grant_without_stock_and_revoke_unused_ones(units, uow_factory):
    async with uow_factory() as uow:
        right = await create_right(uow, spec=replace(TICKET, stock=0), actor="ops:test")
        member = await new_member(uow, "HOTEL")
        gift = await grant_right(
            uow, member_id=member, right_id=right.id, reason="complaint 42", actor="ops:1"
        )
    assert (gift.source, gift.status, gift.points_spent) == ("OPERATOR", "ACTIVE", 0)
    async with uow_factory() as uow:
        revoked = await revoke_right(
            uow, member_right_id=gift.id, reason="granted twice", actor="ops:2"
        )
    assert (revoked.status, revoked.ended_by, revoked.end_reason) == (
        "REVOKED",
        "ops:2",
        "granted twice",
    )
    with raises_code(ErrorCode.VOUCHER_REVOKED):
        async with uow_factory() as uow:
            await revoke_right(uow, member_right_id=gift.id, reason="again", actor="ops:2")
    async with uow_factory() as uow:
        used = await grant_right(
            uow, member_id=member, right_id=right.id, reason="make good", actor="ops:1"
        )
        await write_off_voucher(uow, code=used.code, unit_id=units["TOURISM"], caller="p")
    with raises_code(ErrorCode.VOUCHER_USED):
        async with uow_factory() as uow:
            await revoke_right(uow, member_right_id=used.id, reason="oops", actor="ops:2")
    with raises_code(ErrorCode.INVALID_INPUT, "reason"):
        async with uow_factory() as uow:
            await grant_right(uow, member_id=member, right_id=right.id, reason=" ", actor="o")
    async with uow_factory() as uow:
        actions = list(
            await uow.session.scalars(select(OperatorAction.action).order_by(OperatorAction.id))
        )
        stock = (await get_right(uow, right.id)).stock_remaining
    assert actions.count("grantRight") == 2 and actions.count("revokeRight") == 1
    assert stock == 0


async def test_the_unit_that_wrote_it_off_may_undo_it_within_the_window(units, uow_factory, clock):
    _, held = await _bought(uow_factory, PARKING)
    office, mall = units["OFFICE"], units["MALL"]
    async with uow_factory() as uow:
        await write_off_voucher(uow, code=held.code, unit_id=office, caller="p", order_ref="T-9")
    with pytest.raises(PermissionDenied):  # the provider, but not the unit that wrote it off
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=mall, caller="p", reason="x", window=DAY
            )
    with raises_code(ErrorCode.INVALID_INPUT, "reason"):
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=office, caller="p", reason="", window=DAY
            )
    clock.advance(hours=23)
    async with uow_factory() as uow:
        again = await undo_write_off(
            uow, code=held.code, unit_id=office, caller="p2", reason="wrong car", window=DAY
        )
    assert (again.status, again.used_at, again.used_at_unit_id) == ("ACTIVE", None, None)
    with raises_code(ErrorCode.INVALID_INPUT, "code"):  # nothing to undo now
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=office, caller="p", reason="x", window=DAY
            )
    async with uow_factory() as uow:  # written off again, at the mall this time
        await write_off_voucher(uow, code=held.code, unit_id=mall, caller="p")
    clock.advance(hours=25)
    with raises_code(ErrorCode.UNDO_WINDOW_PASSED, "code"):
        async with uow_factory() as uow:
            await undo_write_off(
                uow, code=held.code, unit_id=mall, caller="p", reason="late", window=DAY
            )
    async with uow_factory() as uow:
        rows = list(
            await uow.session.scalars(
                select(VoucherWriteOff)
                .where(VoucherWriteOff.member_right_id == held.id)
                .order_by(VoucherWriteOff.id)
            )
        )
    assert [(r.unit_id, r.order_ref, r.undo_reason, r.undone_by) for r in rows] == [
        (office, "T-9", "wrong car", "p2"),
        (mall, None, None, None),
    ]


async def test_the_expiry_sweep_marks_vouchers_once(units, uow_factory, clock):
    _, held = await _bought(uow_factory)
    async with uow_factory() as uow:
        assert await expire_rights(uow) == 0
    clock.advance(days=31)
    async with uow_factory() as uow:
        assert await expire_rights(uow, limit=1) == 1
    async with uow_factory() as uow:
        assert await expire_rights(uow) == 0
        stored = await uow.session.get(MemberRight, held.id)
    assert stored.status == "EXPIRED"
