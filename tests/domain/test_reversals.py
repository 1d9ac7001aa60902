"""Reversals: refunds take back what an order earned (never twice); cancels give points back."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain.shared.errors import ErrorCode
from app.domain.till.reversals import reverse_transaction
from tests.helpers import (
    allocations_of,
    assert_clean,
    cancel,
    earn,
    ledger_snapshot,
    lots_of,
    new_member,
    points_of,
    postings_of,
    raises_code,
    refund,
    run_expire_job,
    run_release_job,
    set_program,
    spend,
)


async def member_with_earn(uow_factory, amount: str = "100", unit: str = "HOTEL"):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, amount, unit)
    return member, tx


# --- refunds of an earn ----------------------------------------------------------------------


async def test_full_refund_takes_back_the_points(units, uow_factory, clock):
    member, tx = await member_with_earn(uow_factory)
    clock.advance(days=2)
    async with uow_factory() as uow:
        back = await refund(uow, tx.id, reason="customer returned the goods")
        postings = await postings_of(uow, back.id)
        [lot] = await lots_of(uow, member)
    assert back.kind == "EARN_REVERSAL"
    assert back.reverses_id == tx.id
    assert back.points == -200
    assert back.cny_value == Decimal("100.00")
    assert back.reason == "customer returned the goods"
    assert back.order_ref == tx.order_ref
    assert back.created_at == clock.now
    assert postings == {("MEMBER_AVAILABLE", member): -200, ("ISSUED", units["HOTEL"]): 200}
    assert lot.remaining == 0
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_partial_refunds_are_cumulative_and_exact(units, uow_factory):
    member, tx = await member_with_earn(uow_factory, "33.33")  # 66 points
    assert tx.points == 66
    taken = []
    for amount in ("10", "10", None):  # the last one refunds what is left: 13.33
        async with uow_factory() as uow:
            back = await refund(uow, tx.id, amount)
        taken.append(-back.points)
    # cumulative targets: floor(66 x 10/33.33) = 19, floor(66 x 20/33.33) = 39, then all 66
    assert taken == [19, 20, 27]
    assert sum(taken) == tx.points
    assert back.cny_value == Decimal("13.33")
    assert await points_of(uow_factory, member) == (0, 0, 0)
    with raises_code(ErrorCode.ALREADY_REVERSED, field="transactionId"):
        async with uow_factory() as uow:
            await refund(uow, tx.id, "0.01")
    await assert_clean(uow_factory)


async def test_many_small_refunds_never_take_more_than_earned(units, uow_factory):
    member, tx = await member_with_earn(uow_factory, "3.33")  # 6 points
    taken = 0
    for step in range(1, 34):
        async with uow_factory() as uow:
            back = await refund(uow, tx.id, "0.10")
        taken -= back.points
        assert taken == 6 * step * 10 // 333  # floor of the refunded share, never ahead of it
    assert taken == 5  # 3.30 of 3.33 refunded
    assert await points_of(uow_factory, member) == (1, 0, 0)
    async with uow_factory() as uow:
        await refund(uow, tx.id, "0.03")
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_refund_more_than_is_left(units, uow_factory):
    member, tx = await member_with_earn(uow_factory)
    async with uow_factory() as uow:
        await refund(uow, tx.id, "60")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.INVALID_INPUT, field="amount") as info:
        async with uow_factory() as uow:
            await refund(uow, tx.id, "40.01")
    assert "40.00" in info.value.message
    for bad in ("0", "-5", "1.234"):
        with raises_code(ErrorCode.INVALID_INPUT, field="amount"):
            async with uow_factory() as uow:
                await refund(uow, tx.id, bad)
    assert await ledger_snapshot(uow_factory) == before
    async with uow_factory() as uow:
        await refund(uow, tx.id, "40")
    with raises_code(ErrorCode.ALREADY_REVERSED):
        async with uow_factory() as uow:
            await refund(uow, tx.id)
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_refund_inside_the_pending_window_cancels_pending_points(units, uow_factory, clock):
    member, tx = await member_with_earn(uow_factory, "500", "MALL")  # 500 pending for 7 days
    clock.advance(days=3)
    async with uow_factory() as uow:
        back = await refund(uow, tx.id, "200")
        postings = await postings_of(uow, back.id)
    assert postings == {("MEMBER_PENDING", member): -200, ("ISSUED", units["MALL"]): 200}
    assert await points_of(uow_factory, member) == (0, 300, 0)
    clock.advance(days=5)
    [release] = await run_release_job(uow_factory)
    assert release.points == 300
    assert await points_of(uow_factory, member) == (300, 0, 0)
    await assert_clean(uow_factory)


async def test_full_refund_while_pending_leaves_nothing_to_release(units, uow_factory, clock):
    member, tx = await member_with_earn(uow_factory, "500", "MALL")
    async with uow_factory() as uow:
        await refund(uow, tx.id)
    assert await points_of(uow_factory, member) == (0, 0, 0)
    clock.advance(days=8)
    for release in await run_release_job(uow_factory):
        assert release.points == 0
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_refund_of_spent_points_creates_debt(units, uow_factory):
    member, tx = await member_with_earn(uow_factory)  # 200
    async with uow_factory() as uow:
        await spend(uow, member, 200, "1000", "HOTEL")
    async with uow_factory() as uow:
        back = await refund(uow, tx.id)
        postings = await postings_of(uow, back.id)
    assert back.points == -200
    assert back.debt_change == 200
    assert postings == {("MEMBER_AVAILABLE", member): -200, ("ISSUED", units["HOTEL"]): 200}
    assert await points_of(uow_factory, member) == (-200, 0, 200)
    await assert_clean(uow_factory)
    # the next earning pays the debt first
    async with uow_factory() as uow:
        repaid = await earn(uow, member, "150", "HOTEL")  # 300
    assert repaid.debt_change == -200
    assert await points_of(uow_factory, member) == (100, 0, 0)
    async with uow_factory() as uow:
        [_, lot] = await lots_of(uow, member)
    assert lot.remaining == 100
    await assert_clean(uow_factory)


async def test_refund_of_partly_spent_points(units, uow_factory):
    member, tx = await member_with_earn(uow_factory)  # 200
    async with uow_factory() as uow:
        await spend(uow, member, 100, "1000", "HOTEL")
    async with uow_factory() as uow:
        first = await refund(uow, tx.id, "25")  # 50 points: all from the lot
    assert (first.points, first.debt_change) == (-50, 0)
    async with uow_factory() as uow:
        second = await refund(uow, tx.id, "50")  # 100 points: 50 left in the lot, 50 as debt
    assert (second.points, second.debt_change) == (-100, 50)
    async with uow_factory() as uow:
        last = await refund(uow, tx.id)  # 50 points, all debt: 100 were spent in total
    assert (last.points, last.debt_change) == (-50, 50)
    assert await points_of(uow_factory, member) == (-100, 0, 100)
    await assert_clean(uow_factory)


async def test_debt_is_paid_from_points_the_member_already_has(units, uow_factory):
    """Refunding a spent order while other points are available: those pay the debt at once."""
    async with uow_factory() as uow:
        member = await new_member(uow)
        first = await earn(uow, member, "100", "HOTEL")  # 200
        await earn(uow, member, "100", "HOTEL")  # 200 more, expiring later
    async with uow_factory() as uow:
        await spend(uow, member, 300, "1000", "HOTEL")  # all of the first lot, 100 of the second
    async with uow_factory() as uow:
        back = await refund(uow, first.id)
    assert back.points == -200
    assert back.debt_change == 100  # 200 owed, 100 paid at once by the second lot
    assert await points_of(uow_factory, member) == (-100, 0, 100)
    async with uow_factory() as uow:
        assert [lot.remaining for lot in await lots_of(uow, member)] == [0, 0]
    await assert_clean(uow_factory)


async def test_refund_after_the_points_repaid_debt_is_charged_again(units, uow_factory):
    """Buy, earn, spend, refund (debt), buy again (pays the debt), refund again: still owed.

    The classic farming loop: the second order's points were used up paying the first
    order's debt, so refunding the second order must not wipe the debt out.
    """
    member, first = await member_with_earn(uow_factory)  # 200
    async with uow_factory() as uow:
        await spend(uow, member, 200, "1000", "HOTEL")
    async with uow_factory() as uow:
        await refund(uow, first.id)
    assert await points_of(uow_factory, member) == (-200, 0, 200)
    async with uow_factory() as uow:
        second = await earn(uow, member, "100", "HOTEL")  # 200, all paying the debt
    assert await points_of(uow_factory, member) == (0, 0, 0)
    async with uow_factory() as uow:
        back = await refund(uow, second.id)
    assert back.points == -200
    assert await points_of(uow_factory, member) == (-200, 0, 200)
    await assert_clean(uow_factory)


async def test_pending_release_repays_debt(units, uow_factory, clock):
    member, hotel = await member_with_earn(uow_factory)  # 200 available
    async with uow_factory() as uow:
        await earn(uow, member, "300", "MALL")  # 300 pending for 7 days
        await spend(uow, member, 200, "1000", "HOTEL")
    async with uow_factory() as uow:
        await refund(uow, hotel.id)
    assert await points_of(uow_factory, member) == (-200, 300, 200)
    await assert_clean(uow_factory)
    clock.advance(days=7)
    [release] = await run_release_job(uow_factory)
    assert release.debt_change == -200
    assert await points_of(uow_factory, member) == (100, 0, 0)
    await assert_clean(uow_factory)


async def test_block_policy_refuses_refunds_of_spent_points(units, uow_factory):
    await set_program(uow_factory, refund_shortfall="BLOCK")
    member, tx = await member_with_earn(uow_factory)
    async with uow_factory() as uow:
        await spend(uow, member, 100, "1000", "HOTEL")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS, field="transactionId"):
        async with uow_factory() as uow:
            await refund(uow, tx.id)
    assert await ledger_snapshot(uow_factory) == before
    assert await points_of(uow_factory, member) == (100, 0, 0)
    # what is still in the lot can be refunded
    async with uow_factory() as uow:
        back = await refund(uow, tx.id, "50")
    assert (back.points, back.debt_change) == (-100, 0)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS):
        async with uow_factory() as uow:
            await refund(uow, tx.id, "0.50")
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_expired_points_of_a_refunded_order_are_not_debt(units, uow_factory, clock):
    member, tx = await member_with_earn(uow_factory)  # 200, expire in 12 months
    async with uow_factory() as uow:
        await spend(uow, member, 100, "1000", "HOTEL")
    clock.advance(days=366)
    [expired] = await run_expire_job(uow_factory)
    assert expired.points == -100
    async with uow_factory() as uow:
        back = await refund(uow, tx.id)
    assert back.points == -100  # only the spent 100; the expired 100 are already gone
    assert back.debt_change == 100
    assert back.detail == {"taken": 0, "debt": 100, "expired": 100}
    assert await points_of(uow_factory, member) == (-100, 0, 100)
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"transaction_id": 987654}, ErrorCode.NOT_FOUND, "transactionId"),
        ({"transaction_id": "abc"}, ErrorCode.NOT_FOUND, "transactionId"),
        ({"reason": "  "}, ErrorCode.INVALID_INPUT, "reason"),
        ({"reason": "x" * 201}, ErrorCode.INVALID_INPUT, "reason"),
    ],
)
async def test_reversal_input(units, uow_factory, kwargs, code, field):
    _, tx = await member_with_earn(uow_factory)
    args = {"transaction_id": tx.id, "reason": "refund", "caller": "test"} | kwargs
    with raises_code(code, field=field):
        async with uow_factory() as uow:
            await reverse_transaction(uow, **args)
    await assert_clean(uow_factory)


# --- cancelling a spend ----------------------------------------------------------------------


async def test_cancel_restores_points_to_the_same_lots(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")  # 200
        await earn(uow, member, "100", "OFFICE")  # 100
    async with uow_factory() as uow:
        tx = await spend(uow, member, 300, "1000", "MALL")
        spent = await allocations_of(uow, tx.id)
    assert await points_of(uow_factory, member) == (0, 0, 0)
    async with uow_factory() as uow:
        back = await cancel(uow, tx.id, reason="order cancelled at the till")
        restored = await allocations_of(uow, back.id)
        postings = await postings_of(uow, back.id)
        lots = await lots_of(uow, member)
    assert back.kind == "SPEND_REVERSAL"
    assert back.points == 300
    assert back.cny_value == tx.cny_value == Decimal("6.00")
    assert postings == {("MEMBER_AVAILABLE", member): 300, ("REDEEMED", units["MALL"]): -300}
    assert [(r.lot_id, r.kind, r.points, r.restores_allocation_id) for r in restored] == [
        (s.lot_id, "RESTORE", -s.points, s.id) for s in spent
    ]
    assert sum(r.cny_value for r in restored) == -tx.cny_value
    assert [lot.remaining for lot in lots] == [200, 100]
    assert len(lots) == 2  # no new lot
    assert await points_of(uow_factory, member) == (300, 0, 0)
    await assert_clean(uow_factory)


async def test_cancel_twice_is_already_reversed(units, uow_factory):
    member, _ = await member_with_earn(uow_factory)
    async with uow_factory() as uow:
        tx = await spend(uow, member, 100, "1000", "HOTEL")
    async with uow_factory() as uow:
        back = await cancel(uow, tx.id)
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.ALREADY_REVERSED, field="transactionId"):
        async with uow_factory() as uow:
            await cancel(uow, tx.id)
    with raises_code(ErrorCode.INVALID_INPUT, field="amount"):  # a spend is cancelled whole
        async with uow_factory() as uow:
            await refund(uow, tx.id, "1")
    with raises_code(ErrorCode.INVALID_INPUT, field="transactionId"):  # nor a reversal reversed
        async with uow_factory() as uow:
            await cancel(uow, back.id)
    assert await ledger_snapshot(uow_factory) == before
    assert await points_of(uow_factory, member) == (200, 0, 0)
    await assert_clean(uow_factory)


async def test_cancel_after_the_lot_expired_regrants_with_grace(units, uow_factory, clock):
    await set_program(uow_factory, restore_grace_days=10)
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")  # 200, expire in 12 months
    clock.advance(days=360)
    async with uow_factory() as uow:
        tx = await spend(uow, member, 100, "1000", "MALL")
    clock.advance(days=10)  # the lot has expired meanwhile
    [expired] = await run_expire_job(uow_factory)
    assert expired.points == -100
    assert await points_of(uow_factory, member) == (0, 0, 0)
    async with uow_factory() as uow:
        back = await cancel(uow, tx.id)
        old, regrant = await lots_of(uow, member)
    assert back.points == 100
    assert regrant.origin_lot_id == old.id
    assert regrant.transaction_id == back.id
    assert (regrant.points, regrant.remaining, regrant.state) == (100, 100, "AVAILABLE")
    assert regrant.expires_at == clock.now + timedelta(days=10)
    assert (regrant.issuer_unit_id, regrant.funder_unit_id) == (units["HOTEL"], units["HOTEL"])
    assert old.remaining == 0
    assert await points_of(uow_factory, member) == (100, 0, 0)
    await assert_clean(uow_factory)
    # the grace period ends like any expiry
    clock.advance(days=10)
    [expired_again] = await run_expire_job(uow_factory)
    assert expired_again.points == -100
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_cancel_after_expiry_before_the_job_ran(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")  # 200
    async with uow_factory() as uow:
        tx = await spend(uow, member, 100, "1000", "HOTEL")
    clock.advance(days=400)  # expired, but the job has not run yet
    async with uow_factory() as uow:
        await cancel(uow, tx.id)
        lots = await lots_of(uow, member)
    assert [(lot.remaining, lot.origin_lot_id) for lot in lots] == [(100, None), (100, lots[0].id)]
    assert lots[1].expires_at == clock.now + timedelta(days=30)  # the default grace
    await assert_clean(uow_factory)
    [expired] = await run_expire_job(uow_factory)
    assert expired.points == -100  # only the old lot's own leftover
    assert await points_of(uow_factory, member) == (100, 0, 0)
    await assert_clean(uow_factory)


async def test_cancel_repays_debt(units, uow_factory):
    member, tx = await member_with_earn(uow_factory)  # 200
    async with uow_factory() as uow:
        sp = await spend(uow, member, 200, "1000", "HOTEL")
    async with uow_factory() as uow:
        await refund(uow, tx.id)
    assert await points_of(uow_factory, member) == (-200, 0, 200)
    async with uow_factory() as uow:
        back = await cancel(uow, sp.id)
    assert back.debt_change == -200
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_cancel_then_refund_rest_after_partial_refund(units, uow_factory):
    """Spend, refund half (debt), cancel the spend (repays), refund the rest: back to zero."""
    member, tx = await member_with_earn(uow_factory)  # 200
    async with uow_factory() as uow:
        sp = await spend(uow, member, 200, "1000", "HOTEL")
    async with uow_factory() as uow:
        await refund(uow, tx.id, "50")
    assert await points_of(uow_factory, member) == (-100, 0, 100)
    async with uow_factory() as uow:
        await cancel(uow, sp.id)
    assert await points_of(uow_factory, member) == (100, 0, 0)
    async with uow_factory() as uow:
        await spend(uow, member, 100, "1000", "HOTEL")
    async with uow_factory() as uow:
        last = await refund(uow, tx.id)
    assert last.points == -100
    assert await points_of(uow_factory, member) == (-100, 0, 100)  # the second spend is owed
    await assert_clean(uow_factory)


async def test_refund_after_cancel_to_an_expired_lot(units, uow_factory, clock):
    """The spend came back as a new lot; refunding the original order takes it from there."""
    member, tx = await member_with_earn(uow_factory)  # 200
    async with uow_factory() as uow:
        sp = await spend(uow, member, 200, "1000", "HOTEL")
    clock.advance(days=400)
    async with uow_factory() as uow:
        await cancel(uow, sp.id)  # regranted as a new lot with grace
    async with uow_factory() as uow:
        back = await refund(uow, tx.id)
    assert back.points == -200
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)
