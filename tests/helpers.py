"""Shortcuts the domain tests share: register a member, earn, spend, check the ledger."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app.domain.ledger.audit import verify_ledger
from app.domain.ledger.expiry import (
    expire_member_points,
    members_with_expired_lots,
    members_with_releasable_lots,
    release_member_points,
)
from app.domain.members.identity import register_member
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.till.earning import earn_points
from app.domain.till.reversals import reverse_transaction
from app.domain.till.spending import spend_points
from app.models import (
    IdempotencyKey,
    LotAllocation,
    MemberBalance,
    PointsLot,
    PointsTransaction,
    Posting,
    Program,
)

_phones = itertools.count(13800000000)
_orders = itertools.count(1)


async def new_member(uow, unit: str = "MALL", **extra) -> int:
    extra.setdefault("display_name", "Test Member")
    member = await register_member(uow, phone=str(next(_phones)), business_unit=unit, **extra)
    return member.id


async def earn(
    uow, member_id: int, amount: str, unit: str = "HOTEL", *, ref: str | None = None, **extra
):
    return await earn_points(
        uow,
        member_id=member_id,
        business_unit=unit,
        order_ref=ref or f"E{next(_orders)}",
        amount=Decimal(amount),
        caller="test",
        **extra,
    )


async def spend(
    uow,
    member_id: int,
    points: int,
    order_amount: str = "10000",
    unit: str = "HOTEL",
    *,
    ref: str | None = None,
    **extra,
):
    return await spend_points(
        uow,
        member_id=member_id,
        business_unit=unit,
        order_ref=ref or f"S{next(_orders)}",
        order_amount=Decimal(order_amount),
        points=points,
        caller="test",
        **extra,
    )


async def balance(uow, member_id: int) -> MemberBalance:
    return await uow.session.get(MemberBalance, member_id)


# Ledger transactions without exactly one POINTS_CHANGED event of their own in the outbox.
_UNANNOUNCED = """SELECT t.id, count(e.id) FROM points_transactions t
LEFT JOIN outbox_events e
    ON e.type = 'POINTS_CHANGED' AND (e.payload ->> 'transactionId')::bigint = t.id
    AND e.member_id = t.member_id
GROUP BY t.id HAVING count(e.id) <> 1"""


async def assert_clean(uow_factory) -> None:
    """The ledger's invariants hold (`verify_ledger`), and every ledger transaction wrote its
    one POINTS_CHANGED event in the outbox (in its own transaction: nothing else writes it)."""
    async with uow_factory() as uow:
        problems = await verify_ledger(uow)
        unannounced = await (await uow.driver()).fetch(_UNANNOUNCED)
    assert problems == []
    assert [tuple(row) for row in unannounced] == []


# --- added for the domain suite -------------------------------------------------------------


@contextmanager
def raises_code(code: ErrorCode, field: str | None = None) -> Iterator[pytest.ExceptionInfo]:
    """Expect a `DomainError` with this code (and field, if given)."""
    with pytest.raises(DomainError) as info:
        yield info
    assert info.value.code == code, f"{info.value.code}: {info.value.message}"
    if field is not None:
        assert info.value.field == field


def order_ref(prefix: str = "O") -> str:
    return f"{prefix}{next(_orders)}"


async def refund(uow, transaction_id: int, amount: str | None = None, reason: str = "refund"):
    return await reverse_transaction(
        uow,
        transaction_id=transaction_id,
        amount=None if amount is None else Decimal(amount),
        reason=reason,
        caller="test",
    )


async def cancel(uow, transaction_id: int, reason: str = "cancelled"):
    return await reverse_transaction(
        uow, transaction_id=transaction_id, reason=reason, caller="test"
    )


async def set_program(uow_factory, **policy) -> None:
    """Change the programme's policies (the single `program` row)."""
    async with uow_factory() as uow:
        await uow.session.execute(update(Program).where(Program.id == 1).values(**policy))


async def lots_of(uow, member_id: int) -> list[PointsLot]:
    return list(
        await uow.session.scalars(
            select(PointsLot)
            .where(PointsLot.member_id == member_id)
            .order_by(PointsLot.id)
            .execution_options(populate_existing=True)
        )
    )


async def allocations_of(uow, transaction_id: int) -> list[LotAllocation]:
    return list(
        await uow.session.scalars(
            select(LotAllocation)
            .where(LotAllocation.transaction_id == transaction_id)
            .order_by(LotAllocation.id)
        )
    )


async def postings_of(uow, transaction_id: int) -> dict[tuple[str, int], int]:
    rows = await uow.session.execute(
        select(Posting.account_kind, Posting.account_owner, Posting.points).where(
            Posting.transaction_id == transaction_id
        )
    )
    return {(kind, owner): points for kind, owner, points in rows}


async def transactions_of(uow, member_id: int, kind: str | None = None) -> list[PointsTransaction]:
    query = select(PointsTransaction).where(PointsTransaction.member_id == member_id)
    if kind is not None:
        query = query.where(PointsTransaction.kind == kind)
    return list(await uow.session.scalars(query.order_by(PointsTransaction.id)))


async def ledger_snapshot(uow_factory) -> dict[str, object]:
    """Row counts of every ledger table and all balances: equal snapshots = nothing recorded."""
    async with uow_factory() as uow:
        counts = {
            model.__tablename__: await uow.session.scalar(select(func.count()).select_from(model))
            for model in (PointsTransaction, Posting, PointsLot, LotAllocation, IdempotencyKey)
        }
        balances = (
            await uow.session.execute(
                select(
                    MemberBalance.member_id,
                    MemberBalance.available,
                    MemberBalance.pending,
                    MemberBalance.debt,
                ).order_by(MemberBalance.member_id)
            )
        ).all()
        remaining = (
            await uow.session.execute(
                select(PointsLot.id, PointsLot.remaining, PointsLot.state).order_by(PointsLot.id)
            )
        ).all()
    return {
        **counts,
        "balances": [tuple(r) for r in balances],
        "lots": [tuple(r) for r in remaining],
    }


async def points_of(uow_factory, member_id: int) -> tuple[int, int, int]:
    """(available, pending, debt) of a member, read in a fresh transaction."""
    async with uow_factory() as uow:
        row = await balance(uow, member_id)
        return row.available, row.pending, row.debt


async def run_expire_job(uow_factory, now=None) -> list[PointsTransaction]:
    """The expiry job as it runs in production: list members, then one unit of work each."""
    async with uow_factory(now) as uow:
        members = await members_with_expired_lots(uow)
    done = []
    for member_id in members:
        async with uow_factory(now) as uow:
            tx = await expire_member_points(uow, member_id)
        if tx is not None:
            done.append(tx)
    return done


async def run_release_job(uow_factory, now=None) -> list[PointsTransaction]:
    """The pending-release job: list members, then one unit of work each."""
    async with uow_factory(now) as uow:
        members = await members_with_releasable_lots(uow)
    done = []
    for member_id in members:
        async with uow_factory(now) as uow:
            tx = await release_member_points(uow, member_id)
        if tx is not None:
            done.append(tx)
    return done
