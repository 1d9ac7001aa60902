"""Redeeming points without a till's rules (app.domain.ledger.redemption): what the mall and
rights will call. Earliest-expiring lots first, each point traced to its lot with its share of
the CNY value, the redeeming unit on the REDEEMED side, and nothing written when short."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.domain.ledger.accounts import TxKind
from app.domain.ledger.redemption import redeem
from app.domain.ledger.writer import lock_member
from app.domain.shared.errors import ErrorCode
from app.models import PointsTransaction
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


def _redemption(member_id: int, points: int, value: str | None, uow) -> PointsTransaction:
    return PointsTransaction(
        member_id=member_id,
        kind=TxKind.SPEND.value,
        source="MALL",
        rule="mall:test-item",
        points=-points,
        cny_value=Decimal(value) if value is not None else None,
        caller="test",
        created_at=uow.now,
    )


async def test_a_redemption_takes_the_earliest_expiring_lots_and_traces_each_point(
    units, uow_factory
):
    async with uow_factory(NOW - timedelta(days=200)) as uow:  # the older lot expires first
        member = await new_member(uow, "HOTEL")
        older = await earn(uow, member, "100.00", unit="HOTEL")  # 200 points
    async with uow_factory() as uow:
        newer = await earn(uow, member, "100.00", unit="HOTEL")  # 200 points
    async with uow_factory() as uow:
        _, held = await lock_member(uow, member)
        # no order reference, no share of an order, no daily cap: the caller's rules are its own
        tx = await redeem(
            uow, _redemption(member, 300, "10.01", uow), held, redeemer_unit_id=units["MALL"]
        )
    async with uow_factory() as uow:
        parts = await allocations_of(uow, tx.id)
        assert [(a.kind, a.points) for a in parts] == [("SPEND", 200), ("SPEND", 100)]
        assert sum(a.cny_value for a in parts) == Decimal("10.01")  # to the cent
        assert {a.cny_value for a in parts} == {Decimal("6.67"), Decimal("3.34")}
        postings = await postings_of(uow, tx.id)
        assert postings[("REDEEMED", units["MALL"])] == 300
        assert (await balance(uow, member)).available == 100
    assert older.id and newer.id
    await assert_clean(uow_factory)


async def test_a_short_balance_refuses_and_writes_nothing(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "50.00", unit="HOTEL")  # 100 points
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS, "points"):
        async with uow_factory() as uow:
            _, held = await lock_member(uow, member)
            await redeem(
                uow, _redemption(member, 101, None, uow), held, redeemer_unit_id=units["MALL"]
            )
    assert await ledger_snapshot(uow_factory) == before
