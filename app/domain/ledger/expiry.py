"""When points expire, and the jobs that expire lots and release pending ones.

Jobs take one member at a time under the balance lock and re-read the lots inside it, so two
runs at once (or a run twice) never expire or release the same points twice.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.domain.ledger.writer import (
    Account,
    AllocationKind,
    LotState,
    TxKind,
    funder_of,
    lock_balance,
    member_account,
    record,
    repay_debt,
    take,
)
from app.models import MemberBalance, PointsLot, PointsTransaction, Program
from app.platform.uow import UnitOfWork


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry_for(program: Program, earned_at: datetime, tz: ZoneInfo) -> datetime:
    """The instant a lot earned at `earned_at` expires (exclusive), by the programme's policy.

    ROLLING: N months after earning. ANNUAL: points earned in year Y (group time zone) expire
    at the end of Dec 31 of Y+1, i.e. at midnight opening Jan 1 of Y+2.
    """
    local = earned_at.astimezone(tz)
    if program.expiry_mode == "ANNUAL":
        return datetime(local.year + 2, 1, 1, tzinfo=tz)
    return add_months(local, program.rolling_months)


async def members_with_expired_lots(uow: UnitOfWork, limit: int = 1000) -> list[int]:
    return list(
        await uow.session.scalars(
            select(PointsLot.member_id)
            .where(PointsLot.remaining > 0, PointsLot.expires_at <= uow.now)
            .group_by(PointsLot.member_id)
            .order_by(PointsLot.member_id)
            .limit(limit)
        )
    )


async def expire_member_points(uow: UnitOfWork, member_id: int) -> PointsTransaction | None:
    """Expire every lot of this member past its expiry; breakage goes to each lot's funder."""
    balance = await lock_balance(uow, member_id)
    lots = list(
        await uow.session.scalars(
            select(PointsLot)
            .where(
                PointsLot.member_id == member_id,
                PointsLot.remaining > 0,
                PointsLot.expires_at <= uow.now,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
            .execution_options(populate_existing=True)
        )
    )
    if not lots:
        return None
    total = sum(lot.remaining for lot in lots)
    legs = []
    breakage: dict[int, int] = defaultdict(int)
    for lot in lots:
        legs.append((member_account(lot.state), member_id, -lot.remaining))
        breakage[funder_of(lot)] += lot.remaining
    legs += [(Account.BREAKAGE, funder, points) for funder, points in breakage.items()]
    tx = await record(
        uow,
        PointsTransaction(
            member_id=member_id,
            kind=TxKind.EXPIRY.value,
            source="SYSTEM",
            rule="expiry",
            points=-total,
            caller="job:expire",
            created_at=uow.now,
        ),
        legs,
    )
    for lot in lots:
        if lot.state == LotState.PENDING:
            balance.pending -= lot.remaining
        else:
            balance.available -= lot.remaining
        take(uow, tx, lot, lot.remaining, AllocationKind.EXPIRY)
    await uow.session.flush()
    return tx


async def members_with_releasable_lots(uow: UnitOfWork, limit: int = 1000) -> list[int]:
    return list(
        await uow.session.scalars(
            select(PointsLot.member_id)
            .where(
                PointsLot.state == LotState.PENDING.value,
                PointsLot.pending_until <= uow.now,
            )
            .group_by(PointsLot.member_id)
            .order_by(PointsLot.member_id)
            .limit(limit)
        )
    )


async def release_member_points(uow: UnitOfWork, member_id: int) -> PointsTransaction | None:
    """Make this member's pending lots past their return window spendable."""
    balance = await lock_balance(uow, member_id)
    lots = list(
        await uow.session.scalars(
            select(PointsLot)
            .where(
                PointsLot.member_id == member_id,
                PointsLot.state == LotState.PENDING.value,
                PointsLot.pending_until <= uow.now,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
            .execution_options(populate_existing=True)
        )
    )
    if not lots:
        return None
    return await release_lots(uow, balance, lots, caller="job:release-pending")


async def release_lots(
    uow: UnitOfWork,
    balance: MemberBalance,
    lots: list[PointsLot],
    *,
    caller: str,
    rule: str = "pending-release",
) -> PointsTransaction:
    """Move these pending lots of one member (balance locked by the caller) to available."""
    member_id = balance.member_id
    total = sum(lot.remaining for lot in lots)
    tx = await record(
        uow,
        PointsTransaction(
            member_id=member_id,
            kind=TxKind.RELEASE.value,
            source="SYSTEM",
            rule=rule,
            points=total,
            caller=caller,
            created_at=uow.now,
        ),
        [(Account.MEMBER_PENDING, member_id, -total), (Account.MEMBER_AVAILABLE, member_id, total)],
    )
    for lot in lots:
        lot.state = LotState.AVAILABLE.value
    balance.pending -= total
    balance.available += total
    repay_debt(uow, balance, tx, lots)
    await uow.session.flush()
    return tx
