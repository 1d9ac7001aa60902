"""A ledger transaction dated inside a period that commits after the period's end is in the
period's closed statement: the close waits out the settle window, then for every open ledger
transaction to end (on PostgreSQL: a transaction held open across the close)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.domain.settlement import closing
from app.domain.settlement.closing import DEFAULT_SETTLE, close_settlement_period, settle_window
from app.domain.shared.errors import ErrorCode
from tests.conftest import TZ
from tests.domain.test_settlement import JUNE, assert_balanced, party, statement_of
from tests.helpers import earn, new_member, raises_code, spend


async def _member_with_points(uow_factory) -> int:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "2500", unit="HOTEL")  # 5,000 HOTEL points
    return member


async def _close_june(uow_factory):
    async with uow_factory() as uow:
        return await close_settlement_period(uow, period=str(JUNE), actor="finance:1")


def test_the_settle_window_is_the_request_timeout_and_the_statement_timeout():
    assert settle_window(10.0, 5000) == timedelta(seconds=15) == DEFAULT_SETTLE


async def test_a_period_closes_only_once_over_for_the_settle_window(units, uow_factory, clock):
    clock.now = JUNE.end(TZ) + DEFAULT_SETTLE - timedelta(seconds=1)
    with raises_code(ErrorCode.INVALID_INPUT, "period"):
        await _close_june(uow_factory)
    clock.now = JUNE.end(TZ) + DEFAULT_SETTLE
    assert (await _close_june(uow_factory)).status == "CLOSED"


async def test_a_spend_dated_before_the_end_committing_after_the_close_began_is_in_it(
    units, uow_factory, clock
):
    member = await _member_with_points(uow_factory)
    clock.now = JUNE.end(TZ) - timedelta(milliseconds=100)  # 23:59:59.9 on June 30th
    held = uow_factory()
    uow = await held.__aenter__()
    try:
        await spend(uow, member, 300, "100000", unit="OFFICE")  # written, not committed
        clock.now = JUNE.end(TZ) + DEFAULT_SETTLE
        close = asyncio.create_task(_close_june(uow_factory))
        await asyncio.sleep(0.5)
        assert not close.done()  # the close waits for the open ledger transaction
    finally:
        await held.__aexit__(None, None, None)  # commits the spend
    closed = await close
    assert party(closed, "OFFICE").receivable_points == 300
    assert party(closed, "HOTEL").payable_points == 300
    assert closed == await statement_of(uow_factory)  # stored as computed
    assert_balanced(closed)


async def test_a_transaction_open_too_long_makes_the_close_unavailable_and_changes_nothing(
    units, uow_factory, clock, monkeypatch
):
    monkeypatch.setattr(closing, "BARRIER_WAIT", timedelta(milliseconds=300))
    member = await _member_with_points(uow_factory)
    clock.now = JUNE.end(TZ) - timedelta(seconds=1)
    held = uow_factory()
    uow = await held.__aenter__()
    try:
        await spend(uow, member, 200, "100000", unit="OFFICE")
        clock.now = JUNE.end(TZ) + DEFAULT_SETTLE
        with raises_code(ErrorCode.UNAVAILABLE):
            await _close_june(uow_factory)
        assert (await statement_of(uow_factory)).status == "OPEN"  # nothing stored
    finally:
        await held.__aexit__(None, None, None)
    closed = await _close_june(uow_factory)  # tried again once it committed
    assert closed.status == "CLOSED"
    assert party(closed, "OFFICE").receivable_points == 200
